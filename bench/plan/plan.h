// The capacity planner: from what the probe found (or was told) about each
// device, predict the encrypted throughput and its CPU cost, and draw it.
// Every number comes from a stated model with stated inputs; the report prints
// both, so a planner can check the arithmetic and replace a default with a
// measurement (bench/crypto_bench, bench/results/).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"

namespace sealnet::plan {

enum class Mode { packet_offload, crypto_offload, software };
const char* to_string(Mode m);

struct Device {
  std::string name;
  Mode mode = Mode::software;
  std::string reason;     // the probe's words
  double line_gbps = 0;   // 0: unknown (then --nic-gbps applies)
};

struct Assumptions {
  int cores = 0;                    // cores given to ESP
  double nic_gbps = 0;              // line rate when the probe does not know it
  int peers = 1;
  int mtu = 1500;
  int keys_in_flight = 2;           // during a rotation both keys have SAs
  int nic_sa_table = 0;             // SAs one NIC can hold; 0: unknown (unbounded)
  // Software ESP cost per packet on one core: a fixed part (XFRM lookup, skb
  // handling, crypto request) plus the AES-GCM work per byte at the raw rate.
  double esp_fixed_ns = 1000;
  double aes_gcm_gbps_per_core = 17;  // OpenSSL EVP AES-128-GCM, 1400 B, measured here
  double target_gbps = 0;           // CPU cost is computed at this rate (0: at capacity)
};

// ESP tunnel mode over IPv4 with AES-GCM-128: outer IPv4 20 + ESP header 8 + IV 8
// + padding up to 3 + pad length and next header 2 + ICV 16.
inline constexpr int kEspOverhead = 57;
// Ethernet on the wire per frame: header 14 + FCS 4 + preamble 8 + gap 12.
inline constexpr int kEthernetOverhead = 38;

struct DevicePlan {
  Device device;
  double line_gbps = 0;          // what was used
  double goodput_ceiling = 0;    // inner bytes at line rate, ESP and Ethernet overhead taken off
  double sw_gbps_per_core = 0;   // software ESP at this MTU on one core
  int offloaded_peers = 0;       // peers whose SAs fit the NIC table
  double offloaded_share = 0;    // of the traffic (evenly spread over peers)
  double throughput_gbps = 0;    // predicted encrypted goodput
  std::string limit;             // what bounds it, in words
  double cores_at_target = 0;    // CPU cores busy with ESP at the target (or predicted) rate
  int sa_needed = 0;             // states on this device: in + out, every key in flight
};

struct NodePlan {
  Assumptions in;
  std::vector<DevicePlan> devices;
  std::string node_warning;  // e.g. the probe found that this kernel cannot do ESP
};

// Devices out of a `sealnet probe --json` report (schema 1): uplinks only
// (loopback and devices that are down are left out).
Result<std::vector<Device>> devices_from_probe(const nlohmann::json& probe);
// Empty when the probed node can encrypt; else why it cannot (node.esp/aes_gcm).
std::string node_warning_from_probe(const nlohmann::json& probe);

double software_gbps_per_core(const Assumptions& a, int mtu);
DevicePlan plan_device(const Device& d, const Assumptions& a);
NodePlan plan_node(const std::vector<Device>& devices, const Assumptions& a);

// The report: markdown, with two SVG charts written beside it (their file names
// are returned in `charts`). Throughput vs MTU and vs the number of peers, offload
// against software, for this node's cores and line rate.
struct Report {
  std::string markdown;
  std::vector<std::pair<std::string, std::string>> charts;  // file name, SVG text
};
Report render(const NodePlan& plan);

}  // namespace sealnet::plan
