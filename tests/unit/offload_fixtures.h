// Shared by the offload unit tests (binding, reconciler) and the driver's: the
// test keys of tests/unit/test_keys.h, addresses, and a peer at 10.0.0.<id>.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/ip.h"
#include "offload/binding.h"
#include "tests/unit/test_keys.h"

namespace sealnet::offload::testing {

inline IpAddr ip(const char* s) { return *IpAddr::parse(s); }
inline IpPrefix pfx(const char* s) { return *IpPrefix::parse(s); }

// The test keys (tests/unit/test_keys.h).
using unit::key_set;
using unit::kK1;
using unit::kK2;

// A peer at 10.0.0.<id> holding `ks`, on its default slot 0.
inline PeerNode peer(uint16_t id, std::vector<uint8_t> ks = {1}) {
  PeerNode p;
  p.id = id;
  p.addr = ip(("10.0.0." + std::to_string(id)).c_str());
  p.keys = std::move(ks);
  return p;
}

}  // namespace sealnet::offload::testing
