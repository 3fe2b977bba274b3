// The metrics as docs/status.md "Metrics" promises them: the doc's list is the
// exposition's (names, types, labels), no SPI label, bounded series that do not
// churn at a rotation, and counters that never go down (datapath/status/traffic.h).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "datapath/status.h"
#include "tests/unit/status_fixture.h"

namespace sealnet::status {
namespace {

using ::testing::ElementsAre;

struct Family {
  std::string type;
  std::set<std::string> labels;
  size_t series = 0;
};

// name -> type and the label names its samples carry.
std::map<std::string, Family> families(const std::string& text) {
  static const std::regex kLabel(R"(([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*")");
  std::map<std::string, Family> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("# TYPE ")) {
      std::istringstream f(line.substr(7));
      std::string name, type;
      f >> name >> type;
      out[name].type = type;
      continue;
    }
    if (line.empty() || line[0] == '#') continue;
    const auto brace = line.find('{');
    const auto name = line.substr(0, std::min(brace, line.find(' ')));
    auto& fam = out[name];
    ++fam.series;
    if (brace == std::string::npos) continue;
    const std::string labels = line.substr(brace, line.rfind('}') - brace);
    for (std::sregex_iterator it(labels.begin(), labels.end(), kLabel), end; it != end; ++it)
      fam.labels.insert((*it)[1]);
  }
  return out;
}

// docs/status.md's metric table: | `name` | type | labels | value |.
std::map<std::string, Family> documented() {
  std::ifstream f(std::string(SEALNET_SOURCE_DIR) + "/docs/status.md");
  EXPECT_TRUE(f) << "docs/status.md";
  std::map<std::string, Family> out;
  std::string line;
  static const std::regex kTick("`([^`]*)`");
  while (std::getline(f, line)) {
    if (!line.starts_with("| `sealnet_")) continue;
    std::vector<std::string> cells;
    std::string cell;
    for (size_t i = 1; i < line.size(); ++i) {
      if (line[i] == '|' && line[i - 1] != '\\') {
        cells.push_back(cell);
        cell.clear();
      } else {
        cell += line[i];
      }
    }
    EXPECT_GE(cells.size(), 4u) << line;
    if (cells.size() < 4) continue;
    std::smatch m;
    std::regex_search(cells[0], m, kTick);
    Family fam;
    std::istringstream(cells[1]) >> fam.type;
    // Label names: the first `name` of each comma-separated part, outside (...).
    std::string labels;
    int depth = 0;
    for (char c : cells[2]) {
      depth += c == '(' ? 1 : c == ')' ? -1 : 0;
      if (depth == 0 && c != ')') labels += c;
    }
    std::istringstream parts(labels);
    std::string part;
    while (std::getline(parts, part, ',')) {
      std::smatch l;
      if (std::regex_search(part, l, kTick)) fam.labels.insert(l[1]);
    }
    EXPECT_FALSE(out.contains(m[1])) << "listed twice: " << m[1];
    out[m[1]] = fam;
  }
  return out;
}

TEST(StatusMetricsDoc, TheDocsListIsTheExposition) {
  const auto doc = documented();
  const auto exp = families(render_prometheus(testing::realistic_status(50)));
  ASSERT_GT(doc.size(), 30u);
  for (const auto& [name, fam] : exp) {
    ASSERT_TRUE(doc.contains(name)) << name << " is exposed but not in docs/status.md";
    EXPECT_EQ(doc.at(name).type, fam.type) << name;
    EXPECT_EQ(doc.at(name).labels, fam.labels) << name;
    EXPECT_GT(fam.series, 0u) << name << " has no sample in the realistic model";
  }
  for (const auto& [name, fam] : doc)
    EXPECT_TRUE(exp.contains(name)) << name << " is documented, not exposed";
}

