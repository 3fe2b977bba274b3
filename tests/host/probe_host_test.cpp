// The probe on the host kernel, in a fresh namespace per test: real rtnetlink,
// ethtool and XFRM answers. This kernel has no ESP, so the trial adds are refused
// and every verdict is software with that reason; nothing is left behind.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <nlohmann/json.hpp>
#include <cstdlib>
#include <sstream>

#include "probe/monitor.h"
#include "probe/probe.h"
#include "tests/host/netns_fixture.h"

namespace sealnet::probe {
namespace {

using testing::TestNetns;

// veth pair va/vb, vb in bridge br0, macvlan mv0 on va; a dummy when the kernel
// has the module (this host's has not).
bool make_devices(const TestNetns& ns) {
  ns.must(
      "ip link add va type veth peer name vb && ip link add br0 type bridge && "
      "ip link set vb master br0 && ip link add mv0 link va type macvlan && "
      "ip link set va up && ip link set vb up");
  return ns.sh("ip link add d0 type dummy").status == 0;
}

std::string xfrm_states(const TestNetns& ns) { return ns.must("ip xfrm state list"); }

TEST(ProbeHost, FreshNamespaceVerdictsReasonsAndNothingLeftBehind) {
  TestNetns ns;
  const bool dummy = make_devices(ns);
  Result<ProbeReport> r = fail(0, "not run");
  {
    auto scope = ns.enter();
    auto k = make_kernel();
    ASSERT_TRUE(k) << k.error().message();
    ProbeOptions opts;
    opts.trial = TrialPolicy::all;
    r = run_probe(**k, opts);
  }
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->node.leftovers_removed, 0);
  EXPECT_EQ(r->node.ipv4_forwarding, false);  // a new namespace starts with forwarding off
  EXPECT_EQ(r->devices.size(), dummy ? 6u : 5u);

  const auto* va = r->find("va");
  ASSERT_TRUE(va);
  EXPECT_EQ(va->kind, "veth");
  EXPECT_EQ(va->driver.driver, "veth");
  EXPECT_EQ(va->speed_mbps, 10000u);
  EXPECT_TRUE(va->up);
  ASSERT_TRUE(va->features.hw_offload);
  EXPECT_FALSE(va->features.hw_offload->active);
  EXPECT_TRUE(va->features.hw_offload->fixed);
  ASSERT_TRUE(va->features.segmentation);
  ASSERT_TRUE(va->features.tx_csum);
  EXPECT_TRUE(va->trialled);
  EXPECT_EQ(va->trials.size(), 8u);
  EXPECT_EQ(r->find("br0")->kind, "bridge");
  EXPECT_EQ(r->find("br0")->lower, (std::vector<std::string>{"vb"}));
  EXPECT_EQ(r->find("vb")->master, "br0");
  EXPECT_EQ(r->find("mv0")->lower, (std::vector<std::string>{"va"}));
  EXPECT_EQ(r->find("lo")->kind, "loopback");
  if (dummy) {
    EXPECT_EQ(r->find("d0")->kind, "dummy");
  }

  for (const auto& d : r->devices) {
    EXPECT_EQ(d.verdict, Verdict::software) << d.name;
    for (const auto& t : d.trials) EXPECT_TRUE(t.removed) << d.name;
  }
  if (!r->node.can_encrypt()) {
    // This host: the kernel refuses every ESP state; say so, with its words.
    EXPECT_NE(r->node.esp.reason.find("XFRM refuses ESP states"), std::string::npos) << r->node.esp.reason;
    for (const auto& t : va->trials) {
      EXPECT_FALSE(t.added);
      EXPECT_NE(t.err, 0);
      EXPECT_FALSE(t.extack.empty());
    }
    EXPECT_EQ(va->reason.rfind("the kernel cannot do ESP", 0), 0u) << va->reason;
    EXPECT_NE(va->reason.find("trial SAs refused by the kernel"), std::string::npos) << va->reason;
  } else {
    // A host with ESP: veth takes the crypto request as a software SA.
    EXPECT_NE(va->reason.find("attached no crypto offload"), std::string::npos) << va->reason;
  }
  EXPECT_EQ(xfrm_states(ns), "");
}

TEST(ProbeHost, DefaultPolicyTrialsOnlyFlaggedDevices) {
  TestNetns ns;
  make_devices(ns);
  auto scope = ns.enter();
  auto k = make_kernel();
  ASSERT_TRUE(k);
  auto r = run_probe(**k, {});
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->node.trials.size(), 2u);  // the node's software SAs
  for (const auto& d : r->devices) {
    EXPECT_FALSE(d.trialled) << d.name;  // nothing here claims ESP offload
    EXPECT_NE(d.reason.find("esp-hw-offload is off [fixed]"), std::string::npos) << d.reason;
  }
}

