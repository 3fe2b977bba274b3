// datapath/why: each peer's WHY is its own decision; last_error keeps a refused
// file until a good one; decision lines name modes, not "none -> none".
#include <gtest/gtest.h>

#include "datapath/why.h"
#include "offload/binding.h"

namespace sealnet::agent {
namespace {

using fallback::Decision;
using fallback::OffloadMode;
using fallback::Reason;

TEST(PeerWhy, EachPeerGetsItsOwnDecisionNotTheSlotsLast) {
  std::deque<Decision> log;
  log.push_back({100,
                 1,
                 "eth1",
                 std::nullopt,
                 {},
                 OffloadMode::none,
                 OffloadMode::crypto,
                 Reason::probe_verdict,
                 "crypto offload"});
  // Peer 3's outbound state did not fit the device's table.
  const uint32_t out_spi = offload::make_spi(1, 4, 1, 0);
  log.push_back({101, 1, "eth1", out_spi, "192.168.50.3", OffloadMode::crypto, OffloadMode::none,
                 Reason::table_full, "ENOSPC"});
  // Peer 4's inbound state (dst: our address; the SPI carries peer 4's id).
  const uint32_t in_spi = offload::make_spi(4, 4, 2, 0);
  log.push_back({102, 1, "eth1", in_spi, "192.168.50.1", OffloadMode::crypto, OffloadMode::none,
                 Reason::table_full, "ENOSPC"});

  const auto* p2 = peer_decision(log, 2, "192.168.50.2", 1);
  ASSERT_NE(p2, nullptr);
  EXPECT_EQ(p2->reason, Reason::probe_verdict);  // not another peer's table-full
  const auto* p3 = peer_decision(log, 3, "192.168.50.3", 1);
  ASSERT_NE(p3, nullptr);
  EXPECT_EQ(p3->reason, Reason::table_full);
  EXPECT_EQ(p3->dst, "192.168.50.3");
  const auto* p4 = peer_decision(log, 4, "192.168.50.4", 1);
  ASSERT_NE(p4, nullptr);
  EXPECT_EQ(p4->spi, in_spi);
  // A peer on another slot with no decision of its own: none (the probe's words then).
  EXPECT_EQ(peer_decision(log, 5, "192.168.50.5", 0), nullptr);

  // A slot-wide decision after them is every peer's newest.
  log.push_back(
      {103, 1, "eth1", std::nullopt, {}, OffloadMode::crypto, OffloadMode::none, Reason::link_down, ""});
  EXPECT_EQ(peer_decision(log, 3, "192.168.50.3", 1)->reason, Reason::link_down);
}

TEST(PeerWhy, DecisionLinesNameTheModes) {
  const Decision d{1,
                   1,
                   "eth1",
                   0x00010100u,
                   "192.168.50.2",
                   OffloadMode::crypto,
                   OffloadMode::none,
                   Reason::table_full,
                   "ENOSPC"};
  EXPECT_EQ(d.str(),
            "sa-table-full: slot 1 (eth1) spi 0x00010100 -> 192.168.50.2 crypto -> software: ENOSPC");
  const Decision s{
      1, 0, "eth0", std::nullopt, {}, OffloadMode::none, OffloadMode::none, Reason::probe_verdict, ""};
  EXPECT_EQ(s.str(), "probe-verdict: slot 0 (eth0) software -> software");
  EXPECT_EQ(s.str().find("none"), std::string::npos);
}

TEST(LastError, ARefusedFileStaysUntilAGoodOneIsLoaded) {
  ErrorNotes e;
  EXPECT_EQ(e.last_error(), "");
  e.refused(ErrorNotes::File::keys, "key file rejected: bad hex");
  e.clean();  // the next clean reconcile
  e.clean();
  EXPECT_EQ(e.last_error(), "key file rejected: bad hex");
  e.failed("reconcile node-a: EEXIST");
  EXPECT_EQ(e.last_error(), "reconcile node-a: EEXIST; key file rejected: bad hex");
  e.refused(ErrorNotes::File::config, "config rejected: line 3");
  e.clean();
  EXPECT_FALSE(e.has_failed());
  EXPECT_EQ(e.last_error(), "key file rejected: bad hex; config rejected: line 3");
  e.accepted(ErrorNotes::File::keys);
  EXPECT_EQ(e.last_error(), "config rejected: line 3");
  e.accepted(ErrorNotes::File::config);
  EXPECT_EQ(e.last_error(), "");
}

}  // namespace
}  // namespace sealnet::agent
