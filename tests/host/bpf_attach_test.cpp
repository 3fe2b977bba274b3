// The programs attached to real veths with TcAttachment, checked on real
// packets: from_pod and from_host mark them for the SA of their egress device,
// to_wire drops what leaves in plaintext, and the attachment removes only what
// it created, stays in force when told to, and is found again after a restart.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>

#include "bpf/programs.h"
#include "bpf/tc.h"
#include "bpf_mark_observer.skel.h"
#include "tests/host/bpf_topology.h"

namespace sealnet::bpf {
namespace {

using testing::BpfCluster;
using testing::shell;

uint32_t mark(uint32_t node, uint32_t key, uint32_t slot) { return sealnet_mark_encrypt(node, key, slot); }
// to_wire sits behind the observer on the uplinks.
constexpr TcFilterId kWireId{kTcHandle, 2};
constexpr TcFilterId kObserverId{1, 1};

// The mark observer on the uplinks of a cluster, detached with the object.
class MarkObserver {
 public:
  MarkObserver() : skel_(bpf_mark_observer__open_and_load()) {}
  ~MarkObserver() {
    attachments_.clear();
    bpf_mark_observer__destroy(skel_);
  }
  bool ok() const { return skel_ != nullptr; }
  void attach(int ifindex) {
    auto a = TcAttachment::attach(ifindex, TcHook::Egress, bpf_program__fd(skel_->progs.observe_mark), kObserverId);
    ASSERT_TRUE(a) << a.error().message();
    attachments_.push_back(std::move(*a));
  }
  uint64_t count(uint32_t m) const {
    uint64_t n = 0;
    bpf_map__lookup_elem(skel_->maps.seen_marks, &m, sizeof m, &n, sizeof n, 0);
    return n;
  }

 private:
  bpf_mark_observer* skel_;
  std::vector<TcAttachment> attachments_;
};

uint64_t packets(const Datapath& dp, uint32_t metric) {
  auto m = dp.metrics();
  EXPECT_TRUE(m) << m.error().message();
  return m ? (*m)[metric].packets : 0;
}

class BpfAttach : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(HasFailure()) << "building the namespaces failed";
    auto dp = Datapath::load({});
    ASSERT_TRUE(dp) << dp.error().message();
    dp_.emplace(std::move(*dp));
    in_node_.emplace(cluster_.node().enter());
    cluster_.populate(*dp_);
    ASSERT_TRUE(observer_.ok());
    for (const char* up : {"upA", "upB"}) {
      const int ifindex = static_cast<int>(cluster_.ifindex(up));
      observer_.attach(ifindex);
      auto a = TcAttachment::attach(ifindex, TcHook::Egress, dp_->prog_fd(Program::ToWire), kWireId);
      ASSERT_TRUE(a) << a.error().message();
      attachments_.push_back(std::move(*a));
    }
  }
  void TearDown() override { attachments_.clear(); }

  BpfCluster cluster_;
  std::optional<Datapath> dp_;
  std::optional<NetnsScope> in_node_;
  MarkObserver observer_;
  std::vector<TcAttachment> attachments_;
};

