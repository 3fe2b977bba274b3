// The probe's policy against a fake kernel: node facts from the software trials,
// verdicts and reasons per device, which trials run, and the report's JSON.
#include <gtest/gtest.h>
#include <linux/if.h>

#include <functional>

#include "probe/probe.h"
#include "probe/render.h"

namespace sealnet::probe {
namespace {

using xfrm::Direction;
using xfrm::OffloadInfo;
using xfrm::OffloadMode;

FeatureState flag(bool on, bool fixed) { return {on, on, !fixed, fixed}; }

// A kernel whose answers the test sets: devices, flags, and a function that
// decides each trial as a given kernel and driver would.
class FakeKernel : public ProbeKernel {
 public:
  std::vector<LinkInfo> links_;
  std::map<int, FeatureSet> features_;
  std::map<std::string, DriverInfo> drivers_;
  std::map<std::string, std::string> files_;
  std::function<TrialOutcome(const TrialSpec&)> trial = [](const TrialSpec& s) {
    TrialOutcome o;
    o.spec = s;
    o.added = true;
    o.removed = true;
    return o;
  };
  int leftovers = 0;
  int trial_batches = 0;
  std::vector<TrialSpec> trials_seen;

  Result<std::vector<LinkInfo>> links() override { return links_; }
  Result<FeatureSet> features(int ifindex) override {
    auto it = features_.find(ifindex);
    if (it == features_.end()) return fail(EOPNOTSUPP, "ETHTOOL_MSG_FEATURES_GET");
    return it->second;
  }
  Result<DriverInfo> driver(const std::string& name) override {
    auto it = drivers_.find(name);
    if (it == drivers_.end()) return fail(EOPNOTSUPP, "ETHTOOL_GDRVINFO", name);
    return it->second;
  }
  Result<LinkSpeed> speed(int) override { return LinkSpeed{25000, 1}; }
  Result<std::vector<TrialOutcome>> run_trials(const std::vector<TrialSpec>& specs) override {
    ++trial_batches;
    std::vector<TrialOutcome> out;
    for (const auto& s : specs) {
      trials_seen.push_back(s);
      out.push_back(trial(s));
    }
    return out;
  }
  Result<int> remove_leftovers() override { return leftovers; }
  Result<std::string> read_file(const std::string& path) override {
    auto it = files_.find(path);
    if (it == files_.end()) return fail(ENOENT, "read", path);
    return it->second;
  }

