// Shared by the wire harness unit tests: hex helpers and the test key.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/ip.h"
#include "core/text.h"

namespace sealnet::wire::testing {

inline std::vector<uint8_t> unhex(std::string_view h) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < h.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
  return out;
}

using sealnet::hex;

inline IpAddr ip4(const char* s) { return *IpAddr::parse(s); }

// AES-128 key 00..0f, salt 10 11 12 13: the key of the golden vectors, which
// tests/unit/wire_golden.py recomputes with Python's `cryptography`.
constexpr const char* kKeyLine = "3 rfc4106(gcm(aes)) 0x000102030405060708090a0b0c0d0e0f10111213 128\n";

}  // namespace sealnet::wire::testing