TEST_F(BpfAttach, PodTrafficIsMarkedForItsEgressDeviceAndPlaintextNeverLeaves) {
  auto from_pod = TcAttachment::attach(static_cast<int>(cluster_.ifindex("lxc0")), TcHook::Ingress,
                                       dp_->prog_fd(Program::FromPod));
  ASSERT_TRUE(from_pod) << from_pod.error().message();
  cluster_.peer_b().must("ip -6 addr add fd01:2::7/128 dev lo && ip -6 route add fd01:1::/64 via fd00:a::1");

  // Fail closed: with no XFRM policy for the mark (there are no ESP states on
  // this kernel) the marked packet is forwarded in plaintext, and to_wire
  // stops it at the uplink.
  EXPECT_NE(cluster_.pod().sh("ping -c 3 -i 0.2 -W 1 10.1.2.7").status, 0) << "plaintext crossed the wire";
  EXPECT_NE(cluster_.pod().sh("ping -c 2 -i 0.2 -W 1 10.1.3.7").status, 0) << "plaintext crossed the wire";
  EXPECT_NE(cluster_.pod().sh("ping -6 -c 2 -i 0.2 -W 1 fd01:2::7").status, 0) << "plaintext crossed the wire";
  EXPECT_EQ(observer_.count(mark(2, testing::kKey, testing::kSlotA)), 3u + 2u);  // IPv4 and IPv6 via upA
  EXPECT_EQ(observer_.count(mark(3, testing::kKey, testing::kSlotB)), 2u);      // via upB
  EXPECT_EQ(packets(*dp_, SEALNET_M_MARK_CRYPTO), 5u);
  EXPECT_EQ(packets(*dp_, SEALNET_M_MARK_SOFTWARE), 2u);
  EXPECT_EQ(packets(*dp_, SEALNET_M_WIRE_PLAINTEXT_DROPPED), 7u);

  // Fail closed off: the same packets cross and the peer answers.
  ASSERT_TRUE(dp_->set_config(testing::cluster_config(testing::kKey, false)));
  EXPECT_EQ(cluster_.pod().sh("ping -c 2 -i 0.2 -W 2 10.1.2.7").status, 0);
  EXPECT_EQ(packets(*dp_, SEALNET_M_WIRE_PLAINTEXT_PASSED), 2u);
}

TEST_F(BpfAttach, HostTrafficThroughTheEncryptionDeviceIsMarked) {
  auto from_host = TcAttachment::attach(static_cast<int>(cluster_.ifindex("snn0")), TcHook::Ingress,
                                        dp_->prog_fd(Program::FromHost));
  ASSERT_TRUE(from_host) << from_host.error().message();
  // What the agent would set up: locally generated traffic to remote pods goes
  // out of snh0 (rule on iif lo) and arrives on snn0, from where it is routed
  // as forwarded traffic by the main table.
  const std::string snn0_mac = cluster_.node().must("cat /sys/class/net/snn0/address").substr(0, 17);
  cluster_.node().must("ip route add 10.1.3.0/24 via 169.254.77.2 dev snh0 onlink src 198.51.100.1 table 77");
  cluster_.node().must("ip neigh replace 169.254.77.2 lladdr " + snn0_mac + " dev snh0 nud permanent");
  cluster_.node().must("ip rule add iif lo to 10.1.3.0/24 lookup 77");

  EXPECT_NE(cluster_.node().sh("ping -c 3 -i 0.2 -W 1 10.1.3.7").status, 0) << "plaintext crossed the wire";
  EXPECT_EQ(packets(*dp_, SEALNET_M_MARK_SOFTWARE), 3u);
  EXPECT_EQ(observer_.count(mark(3, testing::kKey, testing::kSlotB)), 3u);
  EXPECT_EQ(packets(*dp_, SEALNET_M_WIRE_PLAINTEXT_DROPPED), 3u);

  ASSERT_TRUE(dp_->set_config(testing::cluster_config(testing::kKey, false)));
  EXPECT_EQ(cluster_.node().sh("ping -c 2 -i 0.2 -W 2 10.1.3.7").status, 0);
}

