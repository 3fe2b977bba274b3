#include <gtest/gtest.h>

#include <cerrno>

#include "core/error.h"

namespace sealnet {
namespace {

TEST(Error, MessageNamesOperationObjectAndReason) {
  Error e{ENOSPC, "XFRM_MSG_NEWSA", "spi 0x100 on eth1", "No space for SA in Rx table!"};
  EXPECT_EQ(e.message(),
            "XFRM_MSG_NEWSA spi 0x100 on eth1: No space left on device (No space for SA in Rx table!)");
  Error bad{0, "parse key file", "/etc/sealnet/keys:3", "field 2: unknown algorithm"};
  EXPECT_EQ(bad.message(), "parse key file /etc/sealnet/keys:3: field 2: unknown algorithm");
}

TEST(Error, FailBuildsUnexpected) {
  Result<int> r = fail(EPERM, "open");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().err, EPERM);
}

}  // namespace
}  // namespace sealnet
