#pragma once

// Shared by the offload unit tests (binding, reconciler) and the driver's: two
// test keys, a key set parsed from key-file text, and a peer at 10.0.0.<id>.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/ip.h"
#include "keys/keys.h"
#include "offload/binding.h"

namespace sealnet::offload::testing {

inline IpAddr ip(const char* s) { return *IpAddr::parse(s); }
inline IpPrefix pfx(const char* s) { return *IpPrefix::parse(s); }

inline keys::KeySet key_set(const std::string& text) {
  auto k = keys::parse_key_file(text, "keys");
  EXPECT_TRUE(k) << k.error().message();
  return k ? std::move(*k) : keys::KeySet{};
}
inline const std::string kK1 = "1 rfc4106(gcm(aes)) 0x000102030405060708090a0b0c0d0e0f10111213 128\n";
inline const std::string kK2 = "2 rfc4106(gcm(aes)) 0x101112131415161718191a1b1c1d1e1f20212223 128\n";

// A peer at 10.0.0.<id> holding `ks`, on its default slot 0.
inline PeerNode peer(uint16_t id, std::vector<uint8_t> ks = {1}) {
  PeerNode p;
  p.id = id;
  p.addr = ip(("10.0.0." + std::to_string(id)).c_str());
  p.keys = std::move(ks);
  return p;
}

}  // namespace sealnet::offload::testing