  void add(int ifindex, const std::string& name, const std::string& kind, const std::string& driver,
           FeatureState esp, std::optional<int> master = {}, std::optional<int> link = {}) {
    LinkInfo l;
    l.ifindex = ifindex;
    l.name = name;
    l.kind = kind;
    l.flags = IFF_UP | IFF_LOWER_UP;
    l.mtu = 1500;
    l.master = master;
    l.link = link;
    links_.push_back(l);
    features_[ifindex].ifindex = ifindex;
    features_[ifindex].features["esp-hw-offload"] = esp;
    features_[ifindex].features["esp-tx-csum-hw-offload"] = esp;
    features_[ifindex].features["tx-esp-segmentation"] = flag(false, true);
    drivers_[name] = {driver, kind.empty() && driver != "netdevsim" ? "0000:3b:00.0" : "", "1", ""};
  }
};

TrialOutcome refused(const TrialSpec& s, int err, std::string extack) {
  TrialOutcome o;
  o.spec = s;
  o.err = err;
  o.extack = std::move(extack);
  o.removed = true;
  return o;
}

TrialOutcome added(const TrialSpec& s, std::optional<OffloadInfo> readback) {
  TrialOutcome o;
  o.spec = s;
  o.added = true;
  o.readback = readback;
  o.removed = true;
  return o;
}

uint8_t flags_for(const TrialSpec& s) {
  return static_cast<uint8_t>((s.dir == Direction::in ? XFRM_OFFLOAD_INBOUND : 0) |
                              (s.mode == OffloadMode::packet ? XFRM_OFFLOAD_PACKET : 0));
}

// The guest kernel's behaviour, as docs/kernel-facts.md records it: software SAs work;
// netdevsim takes crypto offload and refuses packet offload; veth and anything
// without xfrmdev_ops gets a software SA for crypto and EINVAL for packet.
TrialOutcome vm_kernel(const TrialSpec& s, int netdevsim_ifindex) {
  if (s.mode == OffloadMode::none) return added(s, std::nullopt);
  if (s.ifindex == netdevsim_ifindex) {
    if (s.mode == OffloadMode::packet) return refused(s, EINVAL, "netdevsim: Unsupported ipsec offload type");
    return added(s, OffloadInfo{s.ifindex, flags_for(s)});
  }
  if (s.mode == OffloadMode::packet) return refused(s, EINVAL, "");
  return added(s, std::nullopt);
}

// This host: no AES-GCM (the AEAD is looked up first), no ESP.
TrialOutcome host_kernel(const TrialSpec& s) {
  if (s.null_cipher) return refused(s, EPROTONOSUPPORT, "Requested type not found");
  return refused(s, ENOSYS, "Requested AEAD algorithm not found");
}

NodeFacts capable_node() {
  NodeFacts n;
  n.esp = {true, "ok", {}};
  n.aes_gcm = {true, "ok", {}};
  return n;
}

DeviceReport device(FeatureState esp) {
  DeviceReport d;
  d.ifindex = 5;
  d.name = "eth1";
  d.features.hw_offload = esp;
  return d;
}

void run_trials_on(DeviceReport& d, TrialPolicy policy,
                   const std::function<TrialOutcome(const TrialSpec&)>& kernel) {
  for (const auto& s : plan_trials(d, policy, supported_algorithms())) d.trials.push_back(kernel(s));
  d.trialled = !d.trials.empty();
}

// ------------------------------------------------------------ node facts --

TEST(JudgeNode, HostWithoutEspOrGcm) {
  NodeEvidence ev;
  TrialSpec aead{0, supported_algorithms()[0], OffloadMode::none, Direction::out, false};
  TrialSpec null = aead;
  null.null_cipher = true;
  ev.aead_trial = host_kernel(aead);
  ev.null_trial = host_kernel(null);
  ev.proc_crypto = "name         : cbc(aes)\ndriver       : cbc(aes-generic)\n";
  NodeFacts f;
  judge_node(ev, f);
  EXPECT_FALSE(f.esp.available);
  EXPECT_NE(f.esp.reason.find("XFRM refuses ESP states"), std::string::npos) << f.esp.reason;
  EXPECT_NE(f.esp.reason.find("Requested type not found"), std::string::npos);
  EXPECT_FALSE(f.aes_gcm.available);
  EXPECT_NE(f.aes_gcm.reason.find("Requested AEAD algorithm not found"), std::string::npos);
  EXPECT_FALSE(f.can_encrypt());
  EXPECT_FALSE(f.aes_gcm.evidence.empty());
}

TEST(JudgeNode, GcmMissingButEspPresent) {
  NodeEvidence ev;
  TrialSpec aead{0, supported_algorithms()[0], OffloadMode::none, Direction::out, false};
  TrialSpec null = aead;
  null.null_cipher = true;
  ev.aead_trial = refused(aead, ENOSYS, "Requested AEAD algorithm not found");
  ev.null_trial = added(null, std::nullopt);
  ev.esp4_module = true;
  NodeFacts f;
  judge_node(ev, f);
  EXPECT_TRUE(f.esp.available);
  EXPECT_FALSE(f.aes_gcm.available);
  EXPECT_FALSE(f.can_encrypt());
}

TEST(JudgeNode, WorkingSoftwareSaMeansBoth) {
  NodeEvidence ev;
  TrialSpec aead{0, supported_algorithms()[0], OffloadMode::none, Direction::out, false};
  ev.aead_trial = added(aead, std::nullopt);
  NodeFacts f;
  judge_node(ev, f);
  EXPECT_TRUE(f.esp.available);
  EXPECT_TRUE(f.aes_gcm.available);
  EXPECT_TRUE(f.can_encrypt());
}

// --------------------------------------------------------------- devices --

TEST(PlanTrials, FollowsThePolicy) {
  auto off = device(flag(false, true));
  EXPECT_TRUE(plan_trials(off, TrialPolicy::flagged, supported_algorithms()).empty());
  EXPECT_EQ(plan_trials(off, TrialPolicy::all, supported_algorithms()).size(), 8u);
  auto on = device(flag(true, true));
  EXPECT_TRUE(plan_trials(on, TrialPolicy::none, supported_algorithms()).empty());
  auto specs = plan_trials(on, TrialPolicy::flagged, supported_algorithms());
  ASSERT_EQ(specs.size(), 8u);  // 2 algorithms x packet/crypto x out/in
  EXPECT_EQ(specs[0].mode, OffloadMode::packet);
  EXPECT_EQ(specs[1].dir, Direction::in);
  EXPECT_EQ(specs[4].alg.key_bits, 256u);
  for (const auto& s : specs) EXPECT_EQ(s.ifindex, 5);
}

TEST(JudgeDevice, FlagOffMeansSoftwareWithoutTrial) {
  auto d = device(flag(false, true));
  auto j = judge_device(d, capable_node(), TrialPolicy::flagged, supported_algorithms());
  EXPECT_EQ(j.verdict, Verdict::software);
  EXPECT_EQ(j.reason, "esp-hw-offload is off [fixed]: the driver cannot offload ESP");
}

TEST(JudgeDevice, FlagOffButChangeableSaysHowToEnable) {
  auto d = device(flag(false, false));
  auto j = judge_device(d, capable_node(), TrialPolicy::flagged, supported_algorithms());
  EXPECT_EQ(j.verdict, Verdict::software);
  EXPECT_NE(j.reason.find("ethtool -K eth1 esp-hw-offload on"), std::string::npos) << j.reason;
}

TEST(JudgeDevice, NetdevsimIsCryptoOffloadWithPacketRefusal) {
  auto d = device(flag(true, true));
  run_trials_on(d, TrialPolicy::flagged, [](const TrialSpec& s) { return vm_kernel(s, 5); });
  auto j = judge_device(d, capable_node(), TrialPolicy::flagged, supported_algorithms());
  EXPECT_EQ(j.verdict, Verdict::crypto_offload);
  EXPECT_NE(j.reason.find("crypto offload attached in and out for rfc4106(gcm(aes)) 128, "
                          "rfc4106(gcm(aes)) 256"),
            std::string::npos)
      << j.reason;
  EXPECT_NE(j.reason.find("driver refused packet offload: Invalid argument (netdevsim: "
                          "Unsupported ipsec offload type)"),
            std::string::npos)
      << j.reason;
}

// A bond or vmxnet3: the flag says yes, the kernel makes a software SA.
TEST(JudgeDevice, LyingFlagIsCaughtByTheReadBack) {
  auto d = device(flag(true, true));
  run_trials_on(d, TrialPolicy::flagged, [](const TrialSpec& s) { return vm_kernel(s, 99); });
  auto j = judge_device(d, capable_node(), TrialPolicy::flagged, supported_algorithms());
  EXPECT_EQ(j.verdict, Verdict::software);
  EXPECT_NE(j.reason.find("flag on but the kernel attached no crypto offload"), std::string::npos)
      << j.reason;
}

TEST(JudgeDevice, VethWithTrialAllHasNoOffload) {
  auto d = device(flag(false, true));
  run_trials_on(d, TrialPolicy::all, [](const TrialSpec& s) { return vm_kernel(s, 99); });
  auto j = judge_device(d, capable_node(), TrialPolicy::all, supported_algorithms());
  EXPECT_EQ(j.verdict, Verdict::software);
  EXPECT_NE(j.reason.find("the kernel attached no crypto offload"), std::string::npos) << j.reason;
  EXPECT_NE(j.reason.find("esp-hw-offload is off"), std::string::npos);
}

TEST(JudgeDevice, PacketOffloadWins) {
  auto d = device(flag(true, false));
  run_trials_on(d, TrialPolicy::flagged, [](const TrialSpec& s) {
    return added(s, OffloadInfo{s.ifindex, flags_for(s)});
  });
  auto j = judge_device(d, capable_node(), TrialPolicy::flagged, supported_algorithms());
  EXPECT_EQ(j.verdict, Verdict::packet_offload);
  EXPECT_NE(j.reason.find("crypto offload works too"), std::string::npos) << j.reason;
}

TEST(JudgeDevice, AttachedWhileFlagOffStaysSoftware) {
  auto d = device(flag(false, false));
  run_trials_on(d, TrialPolicy::all, [](const TrialSpec& s) {
    return s.mode == OffloadMode::crypto ? added(s, OffloadInfo{s.ifindex, flags_for(s)})
                                         : refused(s, EOPNOTSUPP, "");
  });
  auto j = judge_device(d, capable_node(), TrialPolicy::all, supported_algorithms());
  EXPECT_EQ(j.verdict, Verdict::software);
  EXPECT_NE(j.reason.find("the driver accepted crypto offload but esp-hw-offload is off"), std::string::npos)
      << j.reason;
}

TEST(JudgeDevice, OffloadOnAnotherDeviceDoesNotCount) {
  auto d = device(flag(true, true));
  run_trials_on(d, TrialPolicy::flagged, [](const TrialSpec& s) {
    return s.mode == OffloadMode::crypto ? added(s, OffloadInfo{7, flags_for(s)}) : refused(s, EINVAL, "");
  });
  auto j = judge_device(d, capable_node(), TrialPolicy::flagged, supported_algorithms());
  EXPECT_EQ(j.verdict, Verdict::software);
  EXPECT_NE(j.reason.find("on ifindex 7"), std::string::npos) << j.reason;
}

TEST(JudgeDevice, OneDirectionOnlyIsNotEnough) {
  auto d = device(flag(true, true));
  run_trials_on(d, TrialPolicy::flagged, [](const TrialSpec& s) {
    if (s.mode == OffloadMode::crypto && s.dir == Direction::out)
      return added(s, OffloadInfo{s.ifindex, flags_for(s)});
    if (s.mode == OffloadMode::crypto) return added(s, std::nullopt);
    return refused(s, EINVAL, "");
  });
  auto j = judge_device(d, capable_node(), TrialPolicy::flagged, supported_algorithms());
  EXPECT_EQ(j.verdict, Verdict::software);
}

TEST(JudgeDevice, FlagWithoutTrialIsNotTrusted) {
  auto d = device(flag(true, true));
  auto j = judge_device(d, capable_node(), TrialPolicy::none, supported_algorithms());
  EXPECT_EQ(j.verdict, Verdict::software);
  EXPECT_NE(j.reason.find("not confirmed"), std::string::npos) << j.reason;
}

TEST(JudgeDevice, KernelWithoutEspSaysSoOnceWithTheRefusal) {
  auto d = device(flag(false, true));
  run_trials_on(d, TrialPolicy::all, host_kernel);
  NodeFacts n;  // nothing available
  auto j = judge_device(d, n, TrialPolicy::all, supported_algorithms());
  EXPECT_EQ(j.verdict, Verdict::software);
  EXPECT_EQ(j.reason,
            "the kernel cannot do ESP; esp-hw-offload is off [fixed]: the driver cannot offload ESP; "
            "trial SAs refused by the kernel: Function not implemented (Requested AEAD algorithm "
            "not found)");
}

TEST(JudgeDevice, UnreadableFeaturesAreNamed) {
  DeviceReport d;
  d.name = "x";
  d.features_error = "ETHTOOL_MSG_FEATURES_GET: Operation not supported";
  auto j = judge_device(d, capable_node(), TrialPolicy::flagged, supported_algorithms());
  EXPECT_EQ(j.verdict, Verdict::software);
  EXPECT_NE(j.reason.find("ethtool features unreadable"), std::string::npos);
}

TEST(DeviceKind, FromLinkKindOrDriver) {
  LinkInfo l;
  EXPECT_EQ(device_kind(l, {"mlx5_core", "0000:3b:00.0", "", ""}), "physical");
  EXPECT_EQ(device_kind(l, {"netdevsim", "", "", ""}), "netdevsim");
  l.flags = IFF_LOOPBACK;
  EXPECT_EQ(device_kind(l, {}), "loopback");
  l.kind = "bond";
  EXPECT_EQ(device_kind(l, {"bonding", "", "", ""}), "bond");
}

// ---------------------------------------------------------- whole probe --

FakeKernel vm_node() {
  FakeKernel k;
  k.add(1, "lo", "", "", flag(false, true));
  k.links_[0].flags |= IFF_LOOPBACK;
  k.add(2, "eth0", "", "mlx5_core", flag(false, false), 4);
  k.add(3, "eth1", "", "mlx5_core", flag(false, false), 4);
  k.add(4, "bond0", "bond", "bonding", flag(true, false));  // bonds advertise the flag
  k.add(5, "bond0.7", "vlan", "802.1Q VLAN Support", flag(false, true), {}, 4);
  k.add(6, "eni0", "", "netdevsim", flag(true, true));
  k.files_["/proc/sys/kernel/osrelease"] = "6.12.0\n";
  k.files_["/proc/sys/net/ipv4/ip_forward"] = "1\n";
  k.files_["/proc/sys/net/ipv6/conf/all/forwarding"] = "0\n";
  k.files_["/sys/module/esp4/initstate"] = "live\n";
  k.trial = [](const TrialSpec& s) { return vm_kernel(s, 6); };
  return k;
}

TEST(RunProbe, WholeNodeWithFakes) {
  auto k = vm_node();
  k.leftovers = 2;
  ProbeOptions opts;
  auto r = run_probe(k, opts);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->node.kernel_release, "6.12.0");
  EXPECT_EQ(r->node.leftovers_removed, 2);
  EXPECT_EQ(r->node.ipv4_forwarding, true);
  EXPECT_EQ(r->node.ipv6_forwarding, false);
  EXPECT_TRUE(r->node.can_encrypt());
  EXPECT_EQ(r->node.esp_offload_loaded, false);
  ASSERT_EQ(r->devices.size(), 6u);

