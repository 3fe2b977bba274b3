// datapath/state_file: what the agent keeps across a reboot, under its state
// directory (config `state_dir`, default /var/lib/sealnet): per local slot the
// generation in use, per peer slot the base of the receive window
// (docs/xfrm-design.md, "Generations: never a blackhole, never a replay").
//
// The file is text, one fact a line, parsed strictly: a file that is there but
// does not parse is an error naming its line, never a silent start at 0 (that
// would re-use SPIs a peer has seen). Only an absent file means a first start.
//
//   # sealnet agent state: docs/xfrm-design.md "Generations"
//   version 1
//   node 1
//   slot 0 generation 5
//   peer 2 slot 0 generation 3
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"

namespace sealnet::agent {

inline constexpr const char* kStateFileName = "generations";

struct SavedState {
  uint16_t node = 0;
  std::map<uint8_t, uint8_t> slots;                      // local slot -> generation
  std::map<uint16_t, std::map<uint8_t, uint8_t>> peers;  // peer id -> peer slot -> window base
  bool operator==(const SavedState&) const = default;
};

std::string format_state(const SavedState& s);
// Pure. Errors: object "<source>:<line>", detail what is wrong.
Result<SavedState> parse_state(std::string_view text, const std::string& source);

// nullopt: the file does not exist (a first start). Any other failure is an error.
Result<std::optional<SavedState>> load_state(const std::string& path);
// Atomically: a temporary file beside it, fsync, rename over, fsync of the
// directory; on return the state survives a power cut.
Status save_state(const std::string& path, const SavedState& s);

}  // namespace sealnet::agent