// docs/traffic-classes.md: host traffic to a remote pod is marked whatever its
// source (the node address, a secondary address, the link-local pod gateway,
// another device's address): from_host decides by destination, on real packets
// routed through the host encryption device the way the agent will route them.
TEST_F(BpfAttach, HostTrafficToARemotePodIsMarkedFromEveryKindOfSource) {
  auto from_host = TcAttachment::attach(static_cast<int>(cluster_.ifindex("snn0")), TcHook::Ingress,
                                        dp_->prog_fd(Program::FromHost));
  ASSERT_TRUE(from_host) << from_host.error().message();
  const std::string snn0_mac = cluster_.node().must("cat /sys/class/net/snn0/address").substr(0, 17);
  cluster_.node().must("ip addr add 192.0.2.51/24 dev upA && ip addr add 169.254.1.1/32 dev lxc0");
  cluster_.node().must("ip route add 10.1.3.0/24 via 169.254.77.2 dev snh0 onlink src 198.51.100.1 table 77");
  cluster_.node().must("ip neigh replace 169.254.77.2 lladdr " + snn0_mac + " dev snh0 nud permanent");
  cluster_.node().must("ip rule add iif lo to 10.1.3.0/24 lookup 77");
  const char* sources[] = {"198.51.100.1", "192.0.2.51", "169.254.1.1", "203.0.113.1"};
  uint64_t sent = 0;
  for (const char* src : sources) {
    SCOPED_TRACE(src);
    EXPECT_NE(cluster_.node().sh(std::string("ping -c 2 -i 0.2 -W 1 -I ") + src + " 10.1.3.7").status, 0)
        << "plaintext crossed the wire";
    sent += 2;
    EXPECT_EQ(observer_.count(mark(3, testing::kKey, testing::kSlotB)), sent) << "not marked for node 3";
    EXPECT_EQ(packets(*dp_, SEALNET_M_MARK_SOFTWARE), sent);
    EXPECT_EQ(packets(*dp_, SEALNET_M_WIRE_PLAINTEXT_DROPPED), sent) << "no policy here: to_wire must stop it";
  }
}

TEST_F(BpfAttach, ReattachReplacesInPlaceAndDetachRemovesOnlyWhatItCreated) {
  const int lxc0 = static_cast<int>(cluster_.ifindex("lxc0"));
  {
    auto first = TcAttachment::attach(lxc0, TcHook::Ingress, dp_->prog_fd(Program::FromPod));
    ASSERT_TRUE(first) << first.error().message();
    EXPECT_TRUE(first->created_filter());
    EXPECT_TRUE(first->created_qdisc());
    // A second attach (an agent restarting) finds the qdisc (EEXIST) and our
    // filter, and replaces the program in place.
    auto second = TcAttachment::attach(lxc0, TcHook::Ingress, dp_->prog_fd(Program::FromHost));
    ASSERT_TRUE(second) << second.error().message();
    EXPECT_FALSE(second->created_filter());
    EXPECT_FALSE(second->created_qdisc());
    auto id = tc_query(lxc0, TcHook::Ingress);
    ASSERT_TRUE(id);
    EXPECT_EQ(*id, second->prog_id());
    EXPECT_NE(*id, first->prog_id());
    // Somebody else's filter on the same qdisc.
    auto foreign = TcAttachment::attach(lxc0, TcHook::Egress, dp_->prog_fd(Program::ToWire), {7, 7});
    ASSERT_TRUE(foreign);
    foreign->keep();
  }
  // Ours is gone; the foreign filter and therefore the qdisc stay.
  EXPECT_EQ(tc_query(lxc0, TcHook::Ingress).value_or(1), 0u);
  EXPECT_NE(tc_query(lxc0, TcHook::Egress, {7, 7}).value_or(0), 0u);
  EXPECT_NE(cluster_.node().must("tc qdisc show dev lxc0").find("clsact"), std::string::npos);

  // On a device whose qdisc we created and nothing else uses, detach removes both.
  auto a = TcAttachment::attach(static_cast<int>(cluster_.ifindex("lxc1")), TcHook::Ingress,
                                dp_->prog_fd(Program::FromPod));
  ASSERT_TRUE(a);
  ASSERT_TRUE(a->detach());
  EXPECT_EQ(cluster_.node().must("tc qdisc show dev lxc1").find("clsact"), std::string::npos);
  // A pre-existing qdisc is left alone.
  cluster_.node().must("tc qdisc add dev lxc1p clsact");
  auto b = TcAttachment::attach(static_cast<int>(cluster_.ifindex("lxc1p")), TcHook::Ingress,
                                dp_->prog_fd(Program::FromPod));
  ASSERT_TRUE(b);
  EXPECT_FALSE(b->created_qdisc());
  ASSERT_TRUE(b->detach());
  EXPECT_NE(cluster_.node().must("tc qdisc show dev lxc1p").find("clsact"), std::string::npos);
}