  const auto* nsim = r->find("eni0");
  ASSERT_TRUE(nsim);
  EXPECT_EQ(nsim->kind, "netdevsim");
  EXPECT_EQ(nsim->verdict, Verdict::crypto_offload);
  EXPECT_EQ(nsim->trials.size(), 8u);
  EXPECT_EQ(nsim->speed_mbps, 25000u);

  const auto* bond = r->find("bond0");
  ASSERT_TRUE(bond);
  EXPECT_EQ(bond->verdict, Verdict::software);
  EXPECT_EQ(bond->lower, (std::vector<std::string>{"eth0", "eth1"}));
  EXPECT_NE(bond->reason.find("attached no crypto offload"), std::string::npos) << bond->reason;

  const auto* vlan = r->find("bond0.7");
  ASSERT_TRUE(vlan);
  EXPECT_EQ(vlan->lower, (std::vector<std::string>{"bond0"}));
  EXPECT_FALSE(vlan->trialled);

  const auto* eth0 = r->find("eth0");
  ASSERT_TRUE(eth0);
  EXPECT_EQ(eth0->kind, "physical");
  EXPECT_EQ(eth0->master, "bond0");
  EXPECT_EQ(r->find("lo")->kind, "loopback");

  // Two node trials, then every device trial in one batch.
  EXPECT_EQ(k.trial_batches, 2);
  EXPECT_EQ(k.trials_seen.size(), 2u + 16u);
}

TEST(RunProbe, NoTrialRunsOnlyTheNodeTrials) {
  auto k = vm_node();
  ProbeOptions opts;
  opts.trial = TrialPolicy::none;
  auto r = run_probe(k, opts);
  ASSERT_TRUE(r);
  EXPECT_EQ(k.trials_seen.size(), 2u);
  EXPECT_EQ(r->find("eni0")->verdict, Verdict::software);
}

TEST(RunProbe, OverridesWinAndSaySo) {
  auto k = vm_node();
  ProbeOptions opts;
  opts.overrides["eni0"] = Verdict::software;
  auto r = run_probe(k, opts);
  ASSERT_TRUE(r);
  const auto* d = r->find("eni0");
  EXPECT_EQ(d->verdict, Verdict::software);
  EXPECT_TRUE(d->overridden);
  EXPECT_NE(d->reason.find("the probe said crypto-offload"), std::string::npos) << d->reason;
}

TEST(RunProbe, ProbeOneDeviceAndUpdateTheReport) {
  auto k = vm_node();
  ProbeOptions opts;
  auto r = run_probe(k, opts);
  ASSERT_TRUE(r);
  k.add(7, "eni1", "", "netdevsim", flag(true, true));
  k.trial = [](const TrialSpec& s) { return vm_kernel(s, 7); };
  auto one = probe_device(k, 7, r->node, opts);
  ASSERT_TRUE(one) << one.error().message();
  EXPECT_EQ(one->verdict, Verdict::crypto_offload);
  r->update(*one);
  EXPECT_EQ(r->devices.size(), 7u);
  r->remove(7);
  EXPECT_FALSE(r->find(7));
  EXPECT_EQ(probe_device(k, 42, r->node, opts).error().err, ENODEV);
}

TEST(RunProbe, KernelErrorsPropagate) {
  struct Broken : FakeKernel {
    Result<int> remove_leftovers() override { return fail(EPERM, "XFRM_MSG_GETSA", "dump"); }
  } k;
  auto r = run_probe(k, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().err, EPERM);
}

TEST(Render, JsonSchemaFieldsAndTable) {
  auto k = vm_node();
  auto r = run_probe(k, {});
  ASSERT_TRUE(r);
  auto j = to_json(*r);
  EXPECT_EQ(j["schema"], "sealnet-probe");
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["node"]["can_encrypt"], true);
  EXPECT_EQ(j["node"]["forwarding"]["ipv4"], true);
  ASSERT_EQ(j["devices"].size(), 6u);
  const auto& nsim = j["devices"][5];
  EXPECT_EQ(nsim["name"], "eni0");
  EXPECT_EQ(nsim["verdict"], "crypto-offload");
  EXPECT_EQ(nsim["features"]["esp-hw-offload"]["active"], true);
  EXPECT_EQ(nsim["features"]["esp-hw-offload"]["fixed"], true);
  ASSERT_EQ(nsim["trials"].size(), 8u);
  EXPECT_EQ(nsim["trials"][0]["mode"], "packet");
  EXPECT_EQ(nsim["trials"][0]["errno"], EINVAL);
  EXPECT_EQ(nsim["trials"][0]["extack"], "netdevsim: Unsupported ipsec offload type");
  EXPECT_EQ(nsim["trials"][2]["readback"]["mode"], "crypto");
  EXPECT_EQ(nsim["trials"][2]["attached"], true);
  EXPECT_EQ(j["devices"][0]["speed_mbps"], 25000);

