// The probe's verdict on a device (probe/probe.h) as the slot's initial offload
// mode: packet-offload -> packet, crypto-offload -> crypto, software -> none, with
// the Decision (reason probe-verdict) carrying the probe's own words for why.
#pragma once

#include <cstdint>

#include "fallback/modes.h"
#include "probe/probe.h"

namespace sealnet::fallback {

struct ProbedDevice {
  SlotDevice device;  // capability = the verdict's mode
  Decision decision;  // what ModeBook::set_device records for it
};

OffloadMode mode_of(probe::Verdict v);

// Pure. `report` is one device of a ProbeReport (or a configured stand-in for
// one: ProbeOptions::overrides sets `overridden`, which the detail says).
ProbedDevice from_probe(uint8_t slot, const probe::DeviceReport& report, uint64_t now);

}  // namespace sealnet::fallback
