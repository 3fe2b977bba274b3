// The desired XFRM objects of one node: from the local node, its egress device
// slots (and their modes, fallback/modes.h), the peers and the keys, which
// states and policies must exist. Pure: the reconciler (offload/reconciler.h)
// makes the kernel match. Layout and reasons: docs/xfrm-design.md.
//
//  - Outbound: per (peer, key, local slot) one tunnel-mode ESP state bound to the
//    slot's device (packet/crypto offload or software, as the ModeBook says),
//    marked sealnet_mark_encrypt(peer, key, slot) / SEALNET_MARK_POLICY_MASK,
//    output mark sealnet_mark_encrypted(slot) / 0xFF0; and per (peer, key, slot,
//    destination prefix) one policy with that mark: the kernel looks the state up
//    with the policy's mark, so the slot the BPF program chose is the device that
//    encrypts. The destination prefixes are the peer's own (PeerNode::dsts and
//    out_only: its pod CIDRs and node addresses), not the
//    cluster subnet, for two reasons. Defence in depth: with one shared selector
//    the mark alone picks the SA, so a wrong mark sends a pod's traffic as ESP to
//    another peer (docs/kernel-facts.md, "Output"); with the peer's prefixes a wrong mark matches no
//    policy, and the plaintext packet meets the uplink's egress guard instead of
//    another peer's SA. Cost: the kernel files policies with distinct selectors
//    under separate inexact-tree nodes, so an insert finds its place in O(log n),
//    while policies sharing one selector and differing only by mark sit in one
//    list that every insert walks (xfrm_policy_insert_list): 10,000 of them took
//    most of a 5,000-peer install. A peer without dsts keeps the cluster-subnet
//    selectors (opts.subnets).
//  - Inbound: per (peer, key, peer slot, generation g and g+1) one state (no
//    mark: received packets carry none), offloaded on the peer's arrival device
//    when it can be, else software. Policies, strict: per prefix in a peer's dsts
//    one `in` and one `fwd` policy with a required template from that peer, so
//    plaintext (or another peer's traffic) claiming the peer's pods is dropped;
//    shared optional ones only for the cluster subnets no peer claims.
//  - Keys: inbound states for every key we hold; outbound ones only for keys the
//    peer has announced (it can decrypt them). Per-pair ("+") keys are derived
//    per direction from both node addresses.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/ip.h"
#include "fallback/modes.h"
#include "keys/keys.h"
#include "netlink/xfrm_codec.h"

