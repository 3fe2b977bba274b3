// core/text: numbers in decimal or 0x-hex, hex of non-secret bytes.
#include "core/text.h"

#include <gtest/gtest.h>

#include <type_traits>
#include <vector>

namespace sealnet {
namespace {

TEST(ParseUnsigned, DecimalAndHex) {
  EXPECT_EQ(parse_unsigned("0"), 0u);
  EXPECT_EQ(parse_unsigned("42"), 42u);
  EXPECT_EQ(parse_unsigned("0x2a"), 42u);
  EXPECT_EQ(parse_unsigned("0X2A"), 42u);
  EXPECT_EQ(parse_unsigned("010"), 10u);  // no octal
  EXPECT_EQ(parse_unsigned("18446744073709551615"), UINT64_MAX);
  EXPECT_EQ(parse_unsigned("0xffffffff", UINT32_MAX), 0xffffffffu);
}

TEST(ParseUnsigned, RefusesWhatIsNotAWholeNumber) {
  for (const char* t : {"", "0x", "-1", "+1", " 1", "1 ", "1a", "0x1g", "0b1", "18446744073709551616"})
    EXPECT_FALSE(parse_unsigned(t)) << t;
  EXPECT_FALSE(parse_unsigned("0x100000000", UINT32_MAX));
  EXPECT_FALSE(parse_unsigned("16", 15));
}

template <typename T>
concept Hexable = requires(const T& t) {
  hex(t);
};

TEST(Hex, LowerCaseTwoDigitsPerByte) {
  EXPECT_EQ(hex(std::vector<uint8_t>{}), "");
  EXPECT_EQ(hex(std::vector<uint8_t>{0x00, 0x0a, 0xff, 0x5e}), "000aff5e");
  // Secret buffers are refused at compile time.
  static_assert(Hexable<std::vector<uint8_t>>);
  static_assert(!Hexable<SecretBytes>);
}

}  // namespace
}  // namespace sealnet
