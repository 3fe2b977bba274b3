#include "datapath/monitor/monitor.h"

#include <net/if.h>
#include <time.h>

#include <cerrno>
#include <charconv>
#include <cstdio>

#include "bpf/events.h"
#include "datapath/status/client.h"

namespace sealnet::monitor {

namespace {

uint64_t clock_ns(clockid_t c) {
  struct timespec ts {};
  clock_gettime(c, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

void print_stats(int stats_fd) {
  if (auto s = bpf::read_event_stats(stats_fd))
    std::fprintf(stderr, "sealnet monitor: datapath events since load: %llu sent, %llu lost (ring buffer full), "
                         "%llu cut by the rate limit\n",
                 static_cast<unsigned long long>(s->sent), static_cast<unsigned long long>(s->ringbuf_full),
                 static_cast<unsigned long long>(s->rate_limited));
}

}  // namespace

int monitor_main(const MonitorOptions& o, const volatile sig_atomic_t& stop) {
  auto pinned = bpf::open_pinned(o.bpffs_dir);
  if (!pinned) {
    std::fprintf(stderr, "sealnet monitor: %s\n", pinned.error().message().c_str());
    return pinned.error().err == ENOENT ? 2 : 1;
  }
  auto cfg = bpf::read_config(pinned->config.get());
  if (!cfg) {
    std::fprintf(stderr, "sealnet monitor: %s\n", cfg.error().message().c_str());
    return 1;
  }
  if (cfg->events == 0) {
    std::fprintf(stderr, "sealnet monitor: events are off in the agent's config: set `monitor: {drops: true, "
                         "flows: true}` there (docs/events.md); the agent applies it without a restart\n");
    return 1;
  }
  Filter filter;
  filter.drops = o.drops || !o.flows;
  filter.flows = o.flows || !o.drops;
  if (filter.drops && !(cfg->events & SEALNET_EV_F_DROPS))
    std::fprintf(stderr, "sealnet monitor: drop events are off in the agent's config (monitor.drops)\n");
  if (filter.flows && !(cfg->events & SEALNET_EV_F_FLOWS))
    std::fprintf(stderr, "sealnet monitor: flow records are off in the agent's config (monitor.flows)\n");

  Names names;
  names.local_node_id = cfg->local_node_id;
  if (auto slots = bpf::read_slots(pinned->devices.get(), pinned->devhash.get())) names.slot_ifindex = *slots;
  // Device names as this namespace knows them (run the monitor in the agent's).
  for (const auto& [slot, ifx] : names.slot_ifindex) {
    char buf[IF_NAMESIZE] = {};
    if (if_indextoname(ifx, buf)) names.devices[ifx] = buf;
  }
  auto st = status::fetch(o.endpoint);
  if (st) {
    for (const auto& p : st->peers) names.peers[p.id] = p.name;
    for (const auto& d : st->devices) {
      names.devices[static_cast<uint32_t>(d.ifindex)] = d.name;
      names.slot_generation[d.slot] = d.generation;
    }
  } else {
    std::fprintf(stderr, "sealnet monitor: no names from the agent's status (%s): peers by id, SPIs without "
                         "their generation\n",
                 st.error().message().c_str());
  }
  if (o.peer) {
    for (const auto& [id, name] : names.peers)
      if (name == *o.peer) filter.peer = id;
    uint32_t id = 0;
    auto [ptr, ec] = std::from_chars(o.peer->data(), o.peer->data() + o.peer->size(), id);
    if (!filter.peer && ec == std::errc() && ptr == o.peer->data() + o.peer->size()) filter.peer = id;
    if (!filter.peer) {
      std::fprintf(stderr, "sealnet monitor: --peer %s: no such peer in the agent's status\n", o.peer->c_str());
      return 1;
    }
  }

  // The records carry CLOCK_MONOTONIC; what waited in the buffer before we
  // started is skipped.
  const uint64_t start_mono = clock_ns(CLOCK_MONOTONIC);
  const uint64_t wall_offset = clock_ns(CLOCK_REALTIME) - start_mono;
  unsigned long names_miss = 0;
  auto reader = bpf::EventReader::from_fd(pinned->events.get(), [&](const sealnet_event& e) {
    if (e.ts_ns < start_mono || !wanted(e, filter)) return;
    if (!names.devices.contains(e.ifindex)) {
      char buf[IF_NAMESIZE] = {};
      if (if_indextoname(e.ifindex, buf)) names.devices[e.ifindex] = buf;
      else ++names_miss;
    }
    const uint64_t wall = e.ts_ns + wall_offset;
    const std::string line = o.json ? format_json(e, names, wall) : format_line(e, names, wall);
    std::fprintf(stdout, "%s\n", line.c_str());
    std::fflush(stdout);
  });
  if (!reader) {
    std::fprintf(stderr, "sealnet monitor: %s\n", reader.error().message().c_str());
    return 1;
  }
  std::fprintf(stderr, "sealnet monitor: attached to %s/%s (%s%s%s)\n", o.bpffs_dir.c_str(), bpf::kEventsMap,
               filter.drops ? "drops" : "", filter.drops && filter.flows ? ", " : "", filter.flows ? "flows" : "");
  while (!stop) {
    auto n = reader->poll(250);
    if (!n) {
      std::fprintf(stderr, "sealnet monitor: %s\n", n.error().message().c_str());
      return 1;
    }
  }
  print_stats(pinned->stats.get());
  return 0;
}

int audit_main(const std::string& endpoint, uint64_t since, bool json) {
  auto st = status::fetch(endpoint);
  if (!st) {
    std::fprintf(stderr, "sealnet audit: no agent status at %s: %s\n", endpoint.c_str(),
                 st.error().message().c_str());
    return 2;
  }
  const AuditReport r = audit(*st, since);
  const std::string out = json ? audit_json(r) + "\n" : audit_text(r);
  std::fputs(out.c_str(), stdout);
  return r.exit_code();
}

}  // namespace sealnet::monitor
