// from_pod, from_host and to_wire through BPF_PROG_TEST_RUN, one table row per
// decision, with bpf_fib_lookup answering from real routes and neighbours in
// the node namespace of tests/host/bpf_topology.h.
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#include <optional>

#include "bpf/packet.h"
#include "bpf/programs.h"
#include "tests/host/bpf_topology.h"
#include "tests/traffic_classes.h"

namespace sealnet::bpf {
namespace {

using testing::cluster_config;
using testing::ip;
using testing::kSlotA;
using testing::kSlotB;

enum class Frame { Udp, Esp, Arp, BadIhl };

struct Case {
  const char* name;
  Program prog;
  const char* dev;  // ingress device (from_*) or egress uplink (to_wire)
  const char* src;
  const char* dst;
  int action;
  uint32_t mark;    // skb->mark afterwards (the programs only ever write it when encrypting)
  uint32_t metric;  // the one reason counted
  std::optional<uint32_t> fib_ret = std::nullopt;  // a BPF_FIB_LKUP_RET_* that must be counted too
  Frame frame = Frame::Udp;
  uint8_t ours = testing::kKey;
  uint8_t peer = testing::kKey;  // node 2's peer key
  bool fail_closed = true;
  bool encrypt_host = false;
  size_t payload = 64;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

constexpr uint32_t mark(uint32_t node, uint32_t key, uint32_t slot) {
  return (node << SEALNET_MARK_NODE_SHIFT) | (key << SEALNET_MARK_KEY_SHIFT) | SEALNET_MARK_MAGIC_ENCRYPT |
         (slot << SEALNET_MARK_SLOT_SHIFT);
}

constexpr auto Pod = Program::FromPod;
constexpr auto Host = Program::FromHost;
constexpr auto Wire = Program::ToWire;
constexpr int OK = TC_ACT_OK, SHOT = TC_ACT_SHOT;

const Case kCases[] = {
    // from_pod: where the packet goes decides whether and how it is encrypted.
    {"local_pod", Pod, "lxc0", "10.1.1.5", "10.1.1.9", OK, 0, SEALNET_M_LOCAL_PASS},
    {"remote_pod_via_A_offload_slot", Pod, "lxc0", "10.1.1.5", "10.1.2.7", OK, mark(2, 5, kSlotA),
     SEALNET_M_MARK_CRYPTO},
    {"remote_pod_via_B_software_slot", Pod, "lxc0", "10.1.1.5", "10.1.3.7", OK, mark(3, 5, kSlotB),
     SEALNET_M_MARK_SOFTWARE},
    {"non_cluster_destination", Pod, "lxc0", "10.1.1.5", "198.18.0.1", OK, 0, SEALNET_M_NON_CLUSTER_PASS},
    {"ipv6_inner_ipv4_outer", Pod, "lxc0", "fd01:1::5", "fd01:2::7", OK, mark(2, 5, kSlotA),
     SEALNET_M_MARK_CRYPTO},
    {"ipv6_outer", Pod, "lxc0", "fd01:1::5", "fd01:8::7", OK, mark(8, 5, kSlotA), SEALNET_M_MARK_CRYPTO},
    {"ipv6_local_pod", Pod, "lxc0", "fd01:1::5", "fd01:1::9", OK, 0, SEALNET_M_LOCAL_PASS},
    // A host entry inside another node's CIDR: the exact entry is the longest match.
    {"host_entry_beats_its_cidr", Pod, "lxc0", "10.1.1.5", "10.1.3.99", OK, mark(2, 5, kSlotA),
     SEALNET_M_MARK_CRYPTO},
    {"ipv6_host_entry_beats_its_cidr", Pod, "lxc0", "fd01:1::5", "fd01:8::99", OK, mark(2, 5, kSlotA),
     SEALNET_M_MARK_CRYPTO},
    {"pod_to_remote_node_address", Pod, "lxc0", "10.1.1.5", "198.51.100.3", OK, mark(3, 5, kSlotB),
     SEALNET_M_MARK_SOFTWARE},
    // FIB return codes: only a missing route or a refusal stops encryption.
    {"fib_no_neighbour_still_marks", Pod, "lxc0", "10.1.1.5", "10.1.4.7", OK, mark(4, 5, kSlotA),
     SEALNET_M_MARK_CRYPTO, BPF_FIB_LKUP_RET_NO_NEIGH},
    {"fib_frag_needed_still_marks", Pod, "lxc0", "10.1.1.5", "10.1.2.7", OK, mark(2, 5, kSlotA),
     SEALNET_M_MARK_CRYPTO, BPF_FIB_LKUP_RET_FRAG_NEEDED, Frame::Udp, 5, 5, true, false, 1600},
    {"fib_unreachable_drops", Pod, "lxc0", "10.1.1.5", "10.1.5.7", SHOT, 0, SEALNET_M_FIB_FAILED,
     BPF_FIB_LKUP_RET_UNREACHABLE},
    {"fib_blackhole_drops", Pod, "lxc0", "10.1.1.5", "10.1.6.7", SHOT, 0, SEALNET_M_FIB_FAILED,
     BPF_FIB_LKUP_RET_BLACKHOLE},
    {"fib_forwarding_disabled_drops", Pod, "lxc1", "10.1.1.5", "10.1.2.7", SHOT, 0, SEALNET_M_FIB_FAILED,
     BPF_FIB_LKUP_RET_FWD_DISABLED},
    {"egress_device_without_slot_drops", Pod, "lxc0", "10.1.1.5", "10.1.7.7", SHOT, 0,
     SEALNET_M_UNKNOWN_DEVICE, BPF_FIB_LKUP_RET_NO_NEIGH},
    {"node_not_in_nodes_map_drops", Pod, "lxc0", "10.1.1.5", "10.1.10.7", SHOT, 0, SEALNET_M_UNKNOWN_NODE},
    {"peer_without_key_drops", Pod, "lxc0", "10.1.1.5", "10.1.9.7", SHOT, 0, SEALNET_M_NO_KEY},
    {"peer_without_our_outer_family_drops", Pod, "lxc0", "10.1.1.5", "10.1.11.7", SHOT, 0,
     SEALNET_M_NODE_NO_ADDR},
    // Key choice across a rotation and the wrap from 15 to 1 (node 2's key varies).
    {"key_we_rotated_first", Pod, "lxc0", "10.1.1.5", "10.1.2.7", OK, mark(2, 5, kSlotA),
     SEALNET_M_MARK_CRYPTO, std::nullopt, Frame::Udp, 6, 5},
    {"key_peer_rotated_first", Pod, "lxc0", "10.1.1.5", "10.1.2.7", OK, mark(2, 5, kSlotA),
     SEALNET_M_MARK_CRYPTO, std::nullopt, Frame::Udp, 5, 6},
    {"key_we_wrapped_to_1", Pod, "lxc0", "10.1.1.5", "10.1.2.7", OK, mark(2, 15, kSlotA),
     SEALNET_M_MARK_CRYPTO, std::nullopt, Frame::Udp, 1, 15},
    {"key_peer_wrapped_to_1", Pod, "lxc0", "10.1.1.5", "10.1.2.7", OK, mark(2, 15, kSlotA),
     SEALNET_M_MARK_CRYPTO, std::nullopt, Frame::Udp, 15, 1},
    {"key_both_wrapped", Pod, "lxc0", "10.1.1.5", "10.1.2.7", OK, mark(2, 1, kSlotA), SEALNET_M_MARK_CRYPTO,
     std::nullopt, Frame::Udp, 1, 1},
    {"key_peer_has_none", Pod, "lxc0", "10.1.1.5", "10.1.2.7", SHOT, 0, SEALNET_M_NO_KEY, std::nullopt,
     Frame::Udp, 5, 0},
    // Frames the classifier does not judge, and frames it cannot read.
    {"arp_passes", Pod, "lxc0", "10.1.1.5", "10.1.2.7", OK, 0, SEALNET_M_NOT_IP, std::nullopt, Frame::Arp},
    {"malformed_ipv4_drops", Pod, "lxc0", "10.1.1.5", "10.1.2.7", SHOT, 0, SEALNET_M_MALFORMED, std::nullopt,
     Frame::BadIhl},
    {"wire_malformed_ipv4_drops", Wire, "upA", "10.1.1.5", "10.1.2.7", SHOT, 0, SEALNET_M_MALFORMED,
     std::nullopt, Frame::BadIhl},
    {"node_to_node_host_encryption_off", Pod, "lxc0", "192.0.2.1", "192.0.2.2", OK, 0, SEALNET_M_HOST_PASS},
    // from_host: what the agent routed to the host encryption device.
    {"host_to_remote_pod", Host, "snn0", "198.51.100.1", "10.1.3.7", OK, mark(3, 5, kSlotB),
     SEALNET_M_MARK_SOFTWARE},
    {"host_to_remote_node_encrypt_host_on", Host, "snn0", "192.0.2.1", "192.0.2.2", OK, mark(2, 5, kSlotA),
     SEALNET_M_MARK_CRYPTO, std::nullopt, Frame::Udp, 5, 5, true, true},
    {"host_to_remote_node_encrypt_host_off_drops", Host, "snn0", "192.0.2.1", "192.0.2.2", SHOT, 0,
     SEALNET_M_HOST_MISROUTED},
    {"host_local_destination_drops", Host, "snn0", "192.0.2.1", "10.1.1.9", SHOT, 0, SEALNET_M_HOST_MISROUTED},
    {"host_non_cluster_drops", Host, "snn0", "192.0.2.1", "198.18.0.1", SHOT, 0, SEALNET_M_HOST_MISROUTED},
    {"host_ipv6_outer", Host, "snn0", "fd00:a::1", "fd01:8::7", OK, mark(8, 5, kSlotA), SEALNET_M_MARK_CRYPTO},
    // to_wire: the audit of what leaves through an uplink.
    {"wire_esp_on_crypto_device", Wire, "upA", "192.0.2.1", "192.0.2.2", OK, 0, SEALNET_M_WIRE_ESP_CRYPTO,
     std::nullopt, Frame::Esp},
    {"wire_esp_on_software_device", Wire, "upB", "198.51.100.1", "198.51.100.3", OK, 0,
     SEALNET_M_WIRE_ESP_SOFTWARE, std::nullopt, Frame::Esp},
    {"wire_plaintext_pod_to_remote_pod_fail_closed", Wire, "upA", "10.1.1.5", "10.1.2.7", SHOT, 0,
     SEALNET_M_WIRE_PLAINTEXT_DROPPED},
    {"wire_plaintext_ipv6_fail_closed", Wire, "upA", "fd01:1::5", "fd01:2::7", SHOT, 0,
     SEALNET_M_WIRE_PLAINTEXT_DROPPED},
    {"wire_plaintext_fail_open_passes", Wire, "upA", "10.1.1.5", "10.1.2.7", OK, 0,
     SEALNET_M_WIRE_PLAINTEXT_PASSED, std::nullopt, Frame::Udp, 5, 5, false},
    {"wire_host_to_host_encrypt_host_off", Wire, "upA", "192.0.2.1", "192.0.2.2", OK, 0,
     SEALNET_M_WIRE_HOST_PASS},
    {"wire_host_to_host_encrypt_host_on_drops", Wire, "upA", "192.0.2.1", "192.0.2.2", SHOT, 0,
     SEALNET_M_WIRE_PLAINTEXT_DROPPED, std::nullopt, Frame::Udp, 5, 5, true, true},
    {"wire_host_to_remote_pod_drops", Wire, "upB", "198.51.100.1", "10.1.3.7", SHOT, 0,
     SEALNET_M_WIRE_PLAINTEXT_DROPPED},
    {"wire_non_cluster_passes", Wire, "upA", "10.1.1.5", "198.18.0.1", OK, 0, SEALNET_M_WIRE_OTHER},
    // The audit judges by destination (docs/traffic-classes.md): plaintext for a
    // remote pod is dropped whatever its source, the node's own address, a
    // secondary one, the link-local pod gateway, another device's address, an
    // address the node does not have (a raw socket), another node's pod.
    {"wire_secondary_address_to_remote_pod_drops", Wire, "upA", "192.0.2.51", "10.1.2.7", SHOT, 0,
     SEALNET_M_WIRE_PLAINTEXT_DROPPED},
    {"wire_link_local_gateway_to_remote_pod_drops", Wire, "upA", "169.254.1.1", "10.1.2.7", SHOT, 0,
     SEALNET_M_WIRE_PLAINTEXT_DROPPED},
    {"wire_other_device_address_to_remote_pod_drops", Wire, "upA", "203.0.113.1", "10.1.2.7", SHOT, 0,
     SEALNET_M_WIRE_PLAINTEXT_DROPPED},
    {"wire_foreign_source_to_remote_pod_drops", Wire, "upA", "198.18.5.5", "10.1.2.7", SHOT, 0,
     SEALNET_M_WIRE_PLAINTEXT_DROPPED},
    {"wire_remote_pod_source_to_remote_pod_drops", Wire, "upA", "10.1.2.7", "10.1.3.7", SHOT, 0,
     SEALNET_M_WIRE_PLAINTEXT_DROPPED},
    {"wire_host_entry_in_remote_cidr_drops", Wire, "upA", "192.0.2.51", "10.1.3.99", SHOT, 0,
     SEALNET_M_WIRE_PLAINTEXT_DROPPED},
    {"wire_ipv6_node_address_to_remote_pod_drops", Wire, "upA", "fd00:a::1", "fd01:2::7", SHOT, 0,
     SEALNET_M_WIRE_PLAINTEXT_DROPPED},
    {"wire_ipv6_link_local_to_remote_pod_drops", Wire, "upA", "fe80::1", "fd01:2::7", SHOT, 0,
     SEALNET_M_WIRE_PLAINTEXT_DROPPED},
    {"wire_ipv6_foreign_source_to_remote_pod_drops", Wire, "upA", "2001:db8::5", "fd01:8::7", SHOT, 0,
     SEALNET_M_WIRE_PLAINTEXT_DROPPED},
    {"wire_foreign_source_fail_open_passes", Wire, "upA", "169.254.1.1", "10.1.2.7", OK, 0,
     SEALNET_M_WIRE_PLAINTEXT_PASSED, std::nullopt, Frame::Udp, 5, 5, false},
    // To a remote node's own address: pod traffic must be ESP; host traffic (any
    // source that is no pod's) passes by the host rule while host encryption is off.
    {"wire_pod_to_remote_node_drops", Wire, "upB", "10.1.1.5", "198.51.100.3", SHOT, 0,
     SEALNET_M_WIRE_PLAINTEXT_DROPPED},
    {"wire_remote_pod_to_remote_node_drops", Wire, "upA", "10.1.3.7", "192.0.2.2", SHOT, 0,
     SEALNET_M_WIRE_PLAINTEXT_DROPPED},
    {"wire_secondary_address_to_remote_node_host_pass", Wire, "upA", "192.0.2.51", "192.0.2.2", OK, 0,
     SEALNET_M_WIRE_HOST_PASS},
    {"wire_link_local_gateway_to_remote_node_host_pass", Wire, "upA", "169.254.1.1", "192.0.2.2", OK, 0,
     SEALNET_M_WIRE_HOST_PASS},
    {"wire_ipv6_link_local_to_remote_node_host_pass", Wire, "upA", "fe80::1", "fd00:a::2", OK, 0,
     SEALNET_M_WIRE_HOST_PASS},
    {"wire_secondary_address_to_remote_node_encrypt_host_on_drops", Wire, "upA", "192.0.2.51", "192.0.2.2",
     SHOT, 0, SEALNET_M_WIRE_PLAINTEXT_DROPPED, std::nullopt, Frame::Udp, 5, 5, true, true},
    {"wire_esp_from_secondary_address_counted", Wire, "upA", "192.0.2.51", "192.0.2.2", OK, 0,
     SEALNET_M_WIRE_ESP_CRYPTO, std::nullopt, Frame::Esp, 5, 5, true, true},
    // Same-node and non-cluster destinations are not the audit's, whatever the source.
    {"wire_foreign_source_to_local_pod_passes", Wire, "upA", "169.254.1.1", "10.1.1.9", OK, 0,
     SEALNET_M_WIRE_OTHER},
    {"wire_remote_pod_to_local_node_passes", Wire, "upA", "10.1.2.7", "192.0.2.1", OK, 0, SEALNET_M_WIRE_OTHER},
    {"wire_secondary_address_to_non_cluster_passes", Wire, "upA", "192.0.2.51", "198.18.0.1", OK, 0,
     SEALNET_M_WIRE_OTHER},
};

std::vector<uint8_t> frame_of(const Case& c) {
  PacketBuilder b;
  b.ip(ip(c.src), ip(c.dst));
  switch (c.frame) {
    case Frame::Udp: return b.udp(4000, 5000).payload(c.payload).build();
    case Frame::Esp: return b.esp(0x100, 1).payload(c.payload).build();
    case Frame::Arp: return b.ethertype(0x0806).payload(28).build();
    case Frame::BadIhl: {
      // BPF_PROG_TEST_RUN refuses frames shorter than their IPv4 header, so the
      // malformed case is a header length below the minimum of 5 words.
      auto f = b.udp(4000, 5000).build();
      f[14] = 0x44;
      return f;
    }
  }
  return {};
}

// One cluster per process: ctest runs each row in a process of its own, a
// direct run of the binary shares it between rows.
class Classify : public ::testing::TestWithParam<Case> {
 protected:
  static void SetUpTestSuite() { cluster_ = new testing::BpfCluster; }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  static testing::BpfCluster* cluster_;
};
testing::BpfCluster* Classify::cluster_ = nullptr;

TEST_P(Classify, Decides) {
  const Case& c = GetParam();
  const auto& cluster = *cluster_;
  // Programs and maps are not bound to a namespace, but BPF_PROG_TEST_RUN finds
  // the context's device, and bpf_fib_lookup its routes, in the caller's one.
  auto in_node = cluster.node().enter();
  auto dp = Datapath::load({});
  ASSERT_TRUE(dp) << dp.error().message();
  cluster.populate(*dp);
  ASSERT_FALSE(HasFailure());
  ASSERT_TRUE(dp->set_config(cluster_config(c.ours, c.fail_closed, c.encrypt_host)));
  ASSERT_TRUE(dp->upsert_node(2, testing::node_v4("192.0.2.2", c.peer)));

  auto before = dp->metrics();
  ASSERT_TRUE(before) << before.error().message();
  const auto frame = frame_of(c);
  auto run = test_run(dp->prog_fd(c.prog), {.packet = frame, .ifindex = cluster.ifindex(c.dev), .mark = 0, .repeat = 1});
  ASSERT_TRUE(run) << run.error().message();
  auto after = dp->metrics();
  ASSERT_TRUE(after) << after.error().message();

  EXPECT_EQ(run->action, c.action);
  EXPECT_EQ(run->mark, c.mark) << std::hex << "got 0x" << run->mark << " want 0x" << c.mark;
  // Exactly one reason counted, and it is the expected one.
  for (uint32_t m = 0; m < SEALNET_M_FIB_RET_BASE; ++m) {
    const uint64_t delta = (*after)[m].packets - (*before)[m].packets;
    EXPECT_EQ(delta, m == c.metric ? 1u : 0u) << metric_name(m);
  }
  for (uint32_t rc = 0; rc < SEALNET_M_COUNT - SEALNET_M_FIB_RET_BASE; ++rc) {
    const uint32_t m = SEALNET_M_FIB_RET_BASE + rc;
    const uint64_t delta = (*after)[m].packets - (*before)[m].packets;
    EXPECT_EQ(delta, c.fib_ret == rc ? 1u : 0u) << metric_name(m);
  }
  EXPECT_EQ((*after)[c.metric].bytes - (*before)[c.metric].bytes, frame.size());
}

INSTANTIATE_TEST_SUITE_P(Table, Classify, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& i) { return std::string(i.param.name); });

// docs/traffic-classes.md, the shared table (tests/traffic_classes.h), through
// the programs: the classifier the row names gives its verdict and mark, and
// to_wire judges the row's plaintext as the row says, in both families and
// with every encrypt_host setting the row holds for. Node 2 is the peer: its
// mark names upA's slot, a crypto device.
class TrafficClasses : public ::testing::TestWithParam<testing::TrafficClass> {
 protected:
  static void SetUpTestSuite() { cluster_ = new testing::BpfCluster; }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  static testing::BpfCluster* cluster_;
};
testing::BpfCluster* TrafficClasses::cluster_ = nullptr;

TEST_P(TrafficClasses, BpfAgreesWithTheTable) {
  using testing::Classifier;
  using testing::Verdict;
  using testing::WireVerdict;
  const testing::TrafficClass& c = GetParam();
  auto in_node = cluster_->node().enter();
  auto dp = Datapath::load({});
  ASSERT_TRUE(dp) << dp.error().message();
  cluster_->populate(*dp);
  ASSERT_FALSE(HasFailure());
  for (bool on : {false, true}) {
    if (!testing::applies(c, on)) continue;
    ASSERT_TRUE(dp->set_config(cluster_config(testing::kKey, true, on)));
    for (bool v6 : {false, true}) {
      SCOPED_TRACE(std::string(v6 ? "IPv6" : "IPv4") + (on ? ", encrypt_host on" : ", encrypt_host off"));
      const auto frame = PacketBuilder()
                             .ip(ip(testing::address(c.src, v6)), ip(testing::address(c.dst, v6, true)))
                             .udp(4000, 5000)
                             .payload(64)
                             .build();
      auto run = [&](Program p, const char* dev) -> std::pair<TestRun, uint32_t> {
        auto before = dp->metrics();
        auto r = test_run(dp->prog_fd(p), {.packet = frame, .ifindex = cluster_->ifindex(dev), .mark = 0, .repeat = 1});
        auto after = dp->metrics();
        EXPECT_TRUE(r && before && after);
        uint32_t counted = SEALNET_M_COUNT;
        if (before && after)
          for (uint32_t m = 0; m < SEALNET_M_FIB_RET_BASE; ++m)
            if ((*after)[m].packets != (*before)[m].packets) {
              EXPECT_EQ(counted, SEALNET_M_COUNT) << "more than one reason counted";
              counted = m;
            }
        return {r ? *r : TestRun{}, counted};
      };
      if (c.classifier != Classifier::None) {
        const bool pod = c.classifier == Classifier::FromPod;
        auto [r, reason] = run(pod ? Program::FromPod : Program::FromHost, pod ? "lxc0" : "snn0");
        const uint32_t want = c.verdict == Verdict::Mark        ? SEALNET_M_MARK_CRYPTO
                              : c.verdict == Verdict::LocalPass ? SEALNET_M_LOCAL_PASS
                                                                : SEALNET_M_NON_CLUSTER_PASS;
        EXPECT_EQ(metric_name(reason), metric_name(want));
        EXPECT_EQ(r.action, TC_ACT_OK);
        EXPECT_EQ(r.mark, c.mark ? mark(2, testing::kKey, kSlotA) : 0u) << std::hex << r.mark;
      }
      auto [w, wreason] = run(Program::ToWire, "upA");
      const uint32_t want = c.wire == WireVerdict::PlaintextToRemote ? SEALNET_M_WIRE_PLAINTEXT_DROPPED
                            : c.wire == WireVerdict::WireHostPass    ? SEALNET_M_WIRE_HOST_PASS
                                                                     : SEALNET_M_WIRE_OTHER;
      EXPECT_EQ(metric_name(wreason), metric_name(want));
      EXPECT_EQ(w.action, want == SEALNET_M_WIRE_PLAINTEXT_DROPPED ? TC_ACT_SHOT : TC_ACT_OK);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Table, TrafficClasses, ::testing::ValuesIn(testing::kTrafficClasses),
                         [](const ::testing::TestParamInfo<testing::TrafficClass>& i) {
                           std::string n(i.param.name);
                           for (char& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace sealnet::bpf
