// The datapath's events (docs/events.md) through BPF_PROG_TEST_RUN in the
// cluster of tests/host/bpf_topology.h: a drop makes exactly one drop record
// with its fields, a flow's first packet one flow record and the next none,
// the per-reason rate limit cuts and counts, and off makes nothing.
#include <gtest/gtest.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>

#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "bpf/events.h"
#include "bpf/packet.h"
#include "bpf/programs.h"
#include "tests/host/bpf_topology.h"

namespace sealnet::bpf {
namespace {

using testing::ip;

class Events : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { cluster_ = new testing::BpfCluster; }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }

  // Fresh private maps per test, events set to `flags`.
  void load(uint8_t flags) {
    auto dp = Datapath::load({});
    ASSERT_TRUE(dp) << dp.error().message();
    dp_.emplace(std::move(*dp));
    cluster_->populate(*dp_);
    auto cfg = testing::cluster_config();
    cfg.events = flags;
    ASSERT_TRUE(dp_->set_config(cfg));
    auto r = EventReader::from_fd(dp_->events_fd(), [this](const sealnet_event& e) { got_.push_back(e); });
    ASSERT_TRUE(r) << r.error().message();
    reader_.emplace(std::move(*r));
  }

  int run(Program p, const char* dev, const char* src, const char* dst, uint32_t repeat = 1) {
    const auto frame = PacketBuilder().ip(ip(src), ip(dst)).udp(4000, 5000).payload(64).build();
    auto r = test_run(dp_->prog_fd(p), {.packet = frame, .ifindex = cluster_->ifindex(dev), .mark = 0,
                                        .repeat = repeat});
    EXPECT_TRUE(r) << r.error().message();
    return r ? r->action : -1;
  }

  std::vector<sealnet_event> take() {
    auto n = reader_->drain();
    EXPECT_TRUE(n) << n.error().message();
    return std::exchange(got_, {});
  }

  sealnet_ev_stats stats() {
    auto s = read_event_stats(dp_->event_stats_fd());
    EXPECT_TRUE(s) << s.error().message();
    return s.value_or(sealnet_ev_stats{});
  }

  static testing::BpfCluster* cluster_;
  std::optional<Datapath> dp_;
  std::optional<EventReader> reader_;
  std::vector<sealnet_event> got_;
};
testing::BpfCluster* Events::cluster_ = nullptr;

uint32_t v4(const char* s) {
  uint32_t a;
  std::memcpy(&a, ip(s).bytes.data(), 4);
  return a;
}

TEST_F(Events, DropMakesOneRecordWithItsFields) {
  auto in_node = cluster_->node().enter();
  ASSERT_NO_FATAL_FAILURE(load(SEALNET_EV_F_DROPS));
  // Node 9 has no key in common with us yet: dropped.
  EXPECT_EQ(run(Program::FromPod, "lxc0", "10.1.1.5", "10.1.9.7"), TC_ACT_SHOT);
  const auto ev = take();
  ASSERT_EQ(ev.size(), 1u);
  const auto& e = ev[0];
  EXPECT_EQ(e.kind, SEALNET_EV_DROP);
  EXPECT_EQ(e.program, SEALNET_EV_FROM_POD);
  EXPECT_EQ(e.reason, static_cast<uint32_t>(SEALNET_M_NO_KEY));
  EXPECT_EQ(e.ifindex, cluster_->ifindex("lxc0"));
  EXPECT_EQ(e.family, AF_INET);
  EXPECT_EQ(e.protocol, IPPROTO_UDP);
  EXPECT_EQ(e.saddr[0], v4("10.1.1.5"));
  EXPECT_EQ(e.daddr[0], v4("10.1.9.7"));
  EXPECT_EQ(e.sport, 4000);
  EXPECT_EQ(e.dport, 5000);
  EXPECT_EQ(e.peer_node_id, 9u);
  EXPECT_EQ(e.key_id, 0);  // no key both hold
  EXPECT_EQ(e.slot, SEALNET_EV_NONE);
  EXPECT_GT(e.ts_ns, 0u);
  EXPECT_EQ(stats().sent, 1u);
}

