// datapath/desired: what one node's datapath should be, decided without touching
// the kernel. From the config (node, switches), the peers in force, the keys and
// what each peer holds, the device slots and their modes (fallback::ModeBook), and
// what the kernel reports (links, main-table routes, the pinned maps, our XFRM
// states): the BPF map contents, the tc attachments, the XFRM plan's input, the
// slot routes, and each peer's send key. datapath/effectors.h applies it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bpf/shared.h"
#include "core/ip.h"
#include "datapath/config.h"
#include "fallback/modes.h"
#include "keys/keys.h"
#include "netlink/link_codec.h"
#include "netlink/route_codec.h"
#include "netlink/xfrm_codec.h"
#include "offload/binding.h"
#include "offload/reconciler.h"
#include "offload/route_reconciler.h"

namespace sealnet::agent {

inline constexpr uint32_t kMainTable = 254;  // RT_TABLE_MAIN

// The outer (node) address used towards a peer: IPv4 when both have one.
std::optional<IpAddr> outer_local(const config::LocalNode& n);
std::optional<IpAddr> outer_peer(const config::LocalNode& local, const config::Peer& p);
// Why a peer without outer_peer() gets nothing through (the per-peer problem
// and its status reason): "no IPv4 address, the outer family of node a: ...".
std::string no_outer_address(const config::LocalNode& local);

// Longest-prefix match over the main table's routes: the output device (0: none).
int route_device(const std::vector<route::Route>& main, const IpAddr& dst);

// ---- the uplinks and their slots.

struct UplinkChoice {
  std::set<int> uplinks;              // ifindexes
  std::vector<std::string> problems;  // "uplink eth9 does not exist"
};
// The config's `uplinks` by name, or (none named) every device but lo the main
// table reaches a peer through.
UplinkChoice select_uplinks(const config::AgentConfig& cfg, const std::vector<config::Peer>& peers,
                            const std::map<int, probe::LinkInfo>& links,
                            const std::vector<route::Route>& main);

// The slot a new uplink gets: the one the pinned devices map gave it before this
// process (the marks and SPIs in the kernel carry it) when no other uplink holds
// it, else the lowest free one; nullopt: all SEALNET_MAX_SLOTS are in use.
std::optional<uint8_t> choose_slot(const std::map<int, uint8_t>& slot_of, std::optional<uint8_t> pinned);

// A sync's first half: the uplinks (select_uplinks), and for each new one a slot
// (choose_slot; `pinned_slot`: what the pinned devices map says of an ifindex;
// an uplink back under a new ifindex takes the slot of the vanished ifindex
// that had its name in `modes`)
// with which it joins through `join` (the caller probes it and gives the
// ModeBook its device; slot_of has it by then). Returns the problems: uplinks
// missing, no free slot.
std::vector<std::string> join_uplinks(const config::AgentConfig& cfg, const std::vector<config::Peer>& peers,
                                      const std::map<int, probe::LinkInfo>& links,
                                      const std::vector<route::Route>& main, std::map<int, uint8_t>& slot_of,
                                      const fallback::ModeBook& modes,
                                      const std::function<std::optional<uint8_t>(int)>& pinned_slot,
                                      const std::function<void(int, uint8_t)>& join);

// Each slot's link as the kernel reports it (gone or down = down) into the
// ModeBook: down records (d), up after down moves the slot to its next generation.
void observe_links(fallback::ModeBook& modes, const std::map<int, uint8_t>& slot_of,
                   const std::map<int, probe::LinkInfo>& links, uint64_t now_s);

// ---- restart adoption.

// Per local slot, the generation our outbound states in the kernel carry (the
// newest one on the SPI's 8-bit ring when several are there: a replaced
// generation retires after the grace period). ModeBook::adopt_generation takes it.
std::map<uint8_t, uint8_t> kernel_generations(const std::vector<xfrm::SaEntry>& states, uint16_t local_id);

// `a` is 1..127 steps ahead of `b` on the 8-bit generation ring.
bool generation_ahead(uint8_t a, uint8_t b);

// Where a slot starts (docs/xfrm-design.md "Generations", rule 3): the kernel's
// generation (its states continue), the saved one + 1 when the kernel has none
// or the file is ahead of it (that generation may have sent packets), nullopt
// when neither knows the slot (a first start: 0).
std::optional<uint8_t> start_generation(std::optional<uint8_t> kernel, std::optional<uint8_t> saved);

// A slot whose device just joined the ModeBook continues where start_generation
// says, once: the kernel's entry is taken. Returns the generation adopted.
std::optional<uint8_t> continue_generation(fallback::ModeBook& modes, uint8_t slot,
                                           std::map<uint8_t, uint8_t>& kernel_generations,
                                           const std::map<uint8_t, uint8_t>& saved = {});

// ---- following a sender's generations (rule 4).

// Inbound states per (peer, peer slot): generations base .. base + kRxWindow - 1.
inline constexpr int kRxWindow = 4;
using RxBases = std::map<uint16_t, std::map<uint8_t, uint8_t>>;  // peer id -> peer slot -> base
// Moves each base to the newest generation ahead of it among our inbound
// states that counted packets (and, `announced`, what discovery says). True
// when a base moved.
bool follow_generations(const std::vector<xfrm::SaEntry>& states, RxBases& bases);
bool follow_announced(const std::map<uint16_t, std::vector<uint8_t>>& announced, RxBases& bases);

// The keys a peer held under the previous agent: the send key the pinned nodes
// map carries, and those of ours up to half the key ring behind it.
std::set<uint8_t> adopted_keys(const keys::KeySet& keys, uint8_t pinned_send_key);

// ---- which keys a peer holds.

// Evidence per peer id, and when this process first held each key (mono ms).
struct KeyEvidence {
  std::map<uint16_t, std::set<uint8_t>> adopted;   // from the pinned nodes map
  std::map<uint16_t, std::set<uint8_t>> observed;  // inbound states with packets
  std::map<uint8_t, uint64_t> loaded_at;
  uint64_t activation_ms = 10000;  // Options::key_activation
};
// The keys `p` holds: the ones it announces (`keys:`, discovery), else each key
// of ours it was seen sending with, adopted, or that we have held for the
// activation delay. `source`: "config" when it announces them (the caller
// tells a discovered peer's apart), else "observed" or "assumed".
std::vector<uint8_t> peer_key_ids(const config::Peer& p, const keys::KeySet& keys, const KeyEvidence& ev,
                                  uint64_t now_ms, std::string* source = nullptr);

// ---- host encryption's preconditions (encrypt_host: true).

// The node-wide sysctls from_host depends on (nullopt: could not be read).
struct HostSysctls {
  std::optional<bool> ipv4_forwarding;  // net.ipv4.ip_forward
  std::optional<bool> ipv6_forwarding;  // net.ipv6.conf.all.forwarding
  std::optional<int> ipv4_rp_filter;    // net.ipv4.conf.all.rp_filter
};
// What this node lacks for host encryption, one line per sysctl, each naming
// the value to set (docs/agent-config.md, `encrypt_host`); empty when nothing
// lacks or encrypt_host is off. IPv6 forwarding counts only when the node, its
// pods or a peer has IPv6.
std::vector<std::string> host_encryption_problems(const config::AgentConfig& cfg, const HostSysctls& s);

// ---- the desired state.

struct DesiredInput {
  const config::AgentConfig* cfg = nullptr;          // node, fail_closed, encrypt_host
  const std::vector<config::Peer>* peers = nullptr;  // the peers in force
  const keys::KeySet* keys = nullptr;
  const fallback::ModeBook* modes = nullptr;              // after observe_links
  const std::map<int, uint8_t>* slot_of = nullptr;        // uplink ifindex -> slot
  const std::map<int, probe::LinkInfo>* links = nullptr;  // what the kernel reports
  const std::vector<route::Route>* main = nullptr;        // the main table
  // Per peer id: the keys it holds (peer_key_ids), the generations it announced
  // per slot (discovery; absent = 0), the send key in force now (nodes map).
  std::map<uint16_t, std::vector<uint8_t>> peer_keys;
  std::map<uint16_t, std::vector<uint8_t>> peer_generations;
  // Per peer slot, the base of the receive window (follow_generations); the
  // window starts at the newer of it and the announced generation.
  RxBases rx_bases;
  std::map<uint16_t, uint8_t> send_keys;
};

struct DesiredState {
  // BPF maps. A node's peer_key_id is the send key in force (0 for a new peer:
  // dropped, counted, until its states exist); send_keys() moves it.
  sealnet_config config{};
  std::map<int, sealnet_device_value> devices;  // ifindex -> slot, mode
  std::map<IpPrefix, sealnet_ipcache_value> ipcache;
  std::map<uint16_t, sealnet_node_value> nodes;
  // tc: to_wire on every uplink that exists, from_pod on the pod devices.
  std::set<int> to_wire, from_pod;
  std::set<int> present;  // every device the kernel reports: attachments on others are forgotten
  // XFRM: the reconciler's input; offload::plan() of it is the objects (xfrm_plan).
  offload::ReconcileInput xfrm;
  // Slot routes: each slot's table routes what the main table routes through the
  // slot's device (offload::plan_slot_routes of it is the objects).
  offload::SlotRouteInput routes;
  std::map<uint16_t, uint8_t> route_slot;  // peer -> the slot its route leaves by
  std::vector<std::string> problems;       // "peer b has no IPv4 address, the outer family of node a: ..."
};

// Pure. Input pointers must be set.
DesiredState compute(const DesiredInput& in);

// The XFRM objects of `d` under `modes` (what the reconciler installs).
Result<offload::DesiredSet> xfrm_plan(const DesiredState& d, const fallback::ModeBook& modes);

// Per peer of `d.xfrm`: the key to send with once the outbound objects of
// `installed` (ReconcileResult::installed_keys) exist; offload::tx_key.
std::map<uint16_t, uint8_t> send_keys(const DesiredState& d,
                                      const std::map<uint16_t, std::vector<uint8_t>>& installed);

}  // namespace sealnet::agent