// A replace the kernel refuses (here: the fd is a map, not a program) leaves
// the program that was there attached, and an attach refused on a device
// without a qdisc leaves no qdisc behind.
TEST_F(BpfAttach, ARefusedReplaceLeavesThePreviousProgramAttached) {
  const int not_a_prog = bpf_map_create(BPF_MAP_TYPE_ARRAY, "not_a_prog", 4, 4, 1, nullptr);
  ASSERT_GE(not_a_prog, 0) << std::strerror(errno);
  const int lxc0 = static_cast<int>(cluster_.ifindex("lxc0"));
  auto first = TcAttachment::attach(lxc0, TcHook::Ingress, dp_->prog_fd(Program::FromPod));
  ASSERT_TRUE(first) << first.error().message();
  auto refused = TcAttachment::attach(lxc0, TcHook::Ingress, not_a_prog);
  ASSERT_FALSE(refused);
  EXPECT_EQ(tc_query(lxc0, TcHook::Ingress).value_or(0), first->prog_id()) << "the old program was detached";
  EXPECT_NE(cluster_.node().must("tc qdisc show dev lxc0").find("clsact"), std::string::npos);

  const int lxc1 = static_cast<int>(cluster_.ifindex("lxc1"));
  auto none = TcAttachment::attach(lxc1, TcHook::Ingress, not_a_prog);
  ASSERT_FALSE(none);
  EXPECT_EQ(cluster_.node().must("tc qdisc show dev lxc1").find("clsact"), std::string::npos);
  ::close(not_a_prog);
  ASSERT_TRUE(first->detach());
  EXPECT_EQ(tc_query(lxc0, TcHook::Ingress).value_or(1), 0u);
}

// Re-attaching by assignment (a = attach(same hook, new program)) keeps the new
// program attached: the old object must not detach the filter the new one
// replaced in place.
TEST_F(BpfAttach, AssigningAReattachmentKeepsTheNewProgram) {
  const int lxc0 = static_cast<int>(cluster_.ifindex("lxc0"));
  auto first = TcAttachment::attach(lxc0, TcHook::Ingress, dp_->prog_fd(Program::FromPod));
  ASSERT_TRUE(first) << first.error().message();
  TcAttachment a = std::move(*first);
  auto second = TcAttachment::attach(lxc0, TcHook::Ingress, dp_->prog_fd(Program::FromHost));
  ASSERT_TRUE(second) << second.error().message();
  const uint32_t new_prog = second->prog_id();
  a = std::move(*second);
  EXPECT_EQ(tc_query(lxc0, TcHook::Ingress).value_or(0), new_prog) << "the hook lost its program";
  EXPECT_TRUE(a.created_filter());
  EXPECT_TRUE(a.created_qdisc());
  ASSERT_TRUE(a.detach());
  EXPECT_EQ(tc_query(lxc0, TcHook::Ingress).value_or(1), 0u);
  EXPECT_EQ(cluster_.node().must("tc qdisc show dev lxc0").find("clsact"), std::string::npos);
}

