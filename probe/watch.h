// Keeping a ProbeReport true while devices come and go: each monitor event
// re-probes only the device it names (a resync re-probes all).
#pragma once

#include <functional>

#include "core/error.h"
#include "probe/monitor.h"
#include "probe/probe.h"

namespace sealnet::probe {

// Called once per event with the report already updated; `device` is the
// re-probed device, null for removed devices and resyncs.
using WatchHandler = std::function<void(const DeviceEvent&, const DeviceReport* device)>;

// Applies one event to the report (re-probing what it names) and reports it.
Status apply_event(ProbeKernel& kernel, ProbeReport& report, const ProbeOptions& opts,
                   const DeviceEvent& event, const WatchHandler& on_event);

// Polls the monitor for `seconds` (forever when 0) and applies every event.
Status watch(ProbeKernel& kernel, Monitor& monitor, ProbeReport& report, const ProbeOptions& opts,
             int seconds, const WatchHandler& on_event);

}  // namespace sealnet::probe
