#include <gtest/gtest.h>

#include <cmath>

#include "bench/plan/plan.h"

namespace sealnet::plan {
namespace {

Assumptions base() {
  Assumptions a;
  a.cores = 4;
  a.nic_gbps = 25;
  a.peers = 100;
  a.mtu = 1500;
  return a;
}

TEST(Plan, SoftwareIsBoundByCoresAndTheOneCorePerSaRule) {
  Assumptions a = base();
  a.nic_gbps = 100;  // so the CPU, not the line, is the bound
  const double per_core = software_gbps_per_core(a, 1500);
  // (1500 - 57) * 8 bits / (1000 ns + 1500 * 8 / 17 ns)
  EXPECT_NEAR(per_core, 1443 * 8 / (1000 + 1500 * 8 / 17.0), 1e-9);
  auto p = plan_device({"eth0", Mode::software, "", 0}, a);
  EXPECT_NEAR(p.throughput_gbps, 4 * per_core, 1e-9);
  EXPECT_EQ(p.limit, "CPU (software ESP)");
  EXPECT_NEAR(p.cores_at_target, 4, 1e-9);
  a.peers = 2;  // two SAs: two cores at most
  p = plan_device({"eth0", Mode::software, "", 0}, a);
  EXPECT_NEAR(p.throughput_gbps, 2 * per_core, 1e-9);
  EXPECT_NE(p.limit.find("one core per peer"), std::string::npos);
}

TEST(Plan, PacketOffloadIsBoundByLineRateAndItsSaTable) {
  Assumptions a = base();
  auto p = plan_device({"eth1", Mode::packet_offload, "", 100}, a);
  EXPECT_NEAR(p.line_gbps, 100, 1e-9);  // the probe's speed wins over --nic-gbps
  EXPECT_NEAR(p.throughput_gbps, 100.0 * 1443 / 1538, 1e-9);
  EXPECT_EQ(p.limit, "line rate");
  EXPECT_EQ(p.offloaded_peers, 100);
  EXPECT_EQ(p.sa_needed, 400);
  EXPECT_NEAR(p.cores_at_target, 0, 1e-9);
  a.nic_sa_table = 200;  // 4 SAs per peer: 50 peers fit, 50 go software
  p = plan_device({"eth1", Mode::packet_offload, "", 100}, a);
  EXPECT_EQ(p.offloaded_peers, 50);
  EXPECT_NEAR(p.offloaded_share, 0.5, 1e-9);
  EXPECT_NEAR(p.throughput_gbps, 4 * software_gbps_per_core(a, 1500) / 0.5, 1e-9);
  EXPECT_NE(p.limit.find("SA table"), std::string::npos);
}

TEST(Plan, CryptoOffloadStillCostsCpuPerPacket) {
  Assumptions a = base();
  a.nic_gbps = 400;
  auto p = plan_device({"eth2", Mode::crypto_offload, "", 0}, a);
  EXPECT_NEAR(p.throughput_gbps, 4 * 1443 * 8 / 1000.0, 1e-9);
  EXPECT_EQ(p.limit, "CPU (ESP framing around the NIC's crypto)");
  a.target_gbps = 10;
  p = plan_device({"eth2", Mode::crypto_offload, "", 0}, a);
  EXPECT_NEAR(p.cores_at_target, 10 / (1443 * 8 / 1000.0), 1e-9);
}

TEST(Plan, UnknownLineRateIsSaidNotGuessed) {
  Assumptions a = base();
  a.nic_gbps = 0;
  auto p = plan_device({"eth0", Mode::packet_offload, "", 0}, a);
  EXPECT_TRUE(std::isinf(p.throughput_gbps));
  EXPECT_NE(p.limit.find("--nic-gbps"), std::string::npos);
}

TEST(Plan, ReadsProbeReportsAndRefusesOthers) {
  auto probe = nlohmann::json::parse(R"({"schema":"sealnet-probe","version":1,
    "node":{"can_encrypt":false,"esp":{"available":false,"reason":"no esp4"},"aes_gcm":{"available":true}},
    "devices":[
      {"name":"lo","kind":"loopback","up":true,"verdict":"software"},
      {"name":"eth0","kind":"physical","up":true,"speed_mbps":25000,"verdict":"crypto-offload","reason":"attached"},
      {"name":"eth1","kind":"physical","up":false,"verdict":"software"},
      {"name":"veth0","kind":"veth","up":true,"speed_mbps":null,"verdict":"software","reason":"no offload"}]})");
  auto devs = devices_from_probe(probe);
  ASSERT_TRUE(devs) << devs.error().message();
  ASSERT_EQ(devs->size(), 2u);
  EXPECT_EQ((*devs)[0].name, "eth0");
  EXPECT_EQ((*devs)[0].mode, Mode::crypto_offload);
  EXPECT_NEAR((*devs)[0].line_gbps, 25, 1e-9);
  EXPECT_EQ((*devs)[1].mode, Mode::software);
  EXPECT_EQ((*devs)[1].line_gbps, 0);
  EXPECT_NE(node_warning_from_probe(probe).find("no esp4"), std::string::npos);

  EXPECT_FALSE(devices_from_probe(nlohmann::json::parse(R"({"devices":[]})")));
  auto v2 = devices_from_probe(nlohmann::json::parse(R"({"schema":"sealnet-probe","version":2})"));
  ASSERT_FALSE(v2);
  EXPECT_NE(v2.error().message().find("version 2"), std::string::npos);
}

TEST(Plan, ReportHasTheTableAndTwoChartsWithAllModes) {
  auto plan = plan_node({{"eth0", Mode::crypto_offload, "attached", 25}, {"veth0", Mode::software, "", 0}}, base());
  auto r = render(plan);
  EXPECT_NE(r.markdown.find("| eth0 | crypto-offload | 25.0 |"), std::string::npos) << r.markdown;
  EXPECT_NE(r.markdown.find("| veth0 | software |"), std::string::npos);
  ASSERT_EQ(r.charts.size(), 2u);
  for (const auto& [name, svg] : r.charts) {
    EXPECT_NE(r.markdown.find("(" + name + ")"), std::string::npos) << name;
    EXPECT_EQ(svg.rfind("<svg", 0), 0u);
    EXPECT_NE(svg.find("</svg>"), std::string::npos);
    size_t lines = 0;
    for (size_t at = 0; (at = svg.find("<polyline", at)) != std::string::npos; ++at) ++lines;
    EXPECT_EQ(lines, 3u) << name;  // packet offload, crypto offload, software
    EXPECT_EQ(svg.find("nan"), std::string::npos) << name;
    EXPECT_EQ(svg.find("inf"), std::string::npos) << name;
  }
}

}  // namespace
}  // namespace sealnet::plan
