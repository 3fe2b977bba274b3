// How a ProbeReport is shown: JSON with a versioned, documented schema
// (docs/probe-json.md) for machines, a table for people.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "probe/probe.h"

namespace sealnet::probe {

nlohmann::ordered_json to_json(const ProbeReport& r);
nlohmann::ordered_json to_json(const DeviceReport& d);
nlohmann::ordered_json to_json(const TrialOutcome& t);

// The node facts, then one row per device with its reason under it.
std::string render_table(const ProbeReport& r);

}  // namespace sealnet::probe
