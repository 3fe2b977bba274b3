#include "datapath/status.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cerrno>
#include <limits>
#include <map>
#include <regex>
#include <set>
#include <sstream>

namespace sealnet::status {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// /proc/net/xfrm_stat as a 6.x kernel prints it (name, spaces, a tab, the value),
// with a few counters made non-zero.
constexpr const char* kXfrmStat =
    "XfrmInError             \t0\n"
    "XfrmInBufferError       \t0\n"
    "XfrmInHdrError          \t0\n"
    "XfrmInNoStates          \t17\n"
    "XfrmInStateProtoError   \t3\n"
    "XfrmInStateModeError    \t0\n"
    "XfrmInStateSeqError     \t0\n"
    "XfrmInStateExpired      \t0\n"
    "XfrmInStateMismatch     \t0\n"
    "XfrmInStateInvalid      \t0\n"
    "XfrmInTmplMismatch      \t0\n"
    "XfrmInNoPols            \t0\n"
    "XfrmInPolBlock          \t0\n"
    "XfrmInPolError          \t0\n"
    "XfrmOutError            \t0\n"
    "XfrmOutBundleGenError   \t0\n"
    "XfrmOutBundleCheckError \t0\n"
    "XfrmOutNoStates         \t18446744073709551615\n"
    "XfrmOutStateProtoError  \t0\n"
    "XfrmOutStateModeError   \t0\n"
    "XfrmOutStateSeqError    \t0\n"
    "XfrmOutStateExpired     \t0\n"
    "XfrmOutPolBlock         \t0\n"
    "XfrmOutPolDead          \t0\n"
    "XfrmOutPolError         \t0\n"
    "XfrmFwdHdrError         \t0\n"
    "XfrmOutStateInvalid     \t0\n"
    "XfrmAcquireError        \t0\n"
    "XfrmOutStateDirError    \t0\n"
    "XfrmInStateDirError     \t0\n"
    "XfrmInIptfsError        \t0\n"
    "XfrmOutNoQueueSpace     \t0\n";

SaCounters counters(uint64_t base) { return {base, base * 1400, base % 7, base % 5, base % 3}; }

// Every field set to something other than its default.
AgentStatus full() {
  AgentStatus s;
  s.node_name = "node-a";
  s.node_id = 513;
  s.node_addresses = {"192.168.50.1", "fd50::1"};
  s.pod_cidrs = {"10.1.0.0/24", "fd10:1::/64"};
  s.started_at = 1'790'000'000;
  s.now = 1'790'011'045;
  s.ready = true;
  s.fail_closed = false;
  s.last_error = "XFRM_MSG_NEWSA spi 0x00000201 on eth1: File exists";
  s.reconciles = 1234;
  s.reconcile_failures = 2;
  s.tx_key = 4;
  s.keys = {{3, "rfc4106(gcm(aes))", 128, 128, false, 86'400 * 3 + 7200},
            {4, "hmac(sha256)+cbc(aes)", 384, 128, true, 95}};
  PeerStatus b;
  b.id = 2;
  b.name = "node-b";
  b.address = "192.168.50.2";
  b.pod_cidrs = {"10.2.0.0/24"};
  b.device = "eth1";
  b.slot = 1;
  b.mode = "packet";
  b.mode_reason = "probe: packet offload confirmed";
  b.tx_key = 4;
  b.peer_keys = {3, 4};
  b.keys_source = "observed";
  b.sas = {{0x00000142, "out", 4, 1, 2, "packet", "eth1", counters(123'456'789)},
           {0x00020241, "in", 4, 2, 0, "packet", "eth1", counters(98'765)}};
  b.out_total = counters(123'456'789);
  b.in_total = counters(98'765);
  b.out_since_start = counters(223'456'789);
  b.in_since_start = counters(198'765);
  PeerStatus c;
  c.id = 3;
  c.name = "we\"ird\\name\nx";  // exercises escaping everywhere
  c.address = "fd50::3";
  c.device = "";
  c.mode = "none";
  c.mode_reason = "no route to the peer";
  c.tx_key = 0;
  c.keys_source = "assumed";
  c.out_total = {0, 0, 0, 0, 0};
  c.in_total = {std::numeric_limits<uint64_t>::max(), 1, 2, 3, 4};
  s.peers = {b, c};
  s.devices = {{"eth1", 3, 1, true, "packet-offload", "mlx5: packet offload", "packet", 2, 40},
               {"eth0", 2, 0, false, "software", "no esp-hw-offload feature", "software", 0, 0}};
  s.pod_devices = {"lxc1", "lxc2"};
  s.bpf_packets = {{"to_xfrm", 1000}, {"drop_no_state", 3}, {"pass_clear", 0}};
  s.bpf_bytes = {{"to_xfrm", 1'500'000}, {"drop_no_state", 180}, {"pass_clear", 0}};
  s.bpf_drop_reasons = {"drop_no_state", "drop_never_counted"};
  s.traffic = {{"eth1", "packet", "out", 1, counters(223'456'789)}, {"eth1", "packet", "in", 1, counters(198'765)},
               {"eth0", "software", "out", 0, counters(5)}};
  s.xfrm_stat = parse_xfrm_stat(kXfrmStat);
  s.fallback_counts = {{"offload-refused", 2}, {"device-down", 0}};
  s.decisions = {"eth1 slot 1: packet -> crypto (offload-refused: EOPNOTSUPP)",
                 "eth1 slot 1: crypto -> packet (probe ok)"};
  s.discovery = {"etcd", false, "etcd 10.0.0.9:2379: connection refused", 17};
  return s;
}

// --- /proc/net/xfrm_stat -----------------------------------------------------

TEST(XfrmStat, ParsesTheKernelsFormat) {
  const auto m = parse_xfrm_stat(kXfrmStat);
  EXPECT_EQ(m.size(), 32u);
  EXPECT_EQ(m.at("XfrmInError"), 0u);
  EXPECT_EQ(m.at("XfrmInNoStates"), 17u);
  EXPECT_EQ(m.at("XfrmInStateProtoError"), 3u);
  EXPECT_EQ(m.at("XfrmOutNoStates"), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(m.at("XfrmOutNoQueueSpace"), 0u);
}

TEST(XfrmStat, SkipsWhatIsNotACounterLine) {
  const auto m = parse_xfrm_stat("XfrmA 1\n\n  \nXfrmB\nXfrmC x\nXfrmD -1\nXfrmE 2 extra\nXfrmF 99999999999999999999\nXfrmG  7");
  EXPECT_EQ(m, (std::map<std::string, uint64_t>{{"XfrmA", 1}, {"XfrmE", 2}, {"XfrmG", 7}}));
}

// --- JSON ----------------------------------------------------------------------

TEST(StatusJson, RoundTripsAFullStatusExactly) {
  const AgentStatus s = full();
  const std::string text = to_json(s);
  auto back = from_json(text);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, s);
  EXPECT_EQ(to_json(*back), text);
}

TEST(StatusJson, RoundTripsDefaults) {
  auto back = from_json(to_json(AgentStatus{}));
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, AgentStatus{});
}

TEST(StatusJson, IgnoresUnknownFieldsAndDefaultsMissingOnes) {
  auto s = from_json(R"({"schema": 1, "node_name": "n", "future": {"x": [1]},
                         "peers": [{"id": 7, "new_field": true}]})");
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->node_name, "n");
  ASSERT_EQ(s->peers.size(), 1u);
  EXPECT_EQ(s->peers[0].id, 7);
  EXPECT_TRUE(s->fail_closed);  // the default
}

void expect_error(std::string_view text, const std::string& object, const std::string& detail_part) {
  auto s = from_json(text);
  ASSERT_FALSE(s) << text;
  EXPECT_EQ(s.error().err, EINVAL);
  EXPECT_EQ(s.error().object, object) << s.error().message();
  EXPECT_THAT(s.error().message(), HasSubstr(detail_part));
}

TEST(StatusJson, ErrorsNameTheField) {
  expect_error(R"({"node_name": "n"})", "schema", "missing");
  expect_error(R"({"schema": 2})", "schema", "major version 2");
  expect_error(R"({"schema": "1"})", "schema", "unsigned integer");
  expect_error("[1]", "(document)", "expected an object");
  expect_error("{\"schema\": 1,", "(document)", "not JSON");
  expect_error(R"({"schema": 1, "peers": [{}, {"slot": 300}]})", "peers[1].slot", "300 is out of range (0..255)");
  expect_error(R"({"schema": 1, "peers": [{"sas": [{"spi": -1}]}]})", "peers[0].sas[0].spi", "negative");
  expect_error(R"({"schema": 1, "keys": {}})", "keys", "expected a list");
  expect_error(R"({"schema": 1, "ready": 1})", "ready", "true or false");
  expect_error(R"({"schema": 1, "xfrm_stat": {"XfrmInError": 1.5}})", "xfrm_stat.XfrmInError", "fraction");
  expect_error(R"({"schema": 1, "discovery": {"peers": "3"}})", "discovery.peers", "string");
}

// A number where an object, a string or a boolean belongs is called a number
// (it used to be called null).
TEST(StatusJson, ErrorsSayWhatWasThere) {
  expect_error(R"({"schema": 1, "peers": [5]})", "peers[0]", "expected an object, got a number");
  expect_error(R"({"schema": 1, "ready": 1})", "ready", "got a number");
  expect_error(R"({"schema": 1, "node_name": 7})", "node_name", "expected a string, got a number");
  expect_error(R"({"schema": 1, "pod_devices": ["a", null]})", "pod_devices[1]", "got null");
}

// --- table -----------------------------------------------------------------------

TEST(StatusTable, ShowsTheFacts) {
  const std::string t = render_table(full());
  for (const char* fact :
       {"node-a (id 513), up 3h04m", "192.168.50.1, fd50::1", "10.1.0.0/24", "ready, fail-open, 1234 reconciles, 2 failed",
        "XFRM_MSG_NEWSA spi 0x00000201 on eth1: File exists", "etcd, DISCONNECTED, 17 peers", "lxc1, lxc2",
        // keys: id alg bits/icv age
        "keys (tx 4)", "rfc4106(gcm(aes))", "128/128", "3d02h", "4+ tx", "hmac(sha256)+cbc(aes)", "384/128", "1m35s",
        // peers
        "node-b", "192.168.50.2", "probe: packet offload confirmed", "3,4 observed", "123M/161GiB", "r3 i4 w2", "errors: r replay",
        "no route to the peer", "we\"ird\\name?x", "18E/1B", "- assumed",
        // states
        "0x00000142", "0x00020241",
        // devices
        "packet-offload", "mlx5: packet offload", "DOWN", "no esp-hw-offload feature",
        // counters and decisions
        "to_xfrm", "1500000", "drop_no_state", "XfrmInNoStates", "XfrmInStateProtoError", "offload-refused",
        "eth1 slot 1: crypto -> packet (probe ok)",
        // key 3 is a shared AEAD key (allowed by the config): said, with the per-pair form
        "WARNING", "shared AEAD key 3", "CVE-2024-28860"})
    EXPECT_THAT(t, HasSubstr(fact)) << t;
  // Zero counters are left out.
  EXPECT_THAT(t, Not(HasSubstr("pass_clear")));
  EXPECT_THAT(t, Not(HasSubstr("XfrmInError")));
  EXPECT_THAT(t, Not(HasSubstr("device-down")));
  // Nothing that looks like key material: no long hex run, no key-bytes field.
  EXPECT_FALSE(std::regex_search(t, std::regex("(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{16,}"))) << t;
  EXPECT_THAT(t, Not(HasSubstr("key_bytes")));
  EXPECT_THAT(t, Not(HasSubstr("secret")));
}

TEST(StatusTable, ColumnsAlignAndLinesStayReadable) {
  const std::string t = render_table(full());
  std::istringstream in(t);
  std::string line, section;
  size_t verdict_col = std::string::npos, why_col = std::string::npos;
  int device_rows = 0;
  while (std::getline(in, line)) {
    EXPECT_EQ(line.find('\t'), std::string::npos);
    EXPECT_TRUE(line.empty() || line.back() != ' ') << "[" << line << "]";
    if (!line.empty() && line[0] != ' ') section = line;
    if (section.starts_with("peers") && line.starts_with("  PEER  ")) why_col = line.find("WHY");
    if (line.starts_with("  DEVICE  ")) verdict_col = line.find("VERDICT");
    if (section.starts_with("devices") && (line.starts_with("  eth1 ") || line.starts_with("  eth0 "))) {
      ++device_rows;
      const std::string at = line.substr(verdict_col, 8);
      EXPECT_TRUE(at == "packet-o" || at == "software") << line;
    }
    // Only the peers table's free-text WHY column may run past 100 columns.
    if (!section.starts_with("peers")) {
      EXPECT_LE(line.size(), 100u) << line;
    }
  }
  EXPECT_EQ(device_rows, 2);
  EXPECT_LE(why_col, 100u);
}

TEST(StatusTable, SaysNoneWhenThereIsNothing) {
  AgentStatus s;
  s.xfrm_stat = {{"XfrmInError", 0}, {"XfrmOutNoStates", 0}};
  const std::string t = render_table(s);
  EXPECT_THAT(t, HasSubstr("NOT READY"));
  EXPECT_THAT(t, HasSubstr("xfrm errors (/proc/net/xfrm_stat)\n  none\n"));
  EXPECT_THAT(t, HasSubstr("bpf counters\n  none\n"));
  EXPECT_THAT(t, HasSubstr("keys (tx none)\n  none\n"));
  EXPECT_THAT(t, HasSubstr("peers (0)\n  none\n"));
}

// --- Prometheus ----------------------------------------------------------------------

// Checks the text exposition format 0.0.4 line by line; returns the samples.
std::multimap<std::string, std::string> parse_exposition(const std::string& text) {
  static const std::regex kName("[a-zA-Z_:][a-zA-Z0-9_:]*");
  static const std::regex kSample(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")*\})? ([0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?|NaN|[+-]Inf))");
  std::map<std::string, int> help, type;
  std::multimap<std::string, std::string> samples;
  std::istringstream in(text);
  std::string line;
  EXPECT_TRUE(text.empty() || text.back() == '\n');
  while (std::getline(in, line)) {
    std::smatch m;
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      std::istringstream f(line.substr(7));
      std::string name, rest;
      f >> name >> rest;
      EXPECT_TRUE(std::regex_match(name, kName)) << line;
      EXPECT_FALSE(samples.contains(name)) << "HELP/TYPE after samples: " << line;
      if (line[2] == 'H') {
        ++help[name];
      } else {
        ++type[name];
        EXPECT_TRUE(rest == "counter" || rest == "gauge") << line;
        if (rest == "counter") {
          EXPECT_TRUE(name.ends_with("_total")) << line;
        }
      }
      continue;
    }
    if (!std::regex_match(line, m, kSample)) {
      ADD_FAILURE() << "not a sample line: [" << line << "]";
      continue;
    }
    EXPECT_TRUE(type.contains(m[1])) << "no TYPE before " << line;
    samples.emplace(m[1], line);
  }
  for (const auto& [name, n] : help) {
    EXPECT_EQ(n, 1) << name;
    EXPECT_EQ(type[name], 1) << name;
  }
  EXPECT_EQ(help.size(), type.size());
  return samples;
}

TEST(StatusPrometheus, EveryLineParses) {
  const std::string text = render_prometheus(full());
  const auto samples = parse_exposition(text);
  for (const char* family :
       {"sealnet_up", "sealnet_ready", "sealnet_reconciles_total", "sealnet_reconcile_failures_total",
        "sealnet_tx_key", "sealnet_key_info", "sealnet_peer_info", "sealnet_peer_packets_total",
        "sealnet_peer_bytes_total", "sealnet_peer_errors_total", "sealnet_states", "sealnet_encrypted_bytes_total",
        "sealnet_decrypted_bytes_total", "sealnet_dropped_packets_total", "sealnet_device_info",
        "sealnet_device_offloaded_states", "sealnet_bpf_packets_total", "sealnet_bpf_bytes_total",
        "sealnet_xfrm_stat_total", "sealnet_fallback_decisions_total", "sealnet_discovery_connected"})
    EXPECT_TRUE(samples.contains(family)) << family;
  for (const char* line :
       {"sealnet_up 1\n", "sealnet_ready 1\n", "sealnet_reconciles_total 1234\n", "sealnet_reconcile_failures_total 2\n",
        "sealnet_tx_key 4\n",
        "sealnet_key_info{key=\"4\",algorithm=\"hmac(sha256)+cbc(aes)\",key_bits=\"384\",icv_bits=\"128\",per_pair=\"true\"} 1\n",
        "sealnet_peer_info{peer=\"node-b\",id=\"2\",address=\"192.168.50.2\",device=\"eth1\",mode=\"packet\"} 1\n",
        "sealnet_peers_by_mode{mode=\"packet\"} 1\n", "sealnet_peers_by_mode{mode=\"crypto\"} 0\n",
        "sealnet_peers_by_mode{mode=\"none\"} 1\n",
        // Since start (never down), not the sum of the states now.
        "sealnet_peer_packets_total{peer=\"node-b\",dir=\"out\"} 223456789\n",
        "sealnet_peer_bytes_total{peer=\"node-b\",dir=\"in\"} 278271000\n",
        "sealnet_peer_errors_total{peer=\"node-b\",kind=\"replay\"} 3\n",
        "sealnet_states{device=\"eth1\",mode=\"packet\",dir=\"out\"} 1\n",
        "sealnet_states{device=\"eth0\",mode=\"software\",dir=\"out\"} 0\n",
        "sealnet_encrypted_packets_total{device=\"eth1\",mode=\"packet\"} 223456789\n",
        "sealnet_encrypted_bytes_total{device=\"eth0\",mode=\"software\"} 7000\n",
        "sealnet_decrypted_bytes_total{device=\"eth1\",mode=\"packet\"} 278271000\n",
        "sealnet_dropped_packets_total{reason=\"drop_no_state\"} 3\n",
        "sealnet_dropped_bytes_total{reason=\"drop_never_counted\"} 0\n",
        "sealnet_device_info{device=\"eth1\",slot=\"1\",verdict=\"packet-offload\",mode=\"packet\"} 1\n",
        "sealnet_device_offloaded_states{device=\"eth1\"} 40\n", "sealnet_bpf_packets_total{reason=\"to_xfrm\"} 1000\n",
        "sealnet_bpf_bytes_total{reason=\"to_xfrm\"} 1500000\n",
        "sealnet_xfrm_stat_total{counter=\"XfrmOutNoStates\"} 18446744073709551615\n",
        "sealnet_xfrm_stat_total{counter=\"XfrmInError\"} 0\n",
        "sealnet_fallback_decisions_total{reason=\"offload-refused\"} 2\n",
        "sealnet_discovery_connected{backend=\"etcd\"} 0\n"})
    EXPECT_THAT(text, HasSubstr(line));
  // Per-state detail stays in /status: no SPI anywhere in the exposition.
  EXPECT_THAT(text, Not(HasSubstr("spi")));
  EXPECT_THAT(text, Not(HasSubstr("0x00000142")));
}

TEST(StatusPrometheus, EscapesLabelValues) {
  const std::string text = render_prometheus(full());
  EXPECT_THAT(text, HasSubstr(R"(sealnet_peer_info{peer="we\"ird\\name\nx",id="3",address="fd50::3",device="",mode="none"} 1)"));
  parse_exposition(text);
}

TEST(StatusPrometheus, AnEmptyStatusStillDeclaresEveryFamily) {
  const auto full_samples = parse_exposition(render_prometheus(full()));
  const std::string empty = render_prometheus(AgentStatus{});
  parse_exposition(empty);
  for (const auto& [name, line] : full_samples) EXPECT_THAT(empty, HasSubstr("# TYPE " + name + " ")) << name;
}

// --- HTTP ----------------------------------------------------------------------

uint64_t unix_now() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

struct Running {
  std::atomic<bool> ready{false};
  std::atomic<bool> stuck{false};  // the loop's last sync is 10 minutes old
  std::atomic<int> calls{0};
  std::unique_ptr<Server> server;

  Server::Provider provider() {
    return [this] {
      ++calls;
      AgentStatus s = full();
      s.ready = ready.load();
      if (!s.ready) s.last_error = "";
      s.loop.last_sync = unix_now() - (stuck ? 600 : 0);
      s.loop.sync_every = 2;
      return s;
    };
  }
};

TEST(StatusServer, ServesTheFourEndpoints) {
  Running r;
  auto server = Server::start("127.0.0.1:0", r.provider());
  ASSERT_TRUE(server) << server.error().message();
  const int port = (*server)->port();
  ASSERT_GT(port, 0);
  httplib::Client cli("127.0.0.1", port);
  cli.set_connection_timeout(2, 0);
  cli.set_read_timeout(5, 0);

  auto ready = cli.Get("/readyz");
  ASSERT_TRUE(ready) << httplib::to_string(ready.error());
  EXPECT_EQ(ready->status, 503);
  EXPECT_THAT(ready->body, HasSubstr("first reconcile not complete"));
  r.ready = true;
  ready = cli.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);

  auto health = cli.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_THAT(health->body, HasSubstr("ok: last sync"));
  r.stuck = true;
  health = cli.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 503);
  EXPECT_THAT(health->body, HasSubstr("the event loop is stuck"));
  r.stuck = false;

  auto metrics = cli.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_THAT(metrics->get_header_value("Content-Type"), HasSubstr("text/plain; version=0.0.4"));
  parse_exposition(metrics->body);
  EXPECT_THAT(metrics->body, HasSubstr("sealnet_ready 1\n"));

  auto status = cli.Get("/status");
  ASSERT_TRUE(status);
  EXPECT_EQ(status->status, 200);
  EXPECT_EQ(status->get_header_value("Content-Type"), "application/json");
  auto parsed = from_json(status->body);
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(*parsed, full());

  auto fetched = fetch("127.0.0.1:" + std::to_string(port));
  ASSERT_TRUE(fetched) << fetched.error().message();
  EXPECT_EQ(*fetched, full());

  auto post = cli.Post("/metrics", "x", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
  auto del = cli.Delete("/status");
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 405);
  auto missing = cli.Get("/nope");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_GE(r.calls.load(), 6);

  (*server)->stop();
  (*server)->stop();  // idempotent
  auto gone = fetch("127.0.0.1:" + std::to_string(port));
  ASSERT_FALSE(gone);
  EXPECT_THAT(gone.error().message(), HasSubstr("http://127.0.0.1:" + std::to_string(port) + "/status"));
  EXPECT_THAT(gone.error().message(), HasSubstr("agent running"));
}

TEST(StatusServer, ABusyPortIsAnErrorNamingTheAddress) {
  Running r;
  auto first = Server::start("127.0.0.1:0", r.provider());
  ASSERT_TRUE(first) << first.error().message();
  const std::string listen = "127.0.0.1:" + std::to_string((*first)->port());
  auto second = Server::start(listen, r.provider());
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().err, EADDRINUSE);
  EXPECT_THAT(second.error().message(), HasSubstr(listen));
  // The first one still serves.
  EXPECT_TRUE(fetch(listen));
}

TEST(StatusServer, RefusesBadListenAddresses) {
  Running r;
  for (const char* bad : {"", "127.0.0.1", "::1:9962", "localhost:9962", "127.0.0.1:65536", "127.0.0.1:x",
                          "[::1]9962", "127.0.0.1:-1"}) {
    auto s = Server::start(bad, r.provider());
    ASSERT_FALSE(s) << bad;
    EXPECT_EQ(s.error().err, EINVAL) << bad;
    EXPECT_THAT(s.error().message(), HasSubstr("ADDRESS:PORT")) << bad;
  }
  // A client may name the host; a listener binds an address.
  auto by_name = fetch("localhost:0");
  ASSERT_FALSE(by_name);
  EXPECT_THAT(by_name.error().message(), HasSubstr("ADDRESS:PORT"));
  auto none = Server::start("127.0.0.1:0", nullptr);
  EXPECT_FALSE(none);
}

TEST(StatusServer, ServesOnIpv6Loopback) {
  Running r;
  auto server = Server::start("[::1]:0", r.provider());
  if (!server && (server.error().err == EADDRNOTAVAIL || server.error().err == EAFNOSUPPORT))
    GTEST_SKIP() << "no IPv6 loopback here: " << server.error().message();
  ASSERT_TRUE(server) << server.error().message();
  auto fetched = fetch("[::1]:" + std::to_string((*server)->port()));
  ASSERT_TRUE(fetched) << fetched.error().message();
  EXPECT_EQ(fetched->node_name, "node-a");
}

TEST(StatusServer, AProviderThatThrowsIsA500) {
  auto server = Server::start("127.0.0.1:0", []() -> AgentStatus { throw std::runtime_error("boom"); });
  ASSERT_TRUE(server) << server.error().message();
  httplib::Client cli("127.0.0.1", (*server)->port());
  auto res = cli.Get("/status");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 500);
  EXPECT_THAT(res->body, HasSubstr("boom"));
}

// --- `sealnet status` ----------------------------------------------------------------

TEST(StatusMain, PrintsTheTableOrTheJson) {
  Running r;
  r.ready = true;
  auto server = Server::start("127.0.0.1:0", r.provider());
  ASSERT_TRUE(server) << server.error().message();
  const std::string ep = "127.0.0.1:" + std::to_string((*server)->port());

  testing::internal::CaptureStdout();
  EXPECT_EQ(status_main(ep, false), 0);
  const std::string table = testing::internal::GetCapturedStdout();
  EXPECT_EQ(table, render_table(full()));

  testing::internal::CaptureStdout();
  EXPECT_EQ(status_main("http://localhost:" + std::to_string((*server)->port()) + "/", true), 0);
  const std::string json = testing::internal::GetCapturedStdout();
  auto parsed = from_json(json);
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(*parsed, full());
}

TEST(StatusMain, UnreachableAgentIsExit1WithOneLine) {
  // Take a free port and let it go: nothing listens there afterwards.
  int port = 0;
  {
    Running r;
    auto s = Server::start("127.0.0.1:0", r.provider());
    ASSERT_TRUE(s) << s.error().message();
    port = (*s)->port();
  }
  testing::internal::CaptureStderr();
  testing::internal::CaptureStdout();
  EXPECT_EQ(status_main("127.0.0.1:" + std::to_string(port), false), 1);
  EXPECT_EQ(testing::internal::GetCapturedStdout(), "");
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_THAT(err, HasSubstr("sealnet status: fetch agent status from http://127.0.0.1:"));
  EXPECT_THAT(err, HasSubstr("is the sealnet agent running"));
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;

  testing::internal::CaptureStderr();
  EXPECT_EQ(status_main("nonsense", true), 1);
  EXPECT_THAT(testing::internal::GetCapturedStderr(), HasSubstr("ADDRESS:PORT"));
}

TEST(StatusMain, PeerShowsOnePeerAndAnUnknownOneIsExit1) {
  Running r;
  r.ready = true;
  auto server = Server::start("127.0.0.1:0", r.provider());
  ASSERT_TRUE(server) << server.error().message();
  const std::string ep = "127.0.0.1:" + std::to_string((*server)->port());
  testing::internal::CaptureStdout();
  EXPECT_EQ(status_main(ep, false, {.limit = TableOptions::kDefaultLimit, .peer = "192.168.50.2"}), 0);
  const std::string one = testing::internal::GetCapturedStdout();
  EXPECT_THAT(one, HasSubstr("peers (2, 1 shown: --peer 192.168.50.2)"));
  EXPECT_THAT(one, HasSubstr("  node-b  192.168.50.2"));
  EXPECT_THAT(one, Not(HasSubstr("fd50::3")));

  testing::internal::CaptureStderr();
  testing::internal::CaptureStdout();
  EXPECT_EQ(status_main(ep, false, {.limit = 5, .peer = "node-x"}), 1);
  EXPECT_EQ(testing::internal::GetCapturedStdout(), "");
  EXPECT_EQ(testing::internal::GetCapturedStderr(),
            "sealnet status: no peer \"node-x\" among the agent's 2 peers (names as `sealnet status --all` lists "
            "them)\n");
}

// --- the table at scale (5,000 peers) ------------------------------------------

AgentStatus big(size_t n) {
  AgentStatus s;
  s.node_name = "node-1";
  s.ready = true;
  for (size_t i = 0; i < n; ++i) {
    PeerStatus p;
    p.id = static_cast<uint16_t>(i + 2);
    p.name = "node-" + std::to_string(i + 2);
    p.address = "10.9." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
    p.device = "eth1";
    p.mode = i % 3 == 0 ? "packet" : "crypto";
    p.tx_key = 4;
    p.mode_reason = "probe: ok";
    p.sas = {{static_cast<uint32_t>(0x10000 + i), "out", 4, 1, 0, p.mode, "eth1", {}},
             {static_cast<uint32_t>(p.id) << 16, "in", 4, 1, 0, p.mode, "eth1", {}}};
    s.peers.push_back(std::move(p));
  }
  if (n < 5000) return s;
  // Three problems, late in the list: no state, no key, errors.
  s.peers[4000].mode = "none";
  s.peers[4000].mode_reason = "no route to the peer";
  s.peers[4500].tx_key = 0;
  s.peers[4900].in_total.integrity_errors = 7;
  return s;
}

size_t rows_of(const std::string& table, const std::string& section) {
  std::istringstream in(table);
  std::string line, at;
  size_t n = 0;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] != ' ') at = line;
    if (at.starts_with(section) && line.starts_with("  node-")) ++n;
  }
  return n;
}

