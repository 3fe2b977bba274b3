#include <gtest/gtest.h>
#include <netinet/in.h>

#include "core/ip.h"

namespace sealnet {
namespace {

TEST(IpPrefix, ParsesAndClearsHostBits) {
  auto p = IpPrefix::parse("10.1.2.3/16");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->str(), "10.1.0.0/16");
  EXPECT_EQ(p->addr.family, AF_INET);
  auto q = IpPrefix::parse("fd00:1:2:3::5/64");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->str(), "fd00:1:2:3::/64");
  EXPECT_EQ(IpPrefix::parse("192.0.2.1")->len, 32);
  EXPECT_EQ(IpPrefix::parse("10.0.0.0/13")->str(), "10.0.0.0/13");
  EXPECT_EQ(IpPrefix::parse("10.15.255.255/13")->str(), "10.8.0.0/13");
}

TEST(IpPrefix, RejectsBadInput) {
  for (const char* bad : {"10.0.0.0/33", "10.0.0.0/", "10.0.0/8", "fd00::/129", "x", "10.0.0.0/8x"}) {
    auto p = IpPrefix::parse(bad);
    ASSERT_FALSE(p) << bad;
    EXPECT_EQ(p.error().err, 0);  // bad input, not a system error
    EXPECT_NE(p.error().message().find(bad), std::string::npos) << p.error().message();
  }
}

TEST(IpPrefix, ContainsAndOverlaps) {
  auto p = *IpPrefix::parse("10.1.0.0/16");
  EXPECT_TRUE(p.contains(*IpAddr::parse("10.1.200.3")));
  EXPECT_FALSE(p.contains(*IpAddr::parse("10.2.0.1")));
  EXPECT_FALSE(p.contains(*IpAddr::parse("::1")));
  EXPECT_TRUE(p.overlaps(*IpPrefix::parse("10.1.3.0/24")));
  EXPECT_TRUE(IpPrefix::parse("10.1.3.0/24")->overlaps(p));
  EXPECT_FALSE(p.overlaps(*IpPrefix::parse("10.2.0.0/16")));
}

}  // namespace
}  // namespace sealnet
