#include "probe/probe.h"

#include <linux/if.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace sealnet::probe {

using xfrm::Direction;
using xfrm::OffloadMode;

const char* to_string(Verdict v) {
  switch (v) {
    case Verdict::software:
      return "software";
    case Verdict::crypto_offload:
      return "crypto-offload";
    case Verdict::packet_offload:
      return "packet-offload";
  }
  return "?";
}

std::optional<Verdict> parse_verdict(const std::string& s) {
  for (Verdict v : {Verdict::software, Verdict::crypto_offload, Verdict::packet_offload})
    if (s == to_string(v)) return v;
  return std::nullopt;
}

std::string Algorithm::label() const { return name + " " + std::to_string(key_bits); }

const std::vector<Algorithm>& supported_algorithms() {
  // RFC 4106 AES-GCM with the full 16-byte ICV: the only AEAD every offloading
  // NIC we know of (and netdevsim) accepts.
  static const std::vector<Algorithm> algs = {{"rfc4106(gcm(aes))", 128, 128},
                                              {"rfc4106(gcm(aes))", 256, 128}};
  return algs;
}

bool is_trial_sa(const xfrm::SaInfo& sa) {
  return sa.id.spi >= kTrialSpiFirst && sa.id.spi <= kTrialSpiLast && sa.reqid == kTrialReqid;
}

Result<nl::Bytes> encode_leftover_dump() {
  auto src = IpAddr::parse(kTrialSrc);
  auto dst = IpAddr::parse(kTrialDst);
  if (!src || !dst) return fail(EINVAL, "trial addresses");
  return xfrm::encode_dump_sa(xfrm::SaDumpFilter{IpPrefix::host(*src), IpPrefix::host(*dst), IPPROTO_ESP});
}

Result<std::vector<nl::Bytes>> leftover_deletes(const std::vector<nl::Bytes>& dump) {
  auto src = IpAddr::parse(kTrialSrc);
  auto dst = IpAddr::parse(kTrialDst);
  if (!src || !dst) return fail(EINVAL, "trial addresses");
  std::vector<nl::Bytes> dels;
  for (const auto& m : dump) {
    auto views = nl::split_messages(m);
    if (!views) return std::unexpected(views.error());
    for (const auto& v : *views) {
      auto sa = xfrm::decode_sa(v);
      if (!sa || !is_trial_sa(*sa) || sa->saddr != *src || sa->id.daddr != *dst) continue;
      auto del = xfrm::encode_delete_sa(sa->id, sa->mark);
      if (!del) return std::unexpected(del.error());
      dels.push_back(std::move(*del));
    }
  }
  return dels;
}

bool TrialOutcome::attached() const {
  return added && readback && readback->ifindex == spec.ifindex && readback->mode() == spec.mode &&
         readback->dir() == spec.dir;
}

// ------------------------------------------------------------ node facts --

namespace {

std::string refusal(const TrialOutcome& t) {
  std::string s = t.err ? std::strerror(t.err) : "refused";
  if (!t.extack.empty()) s += " (" + t.extack + ")";
  return s;
}

bool mentions(const std::string& text, const char* word) { return text.find(word) != std::string::npos; }

bool proc_crypto_lists(const std::string& text, const std::string& name) {
  size_t pos = 0;
  while ((pos = text.find("name", pos)) != std::string::npos) {
    const size_t colon = text.find(':', pos);
    const size_t eol = text.find('\n', pos);
    pos = eol;
    if (colon == std::string::npos || colon > eol) continue;
    std::string v = text.substr(colon + 1, eol == std::string::npos ? std::string::npos : eol - colon - 1);
    v.erase(0, v.find_first_not_of(' '));
    v.erase(v.find_last_not_of(" \r") + 1);
    if (v == name) return true;
    if (pos == std::string::npos) break;
  }
  return false;
}

}  // namespace

