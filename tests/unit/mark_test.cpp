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