TEST_F(Events, WirePlaintextDropNamesPeerAndDevice) {
  auto in_node = cluster_->node().enter();
  ASSERT_NO_FATAL_FAILURE(load(SEALNET_EV_F_DROPS));
  EXPECT_EQ(run(Program::ToWire, "upA", "10.1.1.5", "10.1.2.7"), TC_ACT_SHOT);
  const auto ev = take();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].reason, static_cast<uint32_t>(SEALNET_M_WIRE_PLAINTEXT_DROPPED));
  EXPECT_EQ(ev[0].program, SEALNET_EV_TO_WIRE);
  EXPECT_EQ(ev[0].peer_node_id, 2u);
  EXPECT_EQ(ev[0].slot, testing::kSlotA);
  EXPECT_EQ(ev[0].mode, SEALNET_MODE_CRYPTO);
}

TEST_F(Events, FlowFirstPacketReportedSecondNot) {
  auto in_node = cluster_->node().enter();
  ASSERT_NO_FATAL_FAILURE(load(SEALNET_EV_F_FLOWS));
  EXPECT_EQ(run(Program::FromPod, "lxc0", "10.1.1.5", "10.1.2.7"), TC_ACT_OK);
  auto ev = take();
  ASSERT_EQ(ev.size(), 1u);
  const auto& e = ev[0];
  EXPECT_EQ(e.kind, SEALNET_EV_FLOW);
  EXPECT_EQ(e.reason, static_cast<uint32_t>(SEALNET_M_MARK_CRYPTO));
  EXPECT_EQ(e.peer_node_id, 2u);
  EXPECT_EQ(e.key_id, testing::kKey);
  EXPECT_EQ(e.slot, testing::kSlotA);
  EXPECT_EQ(e.mode, SEALNET_MODE_CRYPTO);
  EXPECT_EQ(e.mark, sealnet_mark_encrypt(2, testing::kKey, testing::kSlotA));
  EXPECT_EQ(e.dport, 5000);

  EXPECT_EQ(run(Program::FromPod, "lxc0", "10.1.1.5", "10.1.2.7"), TC_ACT_OK);
  EXPECT_TRUE(take().empty()) << "same flow within the interval";
  // Another flow, and a flow passed by a rule, are reported.
  EXPECT_EQ(run(Program::FromPod, "lxc0", "10.1.1.5", "10.1.1.9"), TC_ACT_OK);
  ev = take();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].reason, static_cast<uint32_t>(SEALNET_M_LOCAL_PASS));
  EXPECT_EQ(ev[0].peer_node_id, 1u);
  // Drops are off: nothing.
  EXPECT_EQ(run(Program::FromPod, "lxc0", "10.1.1.5", "10.1.9.7"), TC_ACT_SHOT);
  EXPECT_TRUE(take().empty());
}

TEST_F(Events, RateLimitCutsAndCounts) {
  auto in_node = cluster_->node().enter();
  ASSERT_NO_FATAL_FAILURE(load(SEALNET_EV_F_DROPS));
  // One test run repeats on one CPU, well within one second.
  constexpr uint32_t kRuns = SEALNET_EV_DROP_RATE + 50;
  EXPECT_EQ(run(Program::FromPod, "lxc0", "10.1.1.5", "10.1.9.7", kRuns), TC_ACT_SHOT);
  const auto ev = take();
  EXPECT_EQ(ev.size(), static_cast<size_t>(SEALNET_EV_DROP_RATE));
  const auto s = stats();
  EXPECT_EQ(s.sent, static_cast<uint64_t>(SEALNET_EV_DROP_RATE));
  EXPECT_EQ(s.rate_limited, 50u);
  EXPECT_EQ(s.ringbuf_full, 0u);
  // Another reason has its own budget.
  EXPECT_EQ(run(Program::ToWire, "upA", "10.1.1.5", "10.1.2.7"), TC_ACT_SHOT);
  EXPECT_EQ(take().size(), 1u);
}

TEST_F(Events, OffMakesNothing) {
  auto in_node = cluster_->node().enter();
  ASSERT_NO_FATAL_FAILURE(load(0));
  EXPECT_EQ(run(Program::FromPod, "lxc0", "10.1.1.5", "10.1.9.7"), TC_ACT_SHOT);
  EXPECT_EQ(run(Program::FromPod, "lxc0", "10.1.1.5", "10.1.2.7"), TC_ACT_OK);
  EXPECT_EQ(run(Program::ToWire, "upA", "10.1.1.5", "10.1.2.7"), TC_ACT_SHOT);
  EXPECT_TRUE(take().empty());
  const auto s = stats();
  EXPECT_EQ(s.sent + s.rate_limited + s.ringbuf_full, 0u);
}

}  // namespace
}  // namespace sealnet::bpf