TEST(StatusTable, AtScaleASummaryThenTheFirstPeersProblemsFirst) {
  const AgentStatus s = big(5000);
  const std::string t = render_table(s);
  EXPECT_THAT(t, HasSubstr("\npeers       5000: 1667 packet, 3332 crypto, 1 none; 1 sending nothing (no key), 1 with errors\n"));
  EXPECT_THAT(t, HasSubstr("\nstates      10000 (5000 out, 5000 in)\n"));
  EXPECT_THAT(t, HasSubstr("peers (5000, 20 shown: problems first; --peer NAME, --limit N or --all for more)\n"));
  EXPECT_THAT(t, HasSubstr("  ... 4980 more peers not shown\n"));
  EXPECT_THAT(t, HasSubstr("states (10000, 40 shown: those of the peers shown)\n"));
  EXPECT_EQ(rows_of(t, "peers ("), 20u);
  EXPECT_EQ(rows_of(t, "states ("), 40u);
  // The summary comes before any peer line; the three problems lead the table.
  EXPECT_LT(t.find("5000: 1667 packet"), t.find("\n  node-"));
  const size_t table_at = t.find("\npeers (5000");
  const size_t problem_1 = t.find("  node-4002 ", table_at), problem_3 = t.find("  node-4902 ", table_at);
  const size_t first_plain = t.find("  node-2 ", table_at);
  EXPECT_LT(problem_1, first_plain);
  EXPECT_LT(problem_3, first_plain);
  EXPECT_THAT(t, Not(HasSubstr("  node-23 ")));  // the 21st plain peer is hidden
  EXPECT_LT(std::count(t.begin(), t.end(), '\n'), 120);
}