TEST(ProbeHost, OneDeviceAgainAndLeftoverSweep) {
  TestNetns ns;
  make_devices(ns);
  auto scope = ns.enter();
  auto k = make_kernel();
  ASSERT_TRUE(k);
  auto r = run_probe(**k, {});
  ASSERT_TRUE(r);
  const int va = r->find("va")->ifindex;
  auto one = probe_device(**k, va, r->node, {});
  ASSERT_TRUE(one) << one.error().message();
  EXPECT_EQ(one->name, "va");
  EXPECT_EQ(one->reason, r->find("va")->reason);
  // The sweep dumps the namespace's SAs; an empty namespace has none of ours.
  auto swept = (*k)->remove_leftovers();
  ASSERT_TRUE(swept) << swept.error().message();
  EXPECT_EQ(*swept, 0);
}

// ------------------------------------------------------------------ CLI --

testing::CommandResult cli(const std::string& args) {
  return testing::shell(std::string(SEALNET_CLI) + " " + args);
}

TEST(ProbeCli, TableSaysWhatThisKernelCannotDo) {
  TestNetns ns;
  make_devices(ns);
  auto r = cli("probe --netns " + ns.name());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("DEVICE"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("va "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("software"), std::string::npos);
  EXPECT_NE(r.output.find("esp-hw-offload is off [fixed]"), std::string::npos);
  if (r.output.find("ESP         NO") != std::string::npos) {
    EXPECT_NE(r.output.find("sealnet cannot encrypt here"), std::string::npos) << r.output;
  }
  EXPECT_EQ(xfrm_states(ns), "");
}

TEST(ProbeCli, JsonFollowsTheDocumentedSchema) {
  TestNetns ns;
  make_devices(ns);
  auto r = testing::shell(std::string(SEALNET_CLI) + " probe --json --trial=all --netns " + ns.name() +
                          " 2>/dev/null");
  ASSERT_EQ(r.status, 0) << r.output;
  auto j = nlohmann::json::parse(r.output, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.output;
  EXPECT_EQ(j["schema"], "sealnet-probe");
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["node"]["netns"], ns.name());
  for (const char* k : {"kernel", "can_encrypt", "esp", "aes_gcm", "esp_offload_loaded", "forwarding",
                        "leftovers_removed", "trials"})
    EXPECT_TRUE(j["node"].contains(k)) << k;
  bool saw_va = false;
  for (const auto& d : j["devices"]) {
    for (const char* k :
         {"ifindex", "name", "kind", "driver", "bus_info", "up", "carrier", "operstate", "mtu", "speed_mbps",
          "lower", "master", "features", "trialled", "trials", "verdict", "reason", "overridden"})
      EXPECT_TRUE(d.contains(k)) << k;
    if (d["name"] == "va") {
      saw_va = true;
      EXPECT_EQ(d["trials"].size(), 8u);
      EXPECT_TRUE(d["trials"][0].contains("extack"));
    }
  }
  EXPECT_TRUE(saw_va);
}

TEST(ProbeCli, NoTrialRunsNoDeviceTrials) {
  TestNetns ns;
  make_devices(ns);
  auto r = testing::shell(std::string(SEALNET_CLI) + " probe --json --no-trial --netns " + ns.name() +
                          " 2>/dev/null");
  ASSERT_EQ(r.status, 0) << r.output;
  auto j = nlohmann::json::parse(r.output);
  for (const auto& d : j["devices"]) EXPECT_EQ(d["trials"].size(), 0u) << d["name"];
}

TEST(ProbeCli, WithoutPrivilegesAClearMessageAndNonZeroExit) {
  auto r = testing::shell("setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all " +
                          std::string(SEALNET_CLI) + " probe");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("needs CAP_NET_ADMIN"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("run it as root"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("errno"), std::string::npos);
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
}

TEST(ProbeCli, UnknownNamespaceIsNamed) {
  auto r = cli("probe --netns sealnet-no-such-ns");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("cannot enter network namespace sealnet-no-such-ns"), std::string::npos)
      << r.output;
}

// --watch: the report, then one JSON line per event with the re-probed device.
TEST(ProbeCli, WatchReprobesADeviceAddedMeanwhile) {
  TestNetns ns;
  char tmpl[] = "/tmp/sealnet-watch.XXXXXX";  // our own directory: no predictable name in /tmp
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl, out = dir + "/watch.jsonl";
  auto r = testing::shell("(" + std::string(SEALNET_CLI) + " probe --json --watch 4 --netns " + ns.name() +
                          " > " + out + " 2>&1 &) ; sleep 1; ip -n " + ns.name() +
                          " link add wa type veth peer name wb; sleep 4.5; cat " + out + "; rm -rf " + dir);
  ASSERT_EQ(r.status, 0) << r.output;
  std::istringstream lines(r.output);
  std::string line;
  ASSERT_TRUE(std::getline(lines, line));
  EXPECT_EQ(nlohmann::json::parse(line)["schema"], "sealnet-probe");
  bool saw = false;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << line;
    if (j["event"] == "added" && j["name"] == "wa") {
      saw = true;
      EXPECT_EQ(j["device"]["kind"], "veth");
      EXPECT_EQ(j["device"]["verdict"], "software");
    }
  }
  EXPECT_TRUE(saw) << r.output;
}

