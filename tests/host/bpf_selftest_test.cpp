// The BPF object loads on the host kernel, its maps can be pinned and reused,
// and the wire audit behaves on real frames through BPF_PROG_TEST_RUN.
#include <gtest/gtest.h>
#include <linux/pkt_cls.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "bpf/packet.h"
#include "bpf/programs.h"
#include "tests/host/netns_fixture.h"

namespace sealnet::bpf {
namespace {

TEST(BpfSelfTest, EveryCasePasses) {
  auto cases = self_test();
  ASSERT_TRUE(cases) << cases.error().message();
  ASSERT_FALSE(cases->empty());
  for (const auto& c : *cases) {
    EXPECT_EQ(c.action, c.expected_action) << c.name;
    EXPECT_TRUE(c.counted) << c.name;
  }
}

// Pinned maps keep their contents across a reload: the state an agent restart
// must find again.
TEST(BpfPinning, MapsSurviveReload) {
  // A bpffs of the test's own, so the host's /sys/fs/bpf is not touched.
  char tmpl[] = "/tmp/sealnet-bpffs-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  ASSERT_EQ(::mount("bpf", dir.c_str(), "bpf", 0, "mode=0700"), 0) << std::strerror(errno);
  {
    auto dp = Datapath::load({.pin_dir = dir});
    ASSERT_TRUE(dp) << dp.error().message();
    ASSERT_TRUE(dp->upsert_node(7, {.ipv4 = {192, 0, 2, 7}, .ipv6 = {}, .peer_key_id = 3,
                                    .pad = 0, .flags = SEALNET_NODE_HAS_IPV4}));
    EXPECT_TRUE(std::filesystem::exists(dir + "/sealnet_nodes"));
  }
  {
    auto dp = Datapath::load({.pin_dir = dir});
    ASSERT_TRUE(dp) << dp.error().message();
    // Deleting succeeds only if the node is still there.
    EXPECT_TRUE(dp->delete_node(7));
    EXPECT_FALSE(dp->delete_node(7));
  }
  ::umount2(dir.c_str(), MNT_DETACH);
  ::rmdir(dir.c_str());
}

}  // namespace
}  // namespace sealnet::bpf
