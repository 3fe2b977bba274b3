#include <gtest/gtest.h>

#include "bpf/packet.h"

namespace sealnet::bpf {
namespace {

TEST(PacketBuilder, Ipv4UdpGoldenBytes) {
  auto f = PacketBuilder()
               .ip(*IpAddr::parse("10.0.0.1"), *IpAddr::parse("10.0.0.2"))
               .udp(0x1234, 0x5678)
               .payload(2)
               .build();
  const std::vector<uint8_t> want = {
      0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00,  // ethernet
      0x45, 0, 0, 30, 0, 1, 0x40, 0, 64, 17, 0x26, 0xcc,           // IPv4, checksum 0x26cc
      10, 0, 0, 1, 10, 0, 0, 2,                                    //
      0x12, 0x34, 0x56, 0x78, 0, 10, 0, 0,                         // UDP, length 10
      0, 1};                                                       // payload
  EXPECT_EQ(f, want);
}

TEST(PacketBuilder, Ipv6EspHeader) {
  auto f = PacketBuilder().ip(*IpAddr::parse("fd00::1"), *IpAddr::parse("fd00::2")).esp(0x100, 7).build();
  ASSERT_EQ(f.size(), 14u + 40u + 8u);
  EXPECT_EQ(f[12], 0x86);
  EXPECT_EQ(f[13], 0xDD);
  EXPECT_EQ(f[14 + 6], 50);  // next header: ESP
  EXPECT_EQ(f[14 + 5], 8);   // payload length
  EXPECT_EQ(f[14 + 40 + 2], 0x01);  // SPI 0x00000100
  EXPECT_EQ(f[14 + 40 + 7], 7);     // sequence number
}

}  // namespace
}  // namespace sealnet::bpf
