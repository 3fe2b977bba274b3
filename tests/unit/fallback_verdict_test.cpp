// fallback/verdict.h: the probe's verdict becomes the slot's initial mode, and
// the recorded decision (reason probe-verdict) carries the probe's reason.
#include "fallback/verdict.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <utility>
#include <vector>

#include "fallback/modes.h"

namespace sealnet::fallback {
namespace {

probe::DeviceReport report(probe::Verdict v, std::string reason) {
  probe::DeviceReport d;
  d.ifindex = 7;
  d.name = "nsim0";
  d.verdict = v;
  d.reason = std::move(reason);
  return d;
}

TEST(FallbackVerdict, EachVerdictMapsToItsMode) {
  EXPECT_EQ(mode_of(probe::Verdict::packet_offload), OffloadMode::packet);
  EXPECT_EQ(mode_of(probe::Verdict::crypto_offload), OffloadMode::crypto);
  EXPECT_EQ(mode_of(probe::Verdict::software), OffloadMode::none);
}

TEST(FallbackVerdict, DecisionCarriesTheProbesReason) {
  const auto p = from_probe(2, report(probe::Verdict::crypto_offload, "trial SA read back with offload dev nsim0"), 40);
  EXPECT_EQ(p.device.slot, 2);
  EXPECT_EQ(p.device.ifindex, 7);
  EXPECT_EQ(p.device.name, "nsim0");
  EXPECT_EQ(p.device.capability, OffloadMode::crypto);
  EXPECT_EQ(p.decision.reason, Reason::probe_verdict);
  EXPECT_EQ(p.decision.at, 40u);
  EXPECT_EQ(p.decision.slot, 2);
  EXPECT_EQ(p.decision.to, OffloadMode::crypto);
  EXPECT_EQ(p.decision.detail, "probe: crypto-offload: trial SA read back with offload dev nsim0");
  EXPECT_NE(p.decision.str().find("probe-verdict"), std::string::npos) << p.decision.str();

  auto over = report(probe::Verdict::software, "configured");
  over.overridden = true;
  EXPECT_EQ(from_probe(0, over, 0).decision.detail, "probe: software: configured (overridden by configuration)");
}

TEST(FallbackVerdict, ModeBookRecordsTheProbesDecision) {
  DecisionLog log;
  ModeBook modes(log);
  const auto p = from_probe(1, report(probe::Verdict::packet_offload, "ESP hw-tc-offload and packet trial accepted"), 5);
  modes.set_device(p.device, 5, p.decision.detail);
  ASSERT_NE(modes.slot(1), nullptr);
  EXPECT_EQ(modes.slot(1)->mode, OffloadMode::packet);
  ASSERT_NE(log.last(), nullptr);
  EXPECT_EQ(log.last()->reason, Reason::probe_verdict);
  EXPECT_EQ(log.last()->detail, p.decision.detail);
  EXPECT_EQ(log.last()->to, p.decision.to);
  EXPECT_EQ(log.count(Reason::probe_verdict), 1u);
}

}  // namespace
}  // namespace sealnet::fallback

namespace sealnet::fallback {
namespace {

// What a caller printing decisions as they happen gets: each once, oldest first,
// and only the kept ones after a long pause.
Decision on_slot(uint8_t slot, Reason r) {
  Decision d;
  d.slot = slot;
  d.reason = r;
  return d;
}

TEST(DecisionLog, SinceHandsOutEachDecisionOnce) {
  DecisionLog log;
  uint64_t seen = 0;
  EXPECT_TRUE(log.since(seen).empty());
  log.record(on_slot(1, Reason::link_down));
  log.record(on_slot(2, Reason::link_up));
  auto fresh = log.since(seen);
  ASSERT_EQ(fresh.size(), 2u);
  EXPECT_EQ(fresh[0]->slot, 1);
  EXPECT_EQ(fresh[1]->slot, 2);
  EXPECT_EQ(seen, 2u);
  EXPECT_TRUE(log.since(seen).empty());
  for (size_t i = 0; i < DecisionLog::kKeep + 10; ++i) log.record(on_slot(3, Reason::table_full));
  EXPECT_EQ(log.total(), DecisionLog::kKeep + 12);
  EXPECT_EQ(log.since(seen).size(), DecisionLog::kKeep);
  EXPECT_EQ(seen, log.total());
}


// Only a flush moves a slot (docs/xfrm-design.md "Generations", rule 1), and
// every move asks the guard first.
TEST(ModeBookGenerations, AFlushMovesASoftwareFlapDoesNot) {
  DecisionLog log;
  ModeBook modes(log);
  modes.set_device({0, 2, "eth0", OffloadMode::crypto}, 1);
  modes.set_device({1, 3, "eth1", OffloadMode::none}, 1);
  std::vector<std::pair<uint8_t, uint8_t>> asked;
  bool refuse = false;
  modes.set_guard([&](uint8_t slot, uint8_t g) -> Status {
    asked.emplace_back(slot, g);
    if (refuse) return fail(EROFS, "save agent state", "/var/lib/sealnet/generations");
    return {};
  });
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(modes.link_down(0, 2));
    EXPECT_TRUE(modes.link_up(0, 3));
    EXPECT_TRUE(modes.link_down(1, 2));
    EXPECT_TRUE(modes.link_up(1, 3));
  }
  EXPECT_EQ(modes.slot(0)->generation, 3);
  EXPECT_EQ(modes.slot(1)->generation, 0);
  EXPECT_EQ(asked, (std::vector<std::pair<uint8_t, uint8_t>>{{0, 1}, {0, 2}, {0, 3}}));
  EXPECT_EQ(log.last()->detail, "software states kept under generation 0");
  // Offloaded states seen vanished on a slot now software: a flush all the same.
  modes.link_down(1, 4, true);
  modes.link_up(1, 4);
  EXPECT_EQ(modes.slot(1)->generation, 1);
  // A refused move does not happen; the error is there once.
  refuse = true;
  modes.link_down(0, 5);
  modes.link_up(0, 5);
  EXPECT_EQ(modes.slot(0)->generation, 3);
  EXPECT_EQ(modes.take_guard_error(),
            "slot 0 stays at generation 3: save agent state /var/lib/sealnet/generations: Read-only file system");
  EXPECT_EQ(modes.take_guard_error(), "");
}

}  // namespace
}  // namespace sealnet::fallback