namespace sealnet::offload {

// What marks an object as sealnet's. States carry one of these reqids; policies
// carry them in their templates. Everything else in the kernel is foreign and
// left alone. (The probe's trial states use probe::kTrialReqid, outside this set.)
inline constexpr uint32_t kReqidOut = 0x5EA10001;
inline constexpr uint32_t kReqidIn = 0x5EA10002;
inline bool owned_reqid(uint32_t r) { return r == kReqidOut || r == kReqidIn; }
// Lower number = earlier match. Out policies and the shared in/fwd ones: their
// marks (out) and selectors (in/fwd) never overlap each other.
inline constexpr uint32_t kPolicyPriority = 0x5EA1;
// The strict in/fwd policies of a peer's prefix: before the shared ones, and a
// longer prefix before a shorter one where two overlap (lowest number wins).
constexpr uint32_t rx_policy_priority(uint8_t prefix_len) { return kPolicyPriority - 1 - prefix_len; }
// The optional receive catch-alls (PlanOptions::rx_any_*): after every strict
// and shared in/fwd policy, so they only take what no peer prefix names.
inline constexpr uint32_t kRxAnyPriority = kPolicyPriority + 1;
inline constexpr uint32_t kSetMarkMask = 0x00000FF0;  // magic + slot

// SPI = sender node id << 16 | key id << 12 | sender slot << 8 | generation.
uint32_t make_spi(uint16_t node, uint8_t key, uint8_t slot, uint8_t generation);
struct SpiParts {
  uint16_t node;
  uint8_t key, slot, generation;
};
SpiParts split_spi(uint32_t spi);

struct LocalNode {
  uint16_t id = 0;  // 1..SEALNET_MAX_NODE_ID (0xFFFE)
  IpAddr addr;      // outer source of every outbound state
  // Our own pod CIDRs: a peer prefix overlapping one gets no strict in/fwd
  // policy (it would drop same-node traffic).
  std::vector<IpPrefix> pod_cidrs{};
};

struct PeerNode {
  uint16_t id = 0;
  IpAddr addr;
  std::vector<uint8_t> slots = {0};        // the peer's uplink slots (it sends from these)
  std::map<uint8_t, uint8_t> generations;  // peer slot -> its announced generation (default 0)
  std::vector<uint8_t> keys;               // key ids the peer has installed (inbound)
  std::optional<uint8_t> rx_slot;          // our slot its traffic arrives on (offloaded inbound)
  // Where its traffic goes: its pod CIDRs, plus its node address when host
  // traffic is encrypted. Empty: the outbound policies select the cluster
  // subnets (PlanOptions::subnets) instead.
  std::vector<IpPrefix> dsts;
  // Out policies only, no strict in/fwd: its node addresses while host traffic
  // is not encrypted. The BPF program marks pod-to-node traffic for them (so
  // they need an out policy), but the peer's plaintext host traffic must still
  // be received (docs/traffic-classes.md).
  std::vector<IpPrefix> out_only{};
};

struct PlanOptions {
  std::vector<IpPrefix> subnets;  // cluster pod CIDRs (in/fwd selectors; out when a peer has no dsts)
  uint32_t replay_window = 128;   // software states (ESN)
  // Offloaded states go without ESN (a device without xdo_dev_state_advance_esn
  // refuses ESN, xfrm_dev_state_add) and with the legacy 32-packet window; the
  // reconciler moves their slot to the next generation before 2^32.
  uint32_t offload_replay_window = 32;
  int inbound_generations = 2;  // g and g+1
  // Receive catch-alls (docs/traffic-classes.md): per prefix one optional policy
  // from any peer, selector 0/0 -> prefix, priority kRxAnyPriority, for
  // decrypted traffic whose inner source no peer prefix names (a peer's host
  // traffic from its node address without host encryption, a secondary address,
  // an outside client of forwarded NodePort traffic): without a policy the
  // kernel rejects a decrypted tunnel packet (XfrmInNoPols). The agent: fwd to
  // our pod CIDRs; in to our node addresses when host traffic is encrypted.
  std::vector<IpPrefix> rx_any_fwd{};
  std::vector<IpPrefix> rx_any_in{};
};

// One desired state and why it exists: its identity (SPI, addresses, selector,
// marks, mode, offload device, reqid, replay window and ESN) without key
// material: spec carries no transform (aead, auth_enc and cipher are empty).
// key_state() makes the keyed spec, only for a state that is to be sent.
struct DesiredState {
  xfrm::SaSpec spec;
  xfrm::Direction dir = xfrm::Direction::out;
  uint16_t peer = 0;
  uint8_t key = 0;
  uint8_t slot = 0;                    // out: our slot; in: the peer's slot
  std::optional<uint8_t> device_slot;  // the local slot whose device it is bound to (if offloaded)
};

struct DesiredSet {
  std::vector<DesiredState> states;
  std::vector<xfrm::PolicySpec> policies;
};

// Everything the node should have, as identities: no key is copied or derived
// (the key set says which key ids exist). Fails only on inconsistent input (a
// peer id out of range); never logs or returns key bytes.
Result<DesiredSet> plan(const LocalNode& local, const fallback::ModeBook& modes,
                        const std::vector<PeerNode>& peers, const keys::KeySet& keys,
                        const PlanOptions& opts);

// The state's spec with its transform and key: the shared key, or for a
// per-pair key the one derived (keys::derive_pair_key) from the state's outer
// addresses in the order its packets travel (saddr -> daddr). The only place a
// planned state gets key material; the reconciler calls it only for the states
// it sends. Fails when the key set no longer holds the key or derivation fails.
Result<xfrm::SaSpec> key_state(const DesiredState& d, const keys::KeySet& keys);
// Every state of `set` keyed in place (for tools that need the whole keyed set
// at once, such as the control-plane bench's `ip -batch` baseline).
Status key_all(DesiredSet& set, const keys::KeySet& keys);

// The key the BPF program may send to `peer` with once the outbound objects of
// `installed_keys` exist: the newest key both sides hold among those installed
// (0: none). The agent writes it to the nodes map only after the reconcile that
// installed it succeeded, which is the "outbound switches only when the peer has
// it" half of rotation.
uint8_t tx_key(const keys::KeySet& ours, const PeerNode& peer, const std::vector<uint8_t>& installed_keys);

}  // namespace sealnet::offload