void judge_node(const NodeEvidence& ev, NodeFacts& f) {
  f.esp = {};
  f.aes_gcm = {};
  const bool gcm_listed = ev.proc_crypto && (proc_crypto_lists(*ev.proc_crypto, "gcm(aes)") ||
                                             proc_crypto_lists(*ev.proc_crypto, "rfc4106(gcm(aes))"));
  f.esp.evidence.push_back(std::string("/sys/module/esp4: ") + (ev.esp4_module ? "loaded" : "absent"));
  if (ev.proc_crypto)
    f.aes_gcm.evidence.push_back(std::string("/proc/crypto: gcm(aes) ") +
                                 (gcm_listed ? "listed" : "not listed (may load on first use)"));
  else
    f.aes_gcm.evidence.push_back("/proc/crypto: unreadable");

  const auto& aead = ev.aead_trial;
  const auto& null = ev.null_trial;
  if (aead)
    f.aes_gcm.evidence.push_back("software SA with rfc4106(gcm(aes)): " +
                                 (aead->added ? std::string("accepted") : refusal(*aead)));
  if (null)
    f.esp.evidence.push_back("software SA with the null cipher: " +
                             (null->added ? std::string("accepted") : refusal(*null)));

  if (aead && aead->added) {
    f.esp = {true, "the kernel accepted a software ESP state", f.esp.evidence};
    f.aes_gcm = {true, "the kernel accepted an rfc4106(gcm(aes)) ESP state", f.aes_gcm.evidence};
    return;
  }
  // The kernel looks the algorithm up before the ESP type, so a missing AEAD
  // hides whether ESP is there: the null-cipher state answers that.
  const bool aead_missing = aead && mentions(aead->extack, "AEAD");
  if (null && null->added) {
    f.esp.available = true;
    f.esp.reason = "the kernel accepted a software ESP state (null cipher)";
  } else if (null) {
    f.esp.reason =
        "XFRM refuses ESP states: " + refusal(*null) + (ev.esp4_module ? "" : "; no esp4 module is loaded");
  } else if (aead && !aead_missing) {
    f.esp.reason = "XFRM refuses ESP states: " + refusal(*aead);
  } else {
    f.esp.reason = "not tried";
  }
  if (aead_missing) {
    f.aes_gcm.reason = "the kernel has no rfc4106(gcm(aes)): " + refusal(*aead);
  } else if (aead) {
    f.aes_gcm.reason = "cannot be confirmed without ESP; /proc/crypto " +
                       std::string(gcm_listed ? "lists" : "does not list") + " gcm(aes)";
  } else {
    f.aes_gcm.reason = "not tried";
  }
}

// --------------------------------------------------------------- devices --

std::string device_kind(const LinkInfo& link, const DriverInfo& driver) {
  if (!link.kind.empty()) return link.kind;
  if (link.flags & IFF_LOOPBACK) return "loopback";
  // netdevsim devices are made through sysfs, not rtnetlink: no link kind.
  if (driver.driver == "netdevsim") return "netdevsim";
  if (!driver.bus_info.empty()) return "physical";
  return driver.driver.empty() ? "unknown" : driver.driver;
}

std::vector<TrialSpec> plan_trials(const DeviceReport& dev, TrialPolicy policy,
                                   const std::vector<Algorithm>& algorithms) {
  if (policy == TrialPolicy::none) return {};
  if (policy == TrialPolicy::flagged && !(dev.features.hw_offload && dev.features.hw_offload->active))
    return {};
  std::vector<TrialSpec> specs;
  for (const auto& alg : algorithms)
    for (OffloadMode mode : {OffloadMode::packet, OffloadMode::crypto})
      for (Direction dir : {Direction::out, Direction::in})
        specs.push_back({dev.ifindex, alg, mode, dir, false});
  return specs;
}

