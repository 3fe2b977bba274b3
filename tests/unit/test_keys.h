// Key sets for unit tests: two AES-GCM keys (ids 1 and 2) of a made-up key file,
// parsed by keys::parse_key_file as the agent would.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "keys/keys.h"

namespace sealnet::unit {

inline const std::string kK1 = "1 rfc4106(gcm(aes)) 0x000102030405060708090a0b0c0d0e0f10111213 128\n";
inline const std::string kK2 = "2 rfc4106(gcm(aes)) 0x101112131415161718191a1b1c1d1e1f20212223 128\n";

inline keys::KeySet key_set(const std::string& text) {
  auto k = keys::parse_key_file(text, "keys");
  EXPECT_TRUE(k) << k.error().message();
  return k ? std::move(*k) : keys::KeySet{};
}

}  // namespace sealnet::unit
