// sealnet-xfrm-driver (bench/driver/) on the host kernel, in a private namespace:
// from the agent's config and key file it installs what the host can hold (the
// policies, sealnet's rule and slot table copied from the main table); the host
// has no ESP, so the states are refused and reported. The states themselves and
// traffic are the VM's: offload/vm_suite.sh.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <string>

#include "tests/host/netns_fixture.h"

namespace sealnet {
namespace {

struct DriverFiles {
  std::string dir;
  std::string config, keys;
  DriverFiles() {
    char tmpl[] = "/tmp/sealnet-driver-test.XXXXXX";
    dir = ::mkdtemp(tmpl);
    config = dir + "/agent.yaml";
    keys = dir + "/keys";
    // Per-pair: the driver refuses shared AEAD keys as the agent does.
    write(keys, "1+ rfc4106(gcm(aes)) 0x" + std::string(40, 'b') + " 128\n");
    write(config,
          "node: a\n"
          "peers:\n"
          "  - {name: a, id: 1, addresses: [10.221.0.1], pod_cidrs: [10.230.1.0/24]}\n"
          "  - {name: b, id: 2, addresses: [10.221.0.2], pod_cidrs: [10.230.2.0/24], keys: [1]}\n"
          "keys: {file: " +
              keys +
              ", grace_period: 2s}\n"
              "uplinks: [eth0]\n");
  }
  ~DriverFiles() { testing::shell("rm -rf " + dir); }
  static void write(const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
    ::chmod(path.c_str(), 0600);
  }
};

// eth0 (10.221.0.1/24) with a route to b's pods through b.
void uplink(const testing::TestNetns& ns) {
  ns.must(
      "sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 && "
      "ip link add eth0 type veth peer name eth0p && ip addr add 10.221.0.1/24 dev eth0 && "
      "ip link set eth0 up && ip link set eth0p up && ip route add 10.230.2.0/24 via 10.221.0.2");
}

std::string driver(const DriverFiles& f, const std::string& extra = "") {
  return std::string(SEALNET_XFRM_DRIVER) + " run --config " + f.config + " --node a --once --trial none " +
         extra + " 2>&1";
}

TEST(XfrmDriverHost, InstallsPoliciesAndSlotRoutesFromTheAgentsConfig) {
  testing::TestNetns ns;
  uplink(ns);
  DriverFiles f;
  auto r = ns.sh(driver(f, "--status " + f.dir + "/status"));
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("uplink eth0: slot 0, software"), std::string::npos) << r.output;
  // No ESP on the host: the kernel refuses the states, the driver says so.
  EXPECT_NE(r.output.find("refused: NEWSA spi 0x00011000"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("bbbb"), std::string::npos) << "key bytes printed: " << r.output;
  // b's out policy (mark: node 2, key 1, slot 0) selects b's pod CIDR; in and fwd
  // select it as a source.
  const std::string pol = ns.must("ip xfrm policy");
  EXPECT_NE(pol.find("src 0.0.0.0/0 dst 10.230.2.0/24"), std::string::npos) << pol;
  EXPECT_NE(pol.find("mark 0x21e00/0xfffffff0"), std::string::npos) << pol;
  EXPECT_EQ(ns.must("ip xfrm policy | grep -c 'src 10.230.2.0/24 dst 0.0.0.0/0'"), "2\n") << pol;
  // The slot-0 rule and table: what main routes through eth0.
  EXPECT_EQ(ns.must("ip rule | grep -c '^24224:.*fwmark 0xd00/0xff0 lookup 24224'"), "1\n");
  EXPECT_EQ(ns.must("ip route show table 24224"),
            "10.221.0.0/24 dev eth0 proto 94 scope link \n10.230.2.0/24 via 10.221.0.2 dev eth0 proto 94 \n");
  std::ifstream st(f.dir + "/status");
  std::string status((std::istreambuf_iterator<char>(st)), {});
  EXPECT_NE(status.find("slot 0 dev eth0 mode none up 1"), std::string::npos) << status;
  EXPECT_NE(status.find("peer 2 tx-key 0"), std::string::npos) << status;  // no out state: no send key

  // Run again: the policies and routes are in place, nothing is sent for them.
  r = ns.sh(driver(f));
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("+0 ~0 -0 policies"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("slot routes:"), std::string::npos) << r.output;
}

TEST(XfrmDriverHost, RejectsABadConfigNamingFileLineAndField) {
  testing::TestNetns ns;
  uplink(ns);
  DriverFiles f;
  DriverFiles::write(f.config,
                     "node: a\npeers:\n  - {name: a, id: 1, addresses: [10.221.0.1]}\n"
                     "  - {name: b, id: 70000, addresses: [10.221.0.2]}\n");
  auto r = ns.sh(driver(f));
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("config rejected"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(f.config + ":4: peers[1].id"), std::string::npos) << r.output;
  EXPECT_EQ(ns.must("ip xfrm policy"), "");
}

}  // namespace
}  // namespace sealnet