TEST(StatusTable, LimitAllAndOnePeer) {
  const AgentStatus s = big(5000);
  EXPECT_EQ(rows_of(render_table(s, {.limit = 5, .peer = ""}), "peers ("), 5u);
  const std::string all = render_table(s, {.limit = SIZE_MAX, .peer = ""});
  EXPECT_EQ(rows_of(all, "peers ("), 5000u);
  EXPECT_EQ(rows_of(all, "states ("), 10000u);
  EXPECT_THAT(all, HasSubstr("\npeers (5000)\n"));
  EXPECT_THAT(all, Not(HasSubstr("more peers not shown")));

  const std::string one = render_table(s, {.limit = TableOptions::kDefaultLimit, .peer = "node-4002"});
  EXPECT_EQ(rows_of(one, "peers ("), 1u);
  EXPECT_EQ(rows_of(one, "states ("), 2u);
  EXPECT_THAT(one, HasSubstr("no route to the peer"));
  EXPECT_THAT(one, HasSubstr("peers (5000, 1 shown: --peer node-4002)"));
  EXPECT_THAT(one, Not(HasSubstr("more peers not shown")));
  // By address, and by node-<id> for a peer without a name.
  EXPECT_EQ(find_peer(s, "10.9.16.1"), &s.peers[4000]);
  AgentStatus unnamed = big(3);
  unnamed.peers[1].name = "";
  EXPECT_EQ(find_peer(unnamed, "node-3"), &unnamed.peers[1]);
  EXPECT_EQ(find_peer(unnamed, "node-99"), nullptr);
}

