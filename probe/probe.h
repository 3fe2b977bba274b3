// probe/: the truth about ESP offload on every egress device — ethtool feature
// flags, then a trial SA read back from the kernel; a verdict with its reason.
//
// Flags lie (bonds and vmxnet3 advertise esp-hw-offload; a kernel without
// esp4_offload still shows it) and the kernel silently turns a crypto-offload
// request on an incapable device into a software SA. So a device counts as
// offloading only when a throw-away SA asked for offload and the kernel's
// read-back shows the offload attached to that device.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "netlink/link_codec.h"
#include "netlink/xfrm_codec.h"

namespace sealnet::probe {

enum class Verdict : uint8_t { software, crypto_offload, packet_offload };
const char* to_string(Verdict v);  // "software", "crypto-offload", "packet-offload"
std::optional<Verdict> parse_verdict(const std::string& s);

// An ESP transform sealnet can use.
struct Algorithm {
  std::string name;       // as XFRM names it
  uint32_t key_bits = 0;  // AES key, without the 32-bit salt
  uint32_t icv_bits = 128;
  std::string label() const;  // "rfc4106(gcm(aes)) 128"
  bool operator==(const Algorithm&) const = default;
};
const std::vector<Algorithm>& supported_algorithms();

// ----------------------------------------------------------------- trial --

// The throw-away SAs: nothing can ever use them. SPIs come from a range sealnet
// reserves for probing (the agent never allocates from it), addresses are
// TEST-NET-1 (RFC 5737) which nothing routes, and no policy refers to them, so
// no packet is ever encrypted with them; their key is a fixed public pattern.
// A state in this range with this reqid is a probe leftover, whoever made it.
inline constexpr uint32_t kTrialSpiFirst = 0xFFFFFF00;
inline constexpr uint32_t kTrialSpiLast = 0xFFFFFFFF;
inline constexpr uint32_t kTrialReqid = 0x5EA10BE0;
inline constexpr const char* kTrialSrc = "192.0.2.1";
inline constexpr const char* kTrialDst = "192.0.2.2";
bool is_trial_sa(const xfrm::SaInfo& sa);

// The leftover cleanup, as requests (pure: unit-tested against a fake SAD).
// The dump asks the kernel for the trial address pair only (XFRMA_ADDRESS_FILTER),
// so the cluster's SAs and their keys never reach the probe; a reply that still
// holds other SAs (a kernel that ignored the filter) has them skipped, and the
// caller wipes the replies either way.
Result<nl::Bytes> encode_leftover_dump();
// DELSA (daddr, SPI, proto and mark) of every trial SA among a dump's replies.
Result<std::vector<nl::Bytes>> leftover_deletes(const std::vector<nl::Bytes>& dump);

// One trial: an SA for `alg` asking for `mode` offload in direction `dir` on
// device `ifindex`; mode none (ifindex 0) is the plain software SA that tells
// whether this kernel can do ESP and the algorithm at all.
struct TrialSpec {
  int ifindex = 0;
  Algorithm alg;
  xfrm::OffloadMode mode = xfrm::OffloadMode::none;
  xfrm::Direction dir = xfrm::Direction::out;
  // Only for the ESP check: a null cipher instead of the AEAD, so that a missing
  // algorithm cannot hide whether ESP itself is there.
  bool null_cipher = false;
};

struct TrialOutcome {
  TrialSpec spec;
  bool added = false;
  int err = 0;                                // errno of the refused add, 0 when added
  std::string extack;                         // the kernel's reason, when it gave one
  std::optional<xfrm::OffloadInfo> readback;  // XFRMA_OFFLOAD_DEV as GETSA returned it
  bool removed = false;                       // the delete succeeded (or there was nothing to delete)

  // The kernel attached the offload that was asked for, to the device asked for.
  bool attached() const;
};

// ---------------------------------------------------------------- kernel --

struct DriverInfo {
  std::string driver;    // ethtool -i: "veth", "mlx5_core", "netdevsim"
  std::string bus_info;  // "0000:3b:00.0"; empty for virtual devices
  std::string version;
  std::string firmware;
};

// Everything the probe asks the kernel, in one namespace. The real one talks
// netlink (make_kernel below); unit tests hand the policy a fake.
class ProbeKernel {
 public:
  virtual ~ProbeKernel() = default;
  virtual Result<std::vector<LinkInfo>> links() = 0;
  virtual Result<FeatureSet> features(int ifindex) = 0;
  virtual Result<DriverInfo> driver(const std::string& ifname) = 0;
  virtual Result<LinkSpeed> speed(int ifindex) = 0;
  // Adds, reads back and deletes one SA per spec; an outcome per spec, in order.
  virtual Result<std::vector<TrialOutcome>> run_trials(const std::vector<TrialSpec>& specs) = 0;
  // Deletes trial SAs a crashed run left behind; returns how many.
  virtual Result<int> remove_leftovers() = 0;
  // A file as this namespace sees it (/proc/sys/net/..., /proc/crypto);
  // ENOENT when it does not exist.
  virtual Result<std::string> read_file(const std::string& path) = 0;
};

// The netlink kernel of the calling thread's current network namespace: every
// socket is opened here, so enter the namespace first (NetnsScope).
Result<std::unique_ptr<ProbeKernel>> make_kernel();

// ---------------------------------------------------------------- report --

struct Availability {
  bool available = false;
  std::string reason;                 // why, in words
  std::vector<std::string> evidence;  // what was looked at
};

// What holds for the whole node (the probed namespace), not one device.
struct NodeFacts {
  std::string kernel_release;
  std::string netns;                       // as given to --netns; empty for the caller's own
  Availability esp;                        // the kernel can create ESP states
  Availability aes_gcm;                    // ... with rfc4106(gcm(aes))
  std::optional<bool> esp_offload_loaded;  // /sys/module/esp4_offload (loaded on demand)
  std::optional<bool> ipv4_forwarding;     // bpf_fib_lookup refuses without it
  std::optional<bool> ipv6_forwarding;
  int leftovers_removed = 0;
  std::vector<TrialOutcome> trials;  // the software SAs behind esp and aes_gcm

