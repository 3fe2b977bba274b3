#include "probe/watch.h"

#include <chrono>

namespace sealnet::probe {

Status apply_event(ProbeKernel& kernel, ProbeReport& report, const ProbeOptions& opts,
                   const DeviceEvent& event, const WatchHandler& on_event) {
  using Kind = DeviceEvent::Kind;
  switch (event.kind) {
    case Kind::removed:
      report.remove(event.ifindex);
      on_event(event, nullptr);
      return {};
    case Kind::resync: {
      auto fresh = run_probe(kernel, opts);
      if (!fresh) return std::unexpected(fresh.error());
      report = std::move(*fresh);
      on_event(event, nullptr);
      return {};
    }
    default: {
      // Up and down re-probe too: a link going down flushes offloaded SAs, and
      // what a driver accepts may depend on its state.
      auto d = probe_device(kernel, event.ifindex, report.node, opts);
      if (!d) {
        // Gone again before we looked: the removal event follows.
        if (d.error().err == ENODEV) return {};
        return std::unexpected(d.error());
      }
      report.update(std::move(*d));
      on_event(event, report.find(event.ifindex));
      return {};
    }
  }
}

Status watch(ProbeKernel& kernel, Monitor& monitor, ProbeReport& report, const ProbeOptions& opts,
             int seconds, const WatchHandler& on_event) {
  using clock = std::chrono::steady_clock;
  const auto end = clock::now() + std::chrono::seconds(seconds);
  while (seconds == 0 || clock::now() < end) {
    auto events = monitor.poll(200);
    if (!events) return std::unexpected(events.error());
    for (const auto& e : *events)
      if (auto st = apply_event(kernel, report, opts, e, on_event); !st) return st;
  }
  return {};
}

}  // namespace sealnet::probe