// The agent stops (programs and maps closed, attachment kept), traffic stays
// encrypted-or-dropped; the next agent finds its maps and filter again.
TEST_F(BpfAttach, KeptAttachmentAndPinnedMapsOutliveTheAgent) {
  char tmpl[] = "/tmp/sealnet-bpffs-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  ASSERT_TRUE(ensure_bpffs(dir));
  ASSERT_TRUE(ensure_bpffs(dir)) << "a second call finds the mount";
  const int lxc0 = static_cast<int>(cluster_.ifindex("lxc0"));
  uint32_t prog_id = 0;
  {
    auto agent = Datapath::load({.pin_dir = dir});
    ASSERT_TRUE(agent) << agent.error().message();
    cluster_.populate(*agent);
    auto a = TcAttachment::attach(lxc0, TcHook::Ingress, agent->prog_fd(Program::FromPod));
    ASSERT_TRUE(a) << a.error().message();
    prog_id = a->prog_id();
    a->keep();
  }
  EXPECT_EQ(tc_query(lxc0, TcHook::Ingress).value_or(0), prog_id);
  EXPECT_NE(cluster_.pod().sh("ping -c 2 -i 0.2 -W 1 10.1.2.7").status, 0);
  EXPECT_EQ(observer_.count(mark(2, testing::kKey, testing::kSlotA)), 2u) << "the datapath lapsed with the agent";

  {
    auto agent = Datapath::load({.pin_dir = dir});
    ASSERT_TRUE(agent) << agent.error().message();
    auto node = agent->node(2);
    ASSERT_TRUE(node);
    EXPECT_TRUE(node->has_value()) << "pinned state did not survive";
    EXPECT_EQ(agent->config().value_or(sealnet_config{}).local_node_id, 1u);
    // The metrics kept counting while no agent ran.
    EXPECT_EQ(packets(*agent, SEALNET_M_MARK_CRYPTO), 2u);
    auto adopted = TcAttachment::adopt(lxc0, TcHook::Ingress);
    ASSERT_TRUE(adopted) << adopted.error().message();
    EXPECT_EQ(adopted->prog_id(), prog_id);
    ASSERT_TRUE(adopted->detach());
    EXPECT_EQ(tc_query(lxc0, TcHook::Ingress).value_or(1), 0u);
    auto none = TcAttachment::adopt(lxc0, TcHook::Ingress);
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().err, ENOENT);
  }
  ::umount2(dir.c_str(), MNT_DETACH);
  ::rmdir(dir.c_str());
}

TEST(BpfPinning, RefusesADirectoryThatIsNotBpffs) {
  char tmpl[] = "/tmp/sealnet-notbpffs-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  auto dp = Datapath::load({.pin_dir = tmpl});
  ASSERT_FALSE(dp);
  EXPECT_NE(dp.error().message().find("not a bpffs"), std::string::npos) << dp.error().message();
  ::rmdir(tmpl);
}


// A build that adds a metric reason grows sealnet_metrics and sealnet_ev_rate;
// the pins an older build left (fewer entries) do not fail the load, they are
// made afresh, and every other pin is reused.
TEST(BpfPinning, APinnedReasonMapOfAnOlderSizeIsMadeAfresh) {
  char tmpl[] = "/tmp/sealnet-bpffs-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  ASSERT_TRUE(ensure_bpffs(dir));
  {
    auto first = Datapath::load({.pin_dir = dir});
    ASSERT_TRUE(first) << first.error().message();
    ASSERT_TRUE(first->set_config(testing::cluster_config()));
  }
  for (const char* name : {"sealnet_metrics", "sealnet_ev_rate"}) {
    const std::string path = dir + "/" + name;
    ASSERT_EQ(::unlink(path.c_str()), 0);
    const int old = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, name, 4, 16, SEALNET_M_COUNT - 1, nullptr);
    ASSERT_GE(old, 0) << std::strerror(errno);
    ASSERT_EQ(bpf_obj_pin(old, path.c_str()), 0) << std::strerror(errno);
    ::close(old);
  }
  {
    auto next = Datapath::load({.pin_dir = dir});
    ASSERT_TRUE(next) << next.error().message();
    EXPECT_TRUE(next->metrics()) << "the metrics map of this build's size";
    EXPECT_EQ(next->config().value_or(sealnet_config{}).local_node_id, 1u) << "the other pins were not reused";
  }
  for (const char* name : {"sealnet_metrics", "sealnet_ev_rate"}) {
    const int fd = bpf_obj_get((dir + "/" + name).c_str());
    ASSERT_GE(fd, 0) << name;
    bpf_map_info info{};
    uint32_t len = sizeof info;
    ASSERT_EQ(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
    EXPECT_EQ(info.max_entries, static_cast<uint32_t>(SEALNET_M_COUNT)) << name;
    ::close(fd);
  }
  ::umount2(dir.c_str(), MNT_DETACH);
  ::rmdir(dir.c_str());
}

}  // namespace
}  // namespace sealnet::bpf
