// core/secret.h: WipeOnExit zeroes the buffers it names on every way out of a
// scope, a list of messages included, and leaves their sizes alone.
#include "core/secret.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>

namespace sealnet {
namespace {

bool all_zero(const std::vector<uint8_t>& b) {
  return std::all_of(b.begin(), b.end(), [](uint8_t x) { return x == 0; });
}

TEST(WipeOnExit, WipesEveryNamedBufferAtScopeEnd) {
  std::vector<uint8_t> one(16, 0x5A);
  std::vector<std::vector<uint8_t>> list{std::vector<uint8_t>(8, 0x6B), std::vector<uint8_t>(40, 0x7C)};
  {
    const WipeOnExit wiped(one, list);
    EXPECT_FALSE(all_zero(one));
  }
  EXPECT_EQ(one.size(), 16u);
  EXPECT_TRUE(all_zero(one));
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[1].size(), 40u);
  EXPECT_TRUE(all_zero(list[0]));
  EXPECT_TRUE(all_zero(list[1]));
}

TEST(WipeOnExit, WipesWhenTheScopeIsLeftByAnException) {
  std::vector<uint8_t> one(16, 0x5A);
  try {
    const WipeOnExit wiped(one);
    throw std::runtime_error("leave");
  } catch (const std::runtime_error&) {
  }
  EXPECT_TRUE(all_zero(one));
}

}  // namespace
}  // namespace sealnet
