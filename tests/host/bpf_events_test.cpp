// The datapath's events (docs/events.md) through BPF_PROG_TEST_RUN in the
// cluster of tests/host/bpf_topology.h: a drop makes exactly one drop record
// with its fields, a flow's first packet one flow record and the next none,
// the per-reason rate limit cuts and counts, and off makes nothing.
#include <gtest/gtest.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
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

// `sealnet monitor` as a user runs it, against maps pinned in a bpffs of the
// test's own: no agent there (exit 2 naming the path), events off (exit 1
// saying so), then a drop printed as one JSON line.
struct Child {
  pid_t pid = -1;
  std::string out_path;
};

Child spawn_monitor(const std::string& args) {
  Child c;
  char tmpl[] = "/tmp/sealnet-monitor-out-XXXXXX";
  const int fd = ::mkstemp(tmpl);
  c.out_path = tmpl;
  c.pid = ::fork();
  if (c.pid == 0) {
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execl("/bin/sh", "sh", "-c", (std::string("exec " SEALNET_CLI " monitor ") + args).c_str(), nullptr);
    ::_exit(127);
  }
  ::close(fd);
  return c;
}

int wait_exit(const Child& c) {
  int st = 0;
  ::waitpid(c.pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  ::unlink(path.c_str());
  return ss.str();
}

TEST_F(Events, MonitorCommandOnPinnedMaps) {
  auto in_node = cluster_->node().enter();
  char tmpl[] = "/tmp/sealnet-bpffs-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  ASSERT_EQ(::mount("bpf", dir.c_str(), "bpf", 0, "mode=0700"), 0) << std::strerror(errno);
  const std::string args = "--bpffs " + dir + " --endpoint 127.0.0.1:1 --json";
  {
    auto none = spawn_monitor(args);
    EXPECT_EQ(wait_exit(none), 2);
    const std::string out = slurp(none.out_path);
    EXPECT_NE(out.find(dir + "/sealnet_events"), std::string::npos) << out;
  }
  {
    auto dp = Datapath::load({.pin_dir = dir});
    ASSERT_TRUE(dp) << dp.error().message();
    cluster_->populate(*dp);
    ASSERT_TRUE(dp->set_config(testing::cluster_config()));
    auto off = spawn_monitor(args);
    EXPECT_EQ(wait_exit(off), 1);
    const std::string out = slurp(off.out_path);
    EXPECT_NE(out.find("events are off in the agent's config"), std::string::npos) << out;

    auto cfg = testing::cluster_config();
    cfg.events = SEALNET_EV_F_DROPS;
    ASSERT_TRUE(dp->set_config(cfg));
    auto live = spawn_monitor(args + " --drops");
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // attached (it skips older records)
    const auto frame = PacketBuilder().ip(ip("10.1.1.5"), ip("10.1.9.7")).udp(4000, 5000).payload(64).build();
    auto r = test_run(dp->prog_fd(Program::FromPod),
                      {.packet = frame, .ifindex = cluster_->ifindex("lxc0"), .mark = 0, .repeat = 1});
    ASSERT_TRUE(r);
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    ::kill(live.pid, SIGINT);
    EXPECT_EQ(wait_exit(live), 0);
    const std::string text = slurp(live.out_path);
    EXPECT_NE(text.find(R"("verdict":"DROP")"), std::string::npos) << text;
    EXPECT_NE(text.find(R"("reason":"no-key")"), std::string::npos) << text;
    EXPECT_NE(text.find(R"("device":"lxc0")"), std::string::npos) << text;  // named in this namespace
    EXPECT_NE(text.find(R"("dst":"10.1.9.7")"), std::string::npos) << text;
    EXPECT_NE(text.find("1 sent"), std::string::npos) << text;
  }
  ::umount2(dir.c_str(), MNT_DETACH);
  ::rmdir(dir.c_str());
}

}  // namespace
}  // namespace sealnet::bpf