// --- /healthz and /readyz (datapath/status/health.h) ----------------------------

TEST(StatusHealth, AStuckLoopOrFailingReconcilesAreUnhealthy) {
  AgentStatus s;
  s.started_at = 1000;
  s.loop.sync_every = 2;
  // Starting: no sync yet, within the limit (max(60, 4 x 2)).
  EXPECT_EQ(healthz(s, 1030).body, "ok: starting\n");
  EXPECT_TRUE(healthz(s, 1060).ok);
  auto p = healthz(s, 1061);
  EXPECT_FALSE(p.ok);
  EXPECT_EQ(p.body, "unhealthy: no sync finished since the start 61s (limit 60s): the event loop is stuck\n");
  s.loop.last_sync = 1100;
  EXPECT_EQ(healthz(s, 1105).body, "ok: last sync 5s ago\n");
  EXPECT_EQ(healthz(s, 1161).body, "unhealthy: no sync finished for 61s (limit 60s): the event loop is stuck\n");
  // A big node's loop syncs every 80 s: the limit follows (4 x 80).
  s.loop.sync_every = 80;
  EXPECT_TRUE(healthz(s, 1161).ok);
  EXPECT_FALSE(healthz(s, 1421).ok);
  s.loop.sync_every = 2;

  // Failures in a row: 3 over 120 s at least.
  s.loop.last_sync = 1300;
  s.loop.failing_since = 1200;
  s.loop.failures_in_a_row = 2;
  s.last_error = "reconcile: node a: XFRM_MSG_NEWSA spi 0x00010100: Invalid argument\x1b[31m";
  EXPECT_EQ(healthz(s, 1330).body, "ok: last sync 30s ago, 2 failed in a row\n");
  s.loop.failures_in_a_row = 3;
  EXPECT_TRUE(healthz(s, 1319).ok);  // 119 s
  p = healthz(s, 1320);
  EXPECT_FALSE(p.ok);
  EXPECT_EQ(p.body.find('\x1b'), std::string::npos);  // the error's text is made printable
  EXPECT_TRUE(p.body.starts_with("unhealthy: 3 reconciles in a row failed over 120s: reconcile: node a: "
                                 "XFRM_MSG_NEWSA spi 0x00010100: Invalid argument"))
      << p.body;
  // One passes: healthy again.
  s.loop.failing_since = 0;
  s.loop.failures_in_a_row = 0;
  EXPECT_TRUE(healthz(s, 1320).ok);
  // Custom limits.
  EXPECT_FALSE(healthz(s, 1311, {.stale_after = 10}).ok);
}

TEST(StatusHealth, ReadyOnlyAfterTheFirstFullReconcile) {
  AgentStatus s;
  EXPECT_EQ(readyz(s).body, "not ready: first reconcile not complete\n");
  EXPECT_FALSE(readyz(s).ok);
  s.last_error = "reconcile: node a: peer b has no address of our outer family";
  EXPECT_EQ(readyz(s).body, "not ready: reconcile: node a: peer b has no address of our outer family\n");
  s.ready = true;
  EXPECT_EQ(readyz(s).body, "ready\n");
  EXPECT_TRUE(readyz(s).ok);
}

TEST(StatusHealth, ThePulseIsNotInTheJsonOrTheMetrics) {
  AgentStatus a = full(), b = full();
  b.loop = {1234, 1200, 7, 2};
  EXPECT_EQ(to_json(a), to_json(b));
  EXPECT_EQ(render_prometheus(a), render_prometheus(b));
}

}  // namespace
}  // namespace sealnet::status