  bool can_encrypt() const { return esp.available && aes_gcm.available; }
};

struct EspFeatures {
  std::optional<FeatureState> hw_offload;    // esp-hw-offload
  std::optional<FeatureState> tx_csum;       // esp-tx-csum-hw-offload
  std::optional<FeatureState> segmentation;  // tx-esp-segmentation
};

struct DeviceReport {
  int ifindex = 0;
  std::string name;
  std::string kind;  // veth, bond, vlan, vxlan, dummy, netdevsim, physical, loopback, ...
  DriverInfo driver;
  bool up = false;
  bool carrier = false;
  std::string operstate;
  uint32_t mtu = 0;
  std::optional<uint32_t> speed_mbps;
  std::vector<std::string> lower;  // bond slaves, the device under a vlan/macvlan
  std::optional<std::string> master;

  EspFeatures features;
  std::string features_error;  // why the features could not be read

  bool trialled = false;
  std::vector<TrialOutcome> trials;

  Verdict verdict = Verdict::software;
  std::string reason;
  bool overridden = false;  // the verdict came from ProbeOptions::overrides
};

struct ProbeReport {
  static constexpr int kSchemaVersion = 1;
  NodeFacts node;
  std::vector<DeviceReport> devices;

  const DeviceReport* find(const std::string& name) const;
  const DeviceReport* find(int ifindex) const;
  // Replaces (or adds) one device after a re-probe; removes one that went away.
  void update(DeviceReport d);
  void remove(int ifindex);
};

enum class TrialPolicy : uint8_t {
  none,     // flags only (--no-trial)
  flagged,  // devices whose esp-hw-offload flag is on (default)
  all,      // every device (--trial=all)
};

struct ProbeOptions {
  TrialPolicy trial = TrialPolicy::flagged;
  std::vector<Algorithm> algorithms = supported_algorithms();
  // Operator overrides by device name: the verdict the agent must use whatever
  // the probe finds (a NIC known to misbehave, a device to keep in software).
  std::map<std::string, Verdict> overrides;
  std::string netns;  // recorded in the report only; the caller enters it
};

// The whole probe: leftovers removed, node facts, every device.
Result<ProbeReport> run_probe(ProbeKernel& kernel, const ProbeOptions& opts);
// Re-probe one device (after a monitor event) with node facts already known.
Result<DeviceReport> probe_device(ProbeKernel& kernel, int ifindex, const NodeFacts& node,
                                  const ProbeOptions& opts);

// ----------------------------------------------------------- pure policy --

// The node's ESP and AES-GCM availability from the software trials and what the
// files say. Pure: unit-tested with recorded kernel answers.
struct NodeEvidence {
  std::optional<TrialOutcome> aead_trial;  // software SA with rfc4106(gcm(aes))
  std::optional<TrialOutcome> null_trial;  // software SA with the null cipher
  std::optional<std::string> proc_crypto;
  bool esp4_module = false;  // /sys/module/esp4 exists
};
void judge_node(const NodeEvidence& ev, NodeFacts& facts);

// The verdict and its reason for one device, from its flags and trials.
struct Judgement {
  Verdict verdict = Verdict::software;
  std::string reason;
};
Judgement judge_device(const DeviceReport& dev, const NodeFacts& node, TrialPolicy policy,
                       const std::vector<Algorithm>& algorithms);

// Which trials to run on a device under a policy (empty: none).
std::vector<TrialSpec> plan_trials(const DeviceReport& dev, TrialPolicy policy,
                                   const std::vector<Algorithm>& algorithms);

// "physical", "loopback", "netdevsim", or the rtnetlink kind.
std::string device_kind(const LinkInfo& link, const DriverInfo& driver);

}  // namespace sealnet::probe
