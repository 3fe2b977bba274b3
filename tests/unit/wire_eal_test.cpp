// The DPDK layer's pure pieces: the EAL command line (the one verified to work
// without hugepages) and the vdev strings; no EAL is started here.
#include <gtest/gtest.h>

#include <algorithm>

#include "bench/wire/dpdk.h"

namespace sealnet::wire::dpdk {
namespace {

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::ranges::find(v, s) != v.end();
}

TEST(WireEal, RunsWithoutHugepagesPciOrSharedConfig) {
  const auto a = eal_arguments(
      {"capture-7", {"net_af_packet0,iface=wb,qpairs=1", "crypto_aesni_gcm0"}, {0, 1}, 256, false});
  for (const char* flag :
       {"--no-huge", "--no-pci", "--no-shconf", "--no-telemetry", "--file-prefix=capture-7",
        "--lcores=0@(0,1)", "--vdev=net_af_packet0,iface=wb,qpairs=1", "--vdev=crypto_aesni_gcm0"})
    EXPECT_TRUE(has(a, flag)) << flag;
  EXPECT_FALSE(has(a, "--in-memory")) << "docs/kernel-facts.md: --in-memory does not start here";
  const auto m = std::ranges::find(a, "-m");
  ASSERT_NE(m, a.end());
  EXPECT_EQ(*(m + 1), "256");
  EXPECT_TRUE(has(eal_arguments({"x", {}, {}, 64, false}), "--lcores=0@(0)"));
}

TEST(WireEal, VdevsAndNames) {
  EXPECT_EQ(port_vdev(Driver::AfPacket, "veth1"), "net_af_packet0,iface=veth1,qpairs=1,framecnt=4096");
  EXPECT_EQ(port_vdev(Driver::AfXdp, "veth1"), "net_af_xdp0,iface=veth1,start_queue=0,queue_count=1");
  EXPECT_EQ(port_name(Driver::AfXdp), "net_af_xdp0");
  EXPECT_EQ(engine_vdev(CryptoEngine::AesniGcm), "crypto_aesni_gcm0");
  EXPECT_EQ(engine_vdev(CryptoEngine::OpenSsl), "crypto_openssl0");
  EXPECT_EQ(parse_driver("af_xdp"), Driver::AfXdp);
  EXPECT_FALSE(parse_driver("pcap"));
  EXPECT_EQ(parse_engine("openssl"), CryptoEngine::OpenSsl);
  EXPECT_FALSE(parse_engine("qat"));
}

}  // namespace
}  // namespace sealnet::wire::dpdk
