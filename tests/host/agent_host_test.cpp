// `sealnet agent` on the host kernel, which has no ESP: it must refuse to start
// with the reason, and leave nothing behind in the namespace it was started in.
// (The agent at work is tested in the VM: datapath/vm_suite.sh.)
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "tests/host/netns_fixture.h"

namespace sealnet {
namespace {

std::string temp_dir() {
  char tmpl[] = "/tmp/sealnet-agent-test.XXXXXX";
  return ::mkdtemp(tmpl);
}

void write(const std::string& path, const std::string& text, mode_t mode = 0600) {
  std::ofstream(path) << text;
  ::chmod(path.c_str(), mode);
}

struct AgentFiles {
  std::string dir = temp_dir();
  std::string config = dir + "/agent.yaml";
  std::string keys = dir + "/keys";
  AgentFiles() {
    write(keys, "3+ rfc4106(gcm(aes)) 0x" + std::string(40, 'a') + " 128\n");
    write(config,
          "node: {name: a, id: 1, addresses: [192.0.2.1], pod_cidrs: [10.1.0.0/24]}\n"
          "peers: [{name: b, id: 2, addresses: [192.0.2.2], pod_cidrs: [10.2.0.0/24]}]\n"
          "keys: {file: " + keys + "}\n"
          "metrics: {listen: 127.0.0.1:9962}\n"
          "bpffs_dir: " + dir + "/bpf\n"
          "state_dir: " + dir + "/state\n");
  }
  ~AgentFiles() { testing::shell("umount " + dir + "/bpf 2>/dev/null; rm -rf " + dir); }
};

TEST(AgentHost, RefusesToStartWithoutEspAndLeavesNothing) {
  testing::TestNetns ns;
  AgentFiles f;
  auto r = ns.sh(std::string(SEALNET_CLI) + " agent --config " + f.config + " 2>&1");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("cannot encrypt"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("sealnet lab up --vm"), std::string::npos) << r.output;
  EXPECT_EQ(ns.must("ip xfrm state; ip xfrm policy"), "");
  EXPECT_EQ(ns.must("ip rule | grep -c 0x5ea0 || true"), "0\n");
  EXPECT_EQ(ns.must("tc qdisc show | grep -c clsact || true"), "0\n");
}

TEST(AgentHost, CheckValidatesWithoutTouchingAnything) {
  testing::TestNetns ns;
  AgentFiles f;
  auto r = ns.sh(std::string(SEALNET_CLI) + " agent --check --config " + f.config + " 2>&1");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("config ok: node a (id 1), 1 peer(s)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("key 3+ rfc4106(gcm(aes))"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("aaaa"), std::string::npos) << "key bytes printed: " << r.output;
  struct stat st{};
  EXPECT_NE(::stat((f.dir + "/bpf").c_str(), &st), 0) << "--check created the bpffs dir";
}

// encrypt_host: true on a node that lacks what from_host needs: refused with
// the sysctl to set, before anything is touched (not even the probe's trial SAs).
TEST(AgentHost, EncryptHostWithoutWhatFromHostNeedsIsRefusedWithTheSysctl) {
  testing::TestNetns ns;
  AgentFiles f;
  std::ofstream(f.config, std::ios::app) << "encrypt_host: true\n";
  const std::string run = std::string(SEALNET_CLI) + " agent --config " + f.config + " 2>&1";
  auto nothing_changed = [&] {
    struct stat st{};
    EXPECT_NE(::stat((f.dir + "/bpf").c_str(), &st), 0) << "the bpffs dir was made";
    EXPECT_NE(::stat((f.dir + "/state").c_str(), &st), 0) << "the state dir was made";
    EXPECT_EQ(ns.must("ip xfrm state; ip xfrm policy"), "");
    EXPECT_EQ(ns.must("tc qdisc show | grep -c clsact || true"), "0\n");
  };
  ns.must("sysctl -qw net.ipv4.ip_forward=0 net.ipv4.conf.all.rp_filter=0");
  auto r = ns.sh(run);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("set net.ipv4.ip_forward=1"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("nothing was changed"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("rp_filter"), std::string::npos) << r.output;
  nothing_changed();

  ns.must("sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=1");
  r = ns.sh(run);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("set net.ipv4.conf.all.rp_filter=0 or 2"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("ip_forward"), std::string::npos) << r.output;
  nothing_changed();

  // --check says the same and changes nothing either.
  r = ns.sh(std::string(SEALNET_CLI) + " agent --check --config " + f.config + " 2>&1");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("encrypt_host: net.ipv4.conf.all.rp_filter is 1"), std::string::npos) << r.output;
  nothing_changed();
}

TEST(AgentHost, ConfigErrorNamesFileLineAndField) {
  AgentFiles f;
  write(f.config,
        "node: {name: a, id: 1, addresses: [192.0.2.1]}\n"
        "peers:\n"
        "  - {name: b, id: 70000, addresses: [192.0.2.2]}\n"
        "keys: {file: " + f.keys + "}\n");
  auto r = testing::shell(std::string(SEALNET_CLI) + " agent --check --config " + f.config + " 2>&1");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find(f.config + ":3: peers[0].id"), std::string::npos) << r.output;
}

TEST(AgentHost, LooseKeyFilePermissionsAreRefused) {
  AgentFiles f;
  ::chmod(f.keys.c_str(), 0644);
  auto r = testing::shell(std::string(SEALNET_CLI) + " agent --check --config " + f.config + " 2>&1");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find(f.keys), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("aaaa"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace sealnet
