// `sealnet monitor`'s lines and JSON, and `sealnet audit`'s verdict over two
// counter samples (docs/events.md).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <nlohmann/json.hpp>

#include "datapath/monitor/audit.h"
#include "datapath/monitor/format.h"

namespace sealnet::monitor {
namespace {

// 2026-01-01 10:02:03.123 UTC
constexpr uint64_t kWall = 1767261723ull * 1000000000ull + 123000000ull;

uint32_t v4(const char* s) {
  in_addr a{};
  inet_pton(AF_INET, s, &a);
  return a.s_addr;
}

sealnet_event flow_event() {
  sealnet_event e{};
  e.kind = SEALNET_EV_FLOW;
  e.program = SEALNET_EV_FROM_POD;
  e.family = AF_INET;
  e.protocol = IPPROTO_UDP;
  e.reason = SEALNET_M_MARK_CRYPTO;
  e.ifindex = 7;
  e.mark = sealnet_mark_encrypt(2, 1, 1);
  e.peer_node_id = 2;
  e.key_id = 1;
  e.slot = 1;
  e.mode = SEALNET_MODE_CRYPTO;
  e.sport = 5353;
  e.dport = 53;
  e.len = 100;
  e.saddr[0] = v4("10.241.1.2");
  e.daddr[0] = v4("10.241.2.3");
  return e;
}

Names names() {
  Names n;
  n.local_node_id = 1;
  n.devices = {{3, "nsim0"}, {7, "lxc1"}};
  n.slot_ifindex = {{1, 3}};
  n.slot_generation = {{1, 0}};
  n.peers = {{2, "node-b"}, {9, "node-c"}};
  return n;
}

TEST(MonitorFormat, EncryptedFlowLine) {
  EXPECT_EQ(format_line(flow_event(), names(), kWall),
            "10:02:03.123 pod 10.241.1.2:5353 -> 10.241.2.3:53 udp ENCRYPTED crypto-offload nsim0 spi 0x00011100 "
            "key 1 peer node-b");
}

TEST(MonitorFormat, SpiWithoutGenerationIsMarkedUnknown) {
  Names n = names();
  n.slot_generation.clear();
  const std::string line = format_line(flow_event(), n, kWall);
  EXPECT_NE(line.find("spi 0x000111?? key 1"), std::string::npos) << line;
  EXPECT_FALSE(spi_of(flow_event(), n));
  n.slot_generation[1] = 3;
  EXPECT_EQ(spi_of(flow_event(), n), 0x00011103u);
}

TEST(MonitorFormat, DropLine) {
  sealnet_event e = flow_event();
  e.kind = SEALNET_EV_DROP;
  e.reason = SEALNET_M_NO_KEY;
  e.peer_node_id = 9;
  e.key_id = 0;
  e.slot = e.mode = SEALNET_EV_NONE;
  e.mark = 0;
  EXPECT_EQ(format_line(e, names(), kWall),
            "10:02:03.123 pod 10.241.1.2:5353 -> 10.241.2.3:53 udp DROP no-key lxc1 peer node-c key 0");
  e.program = SEALNET_EV_TO_WIRE;
  e.reason = SEALNET_M_WIRE_PLAINTEXT_DROPPED;
  e.ifindex = 3;
  e.key_id = SEALNET_EV_NONE;
  e.slot = 1;
  e.mode = SEALNET_MODE_CRYPTO;
  EXPECT_EQ(format_line(e, names(), kWall),
            "10:02:03.123 wire 10.241.1.2:5353 -> 10.241.2.3:53 udp DROP plaintext-to-remote nsim0 peer node-c "
            "crypto-offload");
}

TEST(MonitorFormat, PassedIpv6AndUnknownNames) {
  sealnet_event e{};
  e.kind = SEALNET_EV_FLOW;
  e.program = SEALNET_EV_FROM_HOST;
  e.family = AF_INET6;
  e.protocol = IPPROTO_ICMPV6;
  e.reason = SEALNET_M_NON_CLUSTER_PASS;
  e.ifindex = 42;
  e.key_id = e.slot = e.mode = SEALNET_EV_NONE;
  inet_pton(AF_INET6, "fd01::5", e.saddr);
  inet_pton(AF_INET6, "2001:db8::1", e.daddr);
  EXPECT_EQ(format_line(e, Names{}, kWall),
            "10:02:03.123 host fd01::5 -> 2001:db8::1 icmpv6 PASSED non-cluster-pass if42");
}

TEST(MonitorFormat, JsonCarriesTheFields) {
  auto j = nlohmann::json::parse(format_json(flow_event(), names(), kWall));
  EXPECT_EQ(j["kind"], "flow");
  EXPECT_EQ(j["verdict"], "ENCRYPTED");
  EXPECT_EQ(j["reason"], "mark-crypto");
  EXPECT_EQ(j["src"], "10.241.1.2");
  EXPECT_EQ(j["dport"], 53);
  EXPECT_EQ(j["device"], "nsim0");
  EXPECT_EQ(j["peer"], "node-b");
  EXPECT_EQ(j["mode"], "crypto-offload");
  EXPECT_EQ(j["spi"], 0x00011100u);
  EXPECT_EQ(j["time_ns"], kWall);
  Names n = names();
  n.slot_generation.clear();
  EXPECT_TRUE(nlohmann::json::parse(format_json(flow_event(), n, kWall))["spi"].is_null());
}

TEST(MonitorFormat, Filter) {
  sealnet_event f = flow_event();
  sealnet_event d = f;
  d.kind = SEALNET_EV_DROP;
  EXPECT_TRUE(wanted(f, {}));
  EXPECT_FALSE(wanted(f, {.drops = true, .flows = false, .peer = {}}));
  EXPECT_TRUE(wanted(d, {.drops = true, .flows = false, .peer = {}}));
  EXPECT_TRUE(wanted(f, {.drops = true, .flows = true, .peer = 2}));
  EXPECT_FALSE(wanted(f, {.drops = true, .flows = true, .peer = 3}));
}

status::CounterSample sample(uint64_t at, std::map<std::string, uint64_t> bpf) {
  return {.at = at, .bpf_packets = std::move(bpf), .fallback_counts = {}, .sa_out_packets = {}};
}

TEST(AuditVerdict, CleanWindowIsCompliant) {
  const auto before = sample(100, {{"mark-crypto", 10}, {"wire-esp-crypto", 10}, {"local-pass", 5},
                                   {"plaintext-to-remote-passed", 3}, {"no-key", 4}, {"malformed", 1}});
  auto after = sample(700, {{"mark-crypto", 110}, {"wire-esp-crypto", 110}, {"local-pass", 9},
                            {"plaintext-to-remote-passed", 3}, {"no-key", 4}, {"malformed", 6}});
  after.sa_out_packets = {{"nsim0 crypto", 100}};
  const auto r = judge(before, after);
  EXPECT_EQ(r.exit_code(), 0) << audit_text(r);
  EXPECT_EQ(r.marked.at("crypto-offload"), 100u);
  EXPECT_EQ(r.wire_esp.at("crypto-offload"), 100u);
  EXPECT_EQ(r.passed.at("local-pass"), 4u);
  EXPECT_EQ(r.dropped.at("malformed"), 5u);  // not traffic for a peer: no violation
  EXPECT_EQ(r.sa_out.at("nsim0 crypto"), 100u);
  EXPECT_EQ(r.to_remote, 100u);
  EXPECT_EQ(r.from, 100u);
  EXPECT_EQ(r.to, 700u);
}

TEST(AuditVerdict, PlaintextLeftFails) {
  const auto r = judge(sample(0, {{"plaintext-to-remote-passed", 3}}), sample(60, {{"plaintext-to-remote-passed", 5}}));
  EXPECT_EQ(r.plaintext_left, 2u);
  EXPECT_EQ(r.exit_code(), 1);
  ASSERT_EQ(r.violations.size(), 1u);
  EXPECT_NE(r.violations[0].find("plaintext"), std::string::npos);
}

TEST(AuditVerdict, MustPassDropFails) {
  for (const char* reason : {"no-key", "unknown-device", "fib-failed", "plaintext-to-remote", "host-misrouted"}) {
    const auto r = judge(sample(0, {}), sample(60, {{reason, 1}}));
    EXPECT_EQ(r.exit_code(), 1) << reason;
    EXPECT_EQ(r.must_pass_dropped, 1u) << reason;
  }
  EXPECT_FALSE(must_pass_reason("malformed"));
}

TEST(AuditVerdict, CounterThatWentDownCountsZero) {
  const auto r = judge(sample(0, {{"no-key", 9}}), sample(60, {{"no-key", 2}}));
  EXPECT_EQ(r.exit_code(), 0);
}

TEST(AuditVerdict, BaselineIsTheNewestOldEnoughSample) {
  std::vector<status::CounterSample> h = {sample(1000, {}), sample(1060, {}), sample(1120, {}), sample(1180, {})};
  EXPECT_EQ(baseline(h, 1200, 120)->at, 1060u);
  EXPECT_EQ(baseline(h, 1200, 80)->at, 1120u);
  EXPECT_EQ(baseline(h, 1200, 3600)->at, 1000u);  // shorter than asked: the oldest
  EXPECT_EQ(baseline({}, 1200, 60), nullptr);
}

TEST(AuditVerdict, FromAgentStatus) {
  status::AgentStatus s;
  s.started_at = 900;
  s.now = 1200;
  s.bpf_packets = {{"mark-software", 50}, {"no-key", 2}};
  s.history = {sample(900, {{"mark-software", 0}, {"no-key", 2}}), sample(960, {{"mark-software", 10}, {"no-key", 2}})};
  s.keys = {{.id = 3, .algorithm = "a", .key_bits = 128, .icv_bits = 128, .per_pair = true, .age_seconds = 100},
            {.id = 2, .algorithm = "a", .key_bits = 128, .icv_bits = 128, .per_pair = true, .age_seconds = 5000}};
  const auto r = audit(s, 240);
  EXPECT_EQ(r.from, 960u);
  EXPECT_EQ(r.marked.at("software"), 40u);
  EXPECT_EQ(r.exit_code(), 0);
  ASSERT_EQ(r.keys_loaded.size(), 1u);
  EXPECT_EQ(r.keys_loaded[0], 3);
  auto j = nlohmann::json::parse(audit_json(r));
  EXPECT_TRUE(j["compliant"]);
}

TEST(AuditVerdict, HistorySampling) {
  std::vector<status::CounterSample> h;
  for (uint64_t t = 0; t < 200 * 60; t += 30) status::sample_history(h, sample(t, {}));
  EXPECT_EQ(h.size(), status::kHistoryMax);
  EXPECT_EQ(h.front().at, 0u);  // the start is kept
  EXPECT_EQ(h.back().at, 199u * 60);
  EXPECT_EQ(h[1].at, (199u - 59) * 60);
}

TEST(AuditVerdict, SampleOfASnapshot) {
  status::AgentStatus s;
  s.now = 77;
  s.bpf_packets = {{"mark-crypto", 5}, {"no-key", 0}};
  s.fallback_counts = {{"link-down", 0}, {"offload-refused", 2}};
  status::PeerStatus p;
  p.sas = {{.spi = 1, .dir = "out", .key = 1, .slot = 1, .generation = 0, .mode = "crypto", .device = "nsim0",
            .counters = {.packets = 10}},
           {.spi = 2, .dir = "out", .key = 2, .slot = 0, .generation = 0, .mode = "software", .device = "",
            .counters = {.packets = 3}},
           {.spi = 3, .dir = "in", .key = 1, .slot = 1, .generation = 0, .mode = "crypto", .device = "nsim0",
            .counters = {.packets = 99}}};
  s.peers = {p, p};
  const auto c = status::counter_sample(s);
  EXPECT_EQ(c.at, 77u);
  EXPECT_EQ(c.bpf_packets, (std::map<std::string, uint64_t>{{"mark-crypto", 5}}));  // zeros left out
  EXPECT_EQ(c.fallback_counts, (std::map<std::string, uint64_t>{{"offload-refused", 2}}));
  EXPECT_EQ(c.sa_out_packets, (std::map<std::string, uint64_t>{{"nsim0 crypto", 20}, {"software", 6}}));
  // It survives the JSON of /status.
  s.history = {c};
  s.events = {.drops = true, .flows = false, .sent = 4, .lost = 1, .rate_limited = 2};
  auto back = status::from_json(status::to_json(s));
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->history, s.history);
  EXPECT_EQ(back->events, s.events);
}

TEST(AuditVerdict, Durations) {
  uint64_t s = 0;
  EXPECT_TRUE(parse_duration("10m", s));
  EXPECT_EQ(s, 600u);
  EXPECT_TRUE(parse_duration("90", s));
  EXPECT_EQ(s, 90u);
  EXPECT_TRUE(parse_duration("2h", s));
  EXPECT_EQ(s, 7200u);
  EXPECT_FALSE(parse_duration("10 minutes", s));
  EXPECT_FALSE(parse_duration("", s));
}

}  // namespace
}  // namespace sealnet::monitor