  const std::string table = render_table(*r);
  EXPECT_NE(table.find("eni0"), std::string::npos);
  EXPECT_NE(table.find("crypto-offload"), std::string::npos);
  EXPECT_NE(table.find(nsim["reason"].get<std::string>()), std::string::npos);
  EXPECT_EQ(table.find("cannot encrypt"), std::string::npos);
}

TEST(Render, TableSaysWhenTheNodeCannotEncrypt) {
  FakeKernel k;
  k.add(1, "lo", "", "", flag(false, true));
  k.trial = host_kernel;
  auto r = run_probe(k, {});
  ASSERT_TRUE(r);
  EXPECT_NE(render_table(*r).find("sealnet cannot encrypt here: the kernel cannot do ESP"),
            std::string::npos);
}

TEST(Verdict, NamesRoundTrip) {
  for (Verdict v : {Verdict::software, Verdict::crypto_offload, Verdict::packet_offload})
    EXPECT_EQ(parse_verdict(to_string(v)), v);
  EXPECT_FALSE(parse_verdict("fast"));
}

TEST(TrialSa, ReservedRangeAndReqidMarkLeftovers) {
  xfrm::SaInfo sa;
  sa.id.spi = kTrialSpiFirst;
  sa.reqid = kTrialReqid;
  EXPECT_TRUE(is_trial_sa(sa));
  sa.reqid = 1;
  EXPECT_FALSE(is_trial_sa(sa));  // someone else's SA in that range: not ours to delete
  sa.reqid = kTrialReqid;
  sa.id.spi = kTrialSpiFirst - 1;
  EXPECT_FALSE(is_trial_sa(sa));
}

}  // namespace
}  // namespace sealnet::probe