// -------------------------------------------------------------- monitor --

bool has(const std::vector<DeviceEvent>& v, DeviceEvent::Kind k, const std::string& name) {
  return std::any_of(v.begin(), v.end(), [&](const DeviceEvent& e) { return e.kind == k && e.name == name; });
}

// Polls until an event of `kind` for `name` shows up or about 5 s pass; returns
// everything seen on the way.
std::vector<DeviceEvent> until(Monitor& m, DeviceEvent::Kind kind, const std::string& name) {
  std::vector<DeviceEvent> seen;
  for (int i = 0; i < 50 && !has(seen, kind, name); ++i) {
    auto ev = m.poll(100);
    EXPECT_TRUE(ev) << ev.error().message();
    if (!ev) break;
    seen.insert(seen.end(), ev->begin(), ev->end());
  }
  return seen;
}

TEST(ProbeMonitor, ReportsAddUpFeatureChangeDownRemove) {
  using Kind = DeviceEvent::Kind;
  TestNetns ns;
  auto scope = ns.enter();
  auto m = Monitor::make();
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->tracker().known().size(), 1u);  // lo

  ns.must("ip link add mon0 type veth peer name mon1");
  auto ev = until(*m, Kind::added, "mon1");
  EXPECT_TRUE(has(ev, Kind::added, "mon0"));
  EXPECT_TRUE(has(ev, Kind::added, "mon1"));

  ns.must("ip link set mon0 up");
  EXPECT_TRUE(has(until(*m, Kind::up, "mon0"), Kind::up, "mon0"));

  // A feature toggle arrives on the ethtool monitor group.
  ns.must("ethtool -K mon0 gro on && ethtool -K mon0 gro off");
  EXPECT_TRUE(has(until(*m, Kind::features_changed, "mon0"), Kind::features_changed, "mon0"));

  ns.must("ip link set mon0 down");
  EXPECT_TRUE(has(until(*m, Kind::down, "mon0"), Kind::down, "mon0"));

  ns.must("ip link del mon0");
  ev = until(*m, Kind::removed, "mon0");
  if (!has(ev, Kind::removed, "mon1")) {
    auto more = until(*m, Kind::removed, "mon1");
    ev.insert(ev.end(), more.begin(), more.end());
  }
  EXPECT_TRUE(has(ev, Kind::removed, "mon0"));
  EXPECT_TRUE(has(ev, Kind::removed, "mon1"));
  EXPECT_EQ(m->tracker().known().size(), 1u);
}

// Lost events (receive buffer overrun) become a resync with the differences.
TEST(ProbeMonitor, OverrunBecomesResync) {
  using Kind = DeviceEvent::Kind;
  TestNetns ns;
  auto scope = ns.enter();
  auto m = Monitor::make();
  ASSERT_TRUE(m);
  const int tiny = 1;  // the kernel rounds it up to its minimum
  for (int fd : m->fds()) ASSERT_EQ(::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &tiny, sizeof tiny), 0);
  ns.must("for i in $(seq 1 40); do ip link add r$i type veth peer name s$i; done");
  auto ev = until(*m, Kind::added, "s40");
  EXPECT_TRUE(std::any_of(ev.begin(), ev.end(), [](const DeviceEvent& e) { return e.kind == Kind::resync; }));
  EXPECT_TRUE(has(ev, Kind::added, "s40"));  // the resync found what the lost events said
  EXPECT_EQ(m->tracker().known().size(), 81u);
}

}  // namespace
}  // namespace sealnet::probe