TEST(StatusMetricsDoc, TheDocsJsonExampleIsAStatusThisSealnetReads) {
  std::ifstream f(std::string(SEALNET_SOURCE_DIR) + "/docs/status.md");
  const std::string doc((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const auto from = doc.find("```json\n"), to = doc.find("\n```", from + 8);
  ASSERT_NE(from, std::string::npos);
  auto s = from_json(doc.substr(from + 8, to - from - 8));
  ASSERT_TRUE(s) << s.error().message();
  ASSERT_EQ(s->peers.size(), 1u);
  EXPECT_EQ(s->peers[0].out_since_start.bytes, 7'000'000u);
  EXPECT_EQ(s->traffic.size(), 2u);
  EXPECT_EQ(s->bpf_drop_reasons.size(), 8u);
  // The drop reasons it lists are those of the metrics' doc.
  EXPECT_NE(doc.find("`malformed`, `unknown-node`, `no-key`, `unknown-device`, `fib-failed`,\n  "
                     "`plaintext-to-remote`, `node-no-address`, `host-misrouted`"),
            std::string::npos);
}

TEST(StatusMetrics, NoSpiLabelAndBoundedSeries) {
  for (size_t n : {10u, 5000u}) {
    const auto exp = families(render_prometheus(testing::realistic_status(n)));
    size_t series = 0;
    for (const auto& [name, fam] : exp) {
      EXPECT_FALSE(fam.labels.contains("spi")) << name;
      EXPECT_FALSE(fam.labels.contains("key") && name.starts_with("sealnet_peer")) << name;
      series += fam.series;
    }
    // O(devices x modes + reasons + peers): 9 per peer (info, tx key, 2+2
    // traffic, 3 errors) plus a bounded rest.
    EXPECT_LE(series, 9 * n + 150) << n << " peers";
  }
}

std::set<std::string> series_names(const std::string& text) {
  std::set<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty() && line[0] != '#') out.insert(line.substr(0, line.rfind(' ')));
  return out;
}

TEST(StatusMetrics, ARotationMakesNoNewSeries) {
  TrafficBook book;
  auto before = testing::fixture_look(100, 0);
  book.account(before);
  auto after = testing::fixture_look(100, 1);
  book.account(after);
  EXPECT_EQ(series_names(render_prometheus(before)), series_names(render_prometheus(after)));
}

TEST(StatusTraffic, CountersNeverGoDownAcrossRotationAndRestartedStates) {
  AgentStatus s;
  PeerStatus p;
  p.id = 2;
  p.device = "eth0";
  p.sas = {{0x100, "out", 3, 0, 0, "software", "", {10, 1000, 0, 0, 0}},
           {0x200, "in", 3, 0, 0, "crypto", "eth1", {5, 500, 1, 0, 0}}};
  s.peers = {p};
  TrafficBook book;
  book.account(s);
  EXPECT_EQ(s.peers[0].out_since_start, (SaCounters{10, 1000, 0, 0, 0}));
  EXPECT_EQ(s.peers[0].in_since_start, (SaCounters{5, 500, 1, 0, 0}));
  ASSERT_EQ(s.traffic.size(), 2u);
  EXPECT_EQ(s.traffic[0], (TrafficStatus{"eth0", "software", "out", 1, {10, 1000, 0, 0, 0}}));
  EXPECT_EQ(s.traffic[1], (TrafficStatus{"eth1", "crypto", "in", 1, {5, 500, 1, 0, 0}}));

  // Rotation: 0x100 gone (its 15 packets stay counted), 0x300 new; 0x200
  // re-added by the kernel under the same SPI (counters from zero again).
  s.peers[0].sas = {{0x100, "out", 3, 0, 0, "software", "", {15, 1500, 0, 0, 0}},
                    {0x200, "in", 3, 0, 0, "crypto", "eth1", {7, 700, 1, 0, 0}}};
  book.account(s);
  s.peers[0].sas = {{0x300, "out", 4, 0, 0, "software", "", {4, 400, 0, 0, 0}},
                    {0x200, "in", 3, 0, 0, "crypto", "eth1", {1, 100, 0, 0, 0}}};
  book.account(s);
  EXPECT_EQ(s.peers[0].out_since_start, (SaCounters{19, 1900, 0, 0, 0}));
  EXPECT_EQ(s.peers[0].in_since_start, (SaCounters{8, 800, 1, 0, 0}));
  EXPECT_EQ(s.traffic[0].since_start.bytes, 1900u);
  EXPECT_EQ(s.traffic[0].states, 1u);

  // The peer's route leaves the uplink: the software state's traffic counts
  // under "none" from now on, eth0's stays (with no state).
  s.peers[0].device = "";
  s.peers[0].sas[0].counters = {6, 600, 0, 0, 0};
  book.account(s);
  std::map<std::string, TrafficStatus> by;
  for (const auto& t : s.traffic) by[t.device + "/" + t.dir] = t;
  EXPECT_EQ(by["eth0/out"].since_start.bytes, 1900u);
  EXPECT_EQ(by["eth0/out"].states, 0u);
  EXPECT_EQ(by["none/out"].since_start.bytes, 200u);
  EXPECT_EQ(s.peers[0].out_since_start.bytes, 2100u);

  // A peer that goes is forgotten; one that comes back starts from its states.
  AgentStatus empty;
  book.account(empty);
  book.account(s);
  EXPECT_EQ(s.peers[0].out_since_start.bytes, 600u);
}

TEST(StatusMetrics, TheRealisticModelCountsWhatItsStatesEncrypted) {
  const auto s = testing::realistic_status(100);
  const std::string text = render_prometheus(s);
  for (const auto& [dev, mode] :
       {std::pair{"eth1", "crypto"}, {"eth2", "packet"}, {"eth0", "software"}, {"none", "software"}}) {
    const std::string line = "sealnet_encrypted_bytes_total{device=\"" + std::string(dev) + "\",mode=\"" +
                             mode + "\"} " +
                             std::to_string(testing::realistic_encrypted_bytes(100, dev, mode)) + "\n";
    EXPECT_THAT(text, ::testing::HasSubstr(line));
    EXPECT_GT(testing::realistic_encrypted_bytes(100, dev, mode), 0u) << dev << " " << mode;
  }
}

// The datapath's event counters (docs/events.md): what a dashboard's "events
// lost" panel plots, by cause.
TEST(StatusMetrics, EventsWrittenAndLostByCause) {
  auto s = testing::realistic_status(3);
  s.events.drops = true;
  s.events.sent = 1234;
  s.events.lost = 5;
  s.events.rate_limited = 77;
  const std::string text = render_prometheus(s);
  EXPECT_THAT(text, ::testing::HasSubstr("# TYPE sealnet_events_lost_total counter\n"));
  EXPECT_THAT(text, ::testing::HasSubstr("sealnet_events_sent_total 1234\n"));
  EXPECT_THAT(text, ::testing::HasSubstr("sealnet_events_lost_total{cause=\"ring-buffer-full\"} 5\n"));
  EXPECT_THAT(text, ::testing::HasSubstr("sealnet_events_lost_total{cause=\"rate-limited\"} 77\n"));
}

}  // namespace
}  // namespace sealnet::status
