// The mark layout of bpf/shared.h, as the XFRM side will read it.
#include <gtest/gtest.h>

#include "bpf/shared.h"

TEST(Mark, EncryptMarkPacksNodeKeyAndSlot) {
  const __u32 m = sealnet_mark_encrypt(0x1234, 5, 3);
  EXPECT_EQ(m, 0x12345E30u);
  EXPECT_EQ((m & SEALNET_MARK_NODE_MASK) >> SEALNET_MARK_NODE_SHIFT, 0x1234u);
  EXPECT_EQ((m & SEALNET_MARK_KEY_MASK) >> SEALNET_MARK_KEY_SHIFT, 5u);
  EXPECT_EQ(m & SEALNET_MARK_MAGIC_MASK, SEALNET_MARK_MAGIC_ENCRYPT);
  EXPECT_EQ((m & SEALNET_MARK_SLOT_MASK) >> SEALNET_MARK_SLOT_SHIFT, 3u);
  EXPECT_EQ(m & ~SEALNET_MARK_POLICY_MASK, 0u);
}

TEST(Mark, EncryptedMarkCarriesOnlyTheSlot) {
  EXPECT_EQ(sealnet_mark_encrypted(15), 0xDF0u);
  EXPECT_NE(sealnet_mark_encrypted(1) & SEALNET_MARK_MAGIC_MASK, SEALNET_MARK_MAGIC_ENCRYPT);
}

// The key-id ring of bpf/shared.h: 1..15, wrapping to 1, "newer" by serial
// number arithmetic, the older of ours and the peer's is the one sent with.
TEST(KeyRing, NextWrapsFrom15To1) {
  EXPECT_EQ(sealnet_key_next(1), 2u);
  EXPECT_EQ(sealnet_key_next(14), 15u);
  EXPECT_EQ(sealnet_key_next(15), 1u);
}

TEST(KeyRing, AheadCountsRotationsAroundTheRing) {
  EXPECT_EQ(sealnet_key_ahead(5, 5), 0u);
  EXPECT_EQ(sealnet_key_ahead(6, 5), 1u);
  EXPECT_EQ(sealnet_key_ahead(1, 15), 1u);   // 15 -> 1 is one rotation
  EXPECT_EQ(sealnet_key_ahead(15, 1), 14u);  // i.e. one rotation behind
  EXPECT_EQ(sealnet_key_ahead(3, 10), 8u);
}

TEST(KeyRing, ValidIdsAreOneToFifteen) {
  EXPECT_FALSE(sealnet_key_valid(0));
  EXPECT_TRUE(sealnet_key_valid(1));
  EXPECT_TRUE(sealnet_key_valid(15));
  EXPECT_FALSE(sealnet_key_valid(16));
}

struct KeyCase {
  __u32 ours, peers, want;
  const char* why;
};

class KeySelect : public ::testing::TestWithParam<KeyCase> {};

TEST_P(KeySelect, SendsWithTheOlderKey) {
  const auto& c = GetParam();
  EXPECT_EQ(sealnet_key_select(c.ours, c.peers), c.want) << c.why;
}

INSTANTIATE_TEST_SUITE_P(
    Rotation, KeySelect,
    ::testing::Values(
        KeyCase{5, 5, 5, "same key on both sides"},
        KeyCase{6, 5, 5, "we rotated first: the peer has not installed 6 yet"},
        KeyCase{5, 6, 5, "the peer rotated first: we have no SA for 6 yet"},
        KeyCase{1, 15, 15, "we wrapped to 1, the peer is still on 15"},
        KeyCase{15, 1, 15, "the peer wrapped to 1, we are still on 15"},
        KeyCase{2, 15, 15, "two rotations past the wrap"},
        KeyCase{8, 1, 1, "7 ahead is still newer"},
        KeyCase{9, 1, 9, "8 ahead reads as 7 behind: 9 is the older"},
        KeyCase{1, 8, 1, "7 behind is older"},
        KeyCase{5, 0, 0, "the peer has no key yet: nothing to send with"},
        KeyCase{0, 5, 0, "we have no key"},
        KeyCase{16, 5, 0, "out of the ring"},
        KeyCase{5, 16, 0, "out of the ring (peer)"}));

// Whatever the pair, the key chosen is one both sides have: ours or theirs.
TEST(KeyRing, SelectIsSymmetricAndPicksOneOfTheTwo) {
  for (__u32 a = 1; a <= 15; ++a) {
    for (__u32 b = 1; b <= 15; ++b) {
      const __u32 k = sealnet_key_select(a, b);
      EXPECT_EQ(k, sealnet_key_select(b, a)) << a << " " << b;
      EXPECT_TRUE(k == a || k == b) << a << " " << b;
    }
  }
}

TEST(Mark, KeyIdsFitTheMark) {
  const __u32 m = sealnet_mark_encrypt(SEALNET_MAX_NODE_ID, SEALNET_KEY_ID_MAX, SEALNET_MAX_SLOTS - 1);
  EXPECT_EQ(m, 0xFFFEFEF0u);  // node 0xFFFF is kept back
  EXPECT_EQ(m & ~SEALNET_MARK_POLICY_MASK, 0u);
}
