// Text forms the tools and tests share: unsigned numbers written in decimal or
// 0x-hex, and the hex of bytes that are not secrets (SecretBytes is refused at
// compile time: no key byte reaches a log, a status or a file through this).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/secret.h"

namespace sealnet {

// "42" or "0x2a" (also "0X2A"); the whole text, no sign or blanks, at most `max`.
std::optional<uint64_t> parse_unsigned(std::string_view text, uint64_t max = UINT64_MAX);

// Lower-case hex, two digits per byte, no prefix: "0a1b".
std::string hex(std::span<const uint8_t> bytes);
std::string hex(const SecretBytes&) = delete;

}  // namespace sealnet