namespace {

// How one offload mode fared over both directions of one algorithm.
struct ModeResult {
  bool ran = false;
  bool out = false;
  bool in = false;
  const TrialOutcome* refused = nullptr;    // first refused add
  const TrialOutcome* software = nullptr;   // added, but no offload on read-back
  const TrialOutcome* elsewhere = nullptr;  // offload on another device or of another kind
  bool ok() const { return out && in; }
};

ModeResult mode_result(const std::vector<TrialOutcome>& trials, const Algorithm& alg, OffloadMode mode) {
  ModeResult r;
  for (const auto& t : trials) {
    if (!(t.spec.alg == alg) || t.spec.mode != mode) continue;
    r.ran = true;
    if (t.attached()) {
      (t.spec.dir == Direction::out ? r.out : r.in) = true;
    } else if (!t.added) {
      if (!r.refused) r.refused = &t;
    } else if (!t.readback) {
      if (!r.software) r.software = &t;
    } else if (!r.elsewhere) {
      r.elsewhere = &t;
    }
  }
  return r;
}

std::string why_not(const ModeResult& r, OffloadMode mode, bool flag_on) {
  const std::string m = xfrm::to_string(mode);
  if (r.refused) return "driver refused " + m + " offload: " + refusal(*r.refused);
  if (r.software)
    return std::string(flag_on ? "flag on but " : "") + "the kernel attached no " + m +
           " offload (read-back shows a software SA)";
  if (r.elsewhere)
    return m + " offload read back as " + xfrm::to_string(r.elsewhere->readback->mode()) + " offload " +
           xfrm::to_string(r.elsewhere->readback->dir()) + " on ifindex " +
           std::to_string(r.elsewhere->readback->ifindex);
  if (r.out != r.in) return m + " offload attached only " + (r.out ? "out" : "in");
  return m + " offload not tried";
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

std::string flag_words(const DeviceReport& dev) {
  if (!dev.features_error.empty()) return "ethtool features unreadable: " + dev.features_error;
  if (!dev.features.hw_offload) return "the kernel does not know esp-hw-offload";
  const auto& f = *dev.features.hw_offload;
  if (f.active) return "esp-hw-offload is on";
  if (f.fixed || !f.changeable) return "esp-hw-offload is off [fixed]: the driver cannot offload ESP";
  return "esp-hw-offload is off (the driver has it; ethtool -K " + dev.name +
         " esp-hw-offload on enables it)";
}

}  // namespace

Judgement judge_device(const DeviceReport& dev, const NodeFacts& node, TrialPolicy policy,
                       const std::vector<Algorithm>& algorithms) {
  const bool flag_on = dev.features.hw_offload && dev.features.hw_offload->active;
  std::vector<std::string> packet_algs, crypto_algs;
  ModeResult first_packet, first_crypto;
  bool have_packet = false, have_crypto = false;
  for (const auto& alg : algorithms) {
    auto p = mode_result(dev.trials, alg, OffloadMode::packet);
    auto c = mode_result(dev.trials, alg, OffloadMode::crypto);
    if (p.ok())
      packet_algs.push_back(alg.label());
    else if (p.ran && !have_packet)
      first_packet = p, have_packet = true;
    if (c.ok())
      crypto_algs.push_back(alg.label());
    else if (c.ran && !have_crypto)
      first_crypto = c, have_crypto = true;
  }

  if (!packet_algs.empty() || !crypto_algs.empty()) {
    const bool packet = !packet_algs.empty();
    const std::string what = packet ? "packet" : "crypto";
    const auto& algs = packet ? packet_algs : crypto_algs;
    if (!flag_on)
      return {Verdict::software, "the driver accepted " + what + " offload but " + flag_words(dev) +
                                     ", so the kernel encrypts in software"};
    std::string reason = what + " offload attached in and out for " + join(algs, ", ");
    if (packet && !crypto_algs.empty()) reason += "; crypto offload works too";
    if (!packet && have_packet) reason += "; " + why_not(first_packet, OffloadMode::packet, true);
    if (packet && packet_algs.size() < algorithms.size() && have_packet)
      reason += "; not for every algorithm: " + why_not(first_packet, OffloadMode::packet, true);
    return {packet ? Verdict::packet_offload : Verdict::crypto_offload, reason};
  }

  std::vector<std::string> parts;
  if (!node.can_encrypt()) {
    // Every trial fails in the kernel before any driver is asked: one reason.
    parts.push_back(node.esp.available ? "the kernel has no AES-GCM for ESP" : "the kernel cannot do ESP");
    parts.push_back(flag_words(dev));
    for (const auto& t : dev.trials)
      if (!t.added) {
        parts.push_back("trial SAs refused by the kernel: " + refusal(t));
        break;
      }
    return {Verdict::software, join(parts, "; ")};
  }
  if (dev.trialled && (have_crypto || have_packet)) {
    if (flag_on)
      parts.push_back("esp-hw-offload is on");
    else
      parts.push_back(flag_words(dev));
    // Crypto first: it is what a software SA silently replaces.
    if (have_crypto) parts.push_back(why_not(first_crypto, OffloadMode::crypto, flag_on));
    if (have_packet) parts.push_back(why_not(first_packet, OffloadMode::packet, flag_on));
  } else {
    parts.push_back(flag_words(dev));
    if (flag_on && policy == TrialPolicy::none)
      parts.push_back("not confirmed: no trial was run (--no-trial) and the flag alone is not trusted");
  }
  return {Verdict::software, join(parts, "; ")};
}

// ---------------------------------------------------------- orchestration --

namespace {

std::optional<bool> read_bool(ProbeKernel& k, const std::string& path) {
  auto text = k.read_file(path);
  if (!text || text->empty()) return std::nullopt;
  return (*text)[0] != '0';
}

bool file_exists(ProbeKernel& k, const std::string& path) { return k.read_file(path).has_value(); }

DeviceReport describe(ProbeKernel& kernel, const LinkInfo& link, const std::vector<LinkInfo>& all) {
  DeviceReport d;
  d.ifindex = link.ifindex;
  d.name = link.name;
  d.up = link.up();
  d.carrier = link.running();
  d.operstate = operstate_name(link.operstate);
  d.mtu = link.mtu;
  if (auto drv = kernel.driver(link.name)) d.driver = *drv;
  d.kind = device_kind(link, d.driver);
  if (auto sp = kernel.speed(link.ifindex)) d.speed_mbps = sp->mbps;
  auto name_of = [&](int ifindex) -> std::string {
    for (const auto& l : all)
      if (l.ifindex == ifindex) return l.name;
    return "ifindex " + std::to_string(ifindex);
  };
  // A veth's IFLA_LINK is its peer, not a device under it.
  static const char* const kStacked[] = {"vlan", "macvlan", "macvtap", "ipvlan", "macsec"};
  if (link.link && !link.link_elsewhere &&
      std::find(std::begin(kStacked), std::end(kStacked), link.kind) != std::end(kStacked))
    d.lower.push_back(name_of(*link.link));
  for (const auto& l : all)
    if (l.master == link.ifindex) d.lower.push_back(l.name);
  if (link.master) d.master = name_of(*link.master);

  if (auto fs = kernel.features(link.ifindex)) {
    d.features.hw_offload = fs->get("esp-hw-offload");
    d.features.tx_csum = fs->get("esp-tx-csum-hw-offload");
    d.features.segmentation = fs->get("tx-esp-segmentation");
  } else {
    d.features_error = fs.error().message();
  }
  return d;
}

void conclude(DeviceReport& d, const NodeFacts& node, const ProbeOptions& opts) {
  auto j = judge_device(d, node, opts.trial, opts.algorithms);
  d.verdict = j.verdict;
  d.reason = j.reason;
  if (auto it = opts.overrides.find(d.name); it != opts.overrides.end()) {
    d.overridden = true;
    d.reason = std::string("set by configuration to ") + to_string(it->second) + " (the probe said " +
               to_string(d.verdict) + ": " + d.reason + ")";
    d.verdict = it->second;
  }
}

// Runs the device trials of many devices in one batch and hands each its own.
Status run_device_trials(ProbeKernel& kernel, std::vector<DeviceReport>& devs, const ProbeOptions& opts) {
  std::vector<TrialSpec> specs;
  std::vector<size_t> owner;
  for (size_t i = 0; i < devs.size(); ++i) {
    auto s = plan_trials(devs[i], opts.trial, opts.algorithms);
    devs[i].trialled = !s.empty();
    owner.insert(owner.end(), s.size(), i);
    specs.insert(specs.end(), s.begin(), s.end());
  }
  if (specs.empty()) return {};
  auto outcomes = kernel.run_trials(specs);
  if (!outcomes) return std::unexpected(outcomes.error());
  for (size_t i = 0; i < outcomes->size() && i < owner.size(); ++i)
    devs[owner[i]].trials.push_back(std::move((*outcomes)[i]));
  return {};
}

}  // namespace

Result<ProbeReport> run_probe(ProbeKernel& kernel, const ProbeOptions& opts) {
  ProbeReport r;
  NodeFacts& n = r.node;
  n.netns = opts.netns;
  auto leftovers = kernel.remove_leftovers();
  if (!leftovers) return std::unexpected(leftovers.error());
  n.leftovers_removed = *leftovers;
  if (auto rel = kernel.read_file("/proc/sys/kernel/osrelease")) {
    n.kernel_release = *rel;
    n.kernel_release.erase(n.kernel_release.find_last_not_of("\n ") + 1);
  }
  n.ipv4_forwarding = read_bool(kernel, "/proc/sys/net/ipv4/ip_forward");
  n.ipv6_forwarding = read_bool(kernel, "/proc/sys/net/ipv6/conf/all/forwarding");
  n.esp_offload_loaded = file_exists(kernel, "/sys/module/esp4_offload/initstate");

  // The software trials: does this kernel do ESP, and AES-GCM?
  NodeEvidence ev;
  ev.esp4_module = file_exists(kernel, "/sys/module/esp4/initstate");
  if (auto pc = kernel.read_file("/proc/crypto")) ev.proc_crypto = *pc;
  const Algorithm& base = opts.algorithms.empty() ? supported_algorithms().front() : opts.algorithms.front();
  auto node_trials = kernel.run_trials({{0, base, OffloadMode::none, Direction::out, false},
                                        {0, base, OffloadMode::none, Direction::out, true}});
  if (!node_trials) return std::unexpected(node_trials.error());
  if (node_trials->size() == 2) {
    ev.aead_trial = (*node_trials)[0];
    ev.null_trial = (*node_trials)[1];
  }
  n.trials = *node_trials;
  judge_node(ev, n);

  auto links = kernel.links();
  if (!links) return std::unexpected(links.error());
  for (const auto& l : *links) r.devices.push_back(describe(kernel, l, *links));
  if (auto st = run_device_trials(kernel, r.devices, opts); !st) return std::unexpected(st.error());
  for (auto& d : r.devices) conclude(d, n, opts);
  return r;
}

Result<DeviceReport> probe_device(ProbeKernel& kernel, int ifindex, const NodeFacts& node,
                                  const ProbeOptions& opts) {
  auto links = kernel.links();
  if (!links) return std::unexpected(links.error());
  auto it =
      std::find_if(links->begin(), links->end(), [&](const LinkInfo& l) { return l.ifindex == ifindex; });
  if (it == links->end())
    return fail(ENODEV, "probe device", "ifindex " + std::to_string(ifindex), "no such device");
  std::vector<DeviceReport> one{describe(kernel, *it, *links)};
  if (auto st = run_device_trials(kernel, one, opts); !st) return std::unexpected(st.error());
  conclude(one.front(), node, opts);
  return std::move(one.front());
}

// ---------------------------------------------------------------- report --

const DeviceReport* ProbeReport::find(const std::string& name) const {
  for (const auto& d : devices)
    if (d.name == name) return &d;
  return nullptr;
}

const DeviceReport* ProbeReport::find(int ifindex) const {
  for (const auto& d : devices)
    if (d.ifindex == ifindex) return &d;
  return nullptr;
}

void ProbeReport::update(DeviceReport d) {
  for (auto& x : devices)
    if (x.ifindex == d.ifindex) {
      x = std::move(d);
      return;
    }
  devices.push_back(std::move(d));
  std::sort(devices.begin(), devices.end(),
            [](const DeviceReport& a, const DeviceReport& b) { return a.ifindex < b.ifindex; });
}

void ProbeReport::remove(int ifindex) {
  std::erase_if(devices, [&](const DeviceReport& d) { return d.ifindex == ifindex; });
}

}  // namespace sealnet::probe
