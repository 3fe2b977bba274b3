#include "offload/binding.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <map>

#include "bpf/shared.h"

namespace sealnet::offload {

uint32_t make_spi(uint16_t node, uint8_t key, uint8_t slot, uint8_t generation) {
  return (uint32_t{node} << 16) | (uint32_t{key & 0xFu} << 12) | (uint32_t{slot & 0xFu} << 8) | generation;
}

SpiParts split_spi(uint32_t spi) {
  return {static_cast<uint16_t>(spi >> 16), static_cast<uint8_t>((spi >> 12) & 0xF),
          static_cast<uint8_t>((spi >> 8) & 0xF), static_cast<uint8_t>(spi & 0xFF)};
}

namespace {

IpPrefix any_of(uint8_t family) {
  IpPrefix p;
  p.addr.family = family;
  p.len = 0;
  return p;
}

// The key of one direction: the shared one, or for a per-pair key the one derived
// from both addresses in the order the packets travel.
Result<xfrm::SaSpec> with_key(xfrm::SaSpec sa, const keys::Key& key, const IpAddr& src, const IpAddr& dst) {
  auto material = [&](const SecretBytes& shared) -> Result<SecretBytes> {
    if (!key.per_pair) return shared;
    return keys::derive_pair_key(shared, src, dst);
  };
  if (key.form == keys::KeyForm::Aead) {
    auto k = material(key.aead_key);
    if (!k) return std::unexpected(k.error());
    sa.aead.emplace();
    sa.aead->name = key.aead_algo;
    sa.aead->key = std::move(*k);
    sa.aead->icv_bits = key.icv_bits;
  } else {
    auto a = material(key.auth_key);
    if (!a) return std::unexpected(a.error());
    auto e = material(key.enc_key);
    if (!e) return std::unexpected(e.error());
    xfrm::AuthEnc ae;
    ae.auth_name = key.auth_algo;
    ae.auth_key = std::move(*a);
    // RFC 4868: HMAC-SHA-256 is truncated to half its output, 128 bits.
    ae.trunc_bits = key.auth_algo == "hmac(sha512)" ? 256 : key.auth_algo == "hmac(sha384)" ? 192
                    : key.auth_algo == "hmac(sha1)"   ? 96
                                                      : 128;
    ae.enc_name = key.enc_algo;
    ae.enc_key = std::move(*e);
    sa.auth_enc = std::move(ae);
  }
  return sa;
}

void set_replay(xfrm::SaSpec& sa, bool offloaded, const PlanOptions& opts) {
  if (offloaded) {
    sa.esn = false;
    sa.replay_window = opts.offload_replay_window;
  } else {
    sa.esn = true;
    sa.replay_window = opts.replay_window;
  }
}

bool has_key(const std::vector<uint8_t>& ks, uint8_t k) { return std::find(ks.begin(), ks.end(), k) != ks.end(); }

}  // namespace

Result<DesiredSet> plan(const LocalNode& local, const fallback::ModeBook& modes, const std::vector<PeerNode>& peers,
                        const keys::KeySet& keys, const PlanOptions& opts) {
  if (local.id == 0) return fail(EINVAL, "plan XFRM objects", "local node", "node id 0 is reserved");
  if (local.addr.family != AF_INET && local.addr.family != AF_INET6)
    return fail(EINVAL, "plan XFRM objects", "local node", "no node address");
  DesiredSet out;
  const uint8_t family = local.addr.family;
  // Room for the usual case (one peer slot, one prefix each): a 5,000-peer plan
  // would otherwise move its 30,000 objects several times.
  const size_t per_peer = keys.keys.size() * modes.slots().size();
  out.states.reserve(peers.size() *
                     (per_peer + keys.keys.size() * static_cast<size_t>(opts.inbound_generations)));
  out.policies.reserve(peers.size() * per_peer + 2 * opts.subnets.size());

  for (const PeerNode& peer : peers) {
    const std::string who = "peer " + std::to_string(peer.id);
    if (peer.id == 0 || peer.id > SEALNET_MAX_NODE_ID || peer.id == local.id)
      return fail(EINVAL, "plan XFRM objects", who, "bad node id");
    if (peer.addr.family != family)
      return fail(EINVAL, "plan XFRM objects", who, "outer address family differs from ours");
    for (const auto* list : {&peer.dsts, &peer.out_only})
      for (const IpPrefix& d : *list)
        if (d.addr.family != AF_INET && d.addr.family != AF_INET6)
          return fail(EINVAL, "plan XFRM objects", who, "dsts: a prefix without an address family");

    for (const keys::Key& key : keys.keys) {
      // ---- outbound: only for keys the peer can decrypt.
      if (has_key(peer.keys, key.id)) {
        for (const auto& [slot_no, slot] : modes.slots()) {
          // Every (peer, key, slot) the BPF program can produce has its policy,
          // also while the slot's device is down: a mark without a policy would
          // leave in plaintext, one without a state is dropped (XfrmOutNoStates).
          // A device that is down had its offloaded states flushed; it gets
          // fresh ones (next generation) when it comes back.
          const uint32_t mark = sealnet_mark_encrypt(peer.id, key.id, slot_no);
          const auto mode = modes.mode_for(slot_no, make_spi(local.id, key.id, slot_no, slot.generation));
          auto out_policy = [&](const IpPrefix& dst) {
            xfrm::PolicySpec p;
            p.selector = {any_of(dst.addr.family), dst, 0};
            p.dir = xfrm::PolicyDir::out;
            p.priority = kPolicyPriority;
            p.mark = xfrm::Mark{mark, SEALNET_MARK_POLICY_MASK};
            p.templates.push_back({{peer.addr, 0, IPPROTO_ESP}, local.addr, kReqidOut, xfrm::SaMode::tunnel, false});
            // Packet offload: the kernel wants the policy on the device too.
            if (slot.mode == xfrm::OffloadMode::packet)
              p.offload = xfrm::OffloadRequest{slot.dev.ifindex, slot.mode, xfrm::Direction::out};
            out.policies.push_back(std::move(p));
          };
          for (const IpPrefix& dst : peer.dsts.empty() ? opts.subnets : peer.dsts) out_policy(dst);
          for (const IpPrefix& dst : peer.out_only) out_policy(dst);
          // Down: offloaded states were flushed; software ones stay (a flap
          // that flushed nothing moves nothing, docs/xfrm-design.md).
          if (!slot.up && slot.mode != xfrm::OffloadMode::none) continue;
          DesiredState st;
          st.dir = xfrm::Direction::out;
          st.peer = peer.id;
          st.key = key.id;
          st.slot = slot_no;
          xfrm::SaSpec sa;
          sa.id = {peer.addr, make_spi(local.id, key.id, slot_no, slot.generation), IPPROTO_ESP};
          sa.saddr = local.addr;
          sa.reqid = kReqidOut;
          sa.mode = xfrm::SaMode::tunnel;
          sa.mark = xfrm::Mark{mark, SEALNET_MARK_POLICY_MASK};
          sa.set_mark = xfrm::Mark{sealnet_mark_encrypted(slot_no), kSetMarkMask};
          if (mode != xfrm::OffloadMode::none) {
            sa.offload = xfrm::OffloadRequest{slot.dev.ifindex, mode, xfrm::Direction::out};
            st.device_slot = slot_no;
          }
          set_replay(sa, mode != xfrm::OffloadMode::none, opts);
          st.spec = std::move(sa);  // no key: key_state() adds it when the state is sent
          out.states.push_back(std::move(st));
        }
      }

      // ---- inbound: every key we hold, every slot the peer sends from, the
      // peer's generation and the next one.
      for (uint8_t peer_slot : peer.slots) {
        const auto g = peer.generations.contains(peer_slot) ? peer.generations.at(peer_slot) : uint8_t{0};
        for (int i = 0; i < opts.inbound_generations; ++i) {
          DesiredState st;
          st.dir = xfrm::Direction::in;
          st.peer = peer.id;
          st.key = key.id;
          st.slot = peer_slot;
          xfrm::SaSpec sa;
          sa.id = {local.addr, make_spi(peer.id, key.id, peer_slot, static_cast<uint8_t>(g + i)), IPPROTO_ESP};
          sa.saddr = peer.addr;
          sa.reqid = kReqidIn;
          sa.mode = xfrm::SaMode::tunnel;
          auto mode = xfrm::OffloadMode::none;
          if (peer.rx_slot) {
            mode = modes.mode_for(*peer.rx_slot, sa.id.spi);
            // Packet offload inbound would also need an offloaded `in` policy per
            // device; sealnet's inbound policies are shared, so crypto at most.
            if (mode == xfrm::OffloadMode::packet) mode = xfrm::OffloadMode::crypto;
          }
          if (mode != xfrm::OffloadMode::none) {
            sa.offload = xfrm::OffloadRequest{modes.slot(*peer.rx_slot)->dev.ifindex, mode, xfrm::Direction::in};
            st.device_slot = *peer.rx_slot;
          }
          set_replay(sa, mode != xfrm::OffloadMode::none, opts);
          st.spec = std::move(sa);
          out.states.push_back(std::move(st));
        }
      }
    }
  }

  // ---- in and fwd (docs/xfrm-design.md, "Policies"). Strict: per prefix a
  // peer's traffic comes from, a required template whose source is that peer,
  // so plaintext claiming the prefix (no secpath) and another peer's decrypted
  // traffic are dropped (XfrmInTmplMismatch). A prefix two peers claim: required,
  // from any peer (still no plaintext). One that overlaps our own pods: optional,
  // from any peer (required would drop same-node traffic; none would drop the
  // peer's decrypted traffic).
  struct Claim {
    const PeerNode* peer;  // nullptr: more than one peer
    bool optional;
  };
  std::map<IpPrefix, Claim> claimed;
  for (const PeerNode& peer : peers)
    for (const IpPrefix& src : peer.dsts) {
      const bool ours = std::any_of(local.pod_cidrs.begin(), local.pod_cidrs.end(),
                                    [&](const IpPrefix& own) { return own.overlaps(src); });
      auto [it, fresh] = claimed.try_emplace(src, Claim{&peer, ours});
      if (!fresh && it->second.peer != &peer) it->second.peer = nullptr;
    }
  for (const auto& [src, claim] : claimed) {
    for (auto dir : {xfrm::PolicyDir::in, xfrm::PolicyDir::fwd}) {
      xfrm::PolicySpec p;
      p.selector = {src, any_of(src.addr.family), 0};
      p.dir = dir;
      p.priority = rx_policy_priority(src.len);
      IpAddr from;
      from.family = family;
      if (claim.peer && !claim.optional) from = claim.peer->addr;
      p.templates.push_back({{local.addr, 0, IPPROTO_ESP}, from, kReqidIn, xfrm::SaMode::tunnel, claim.optional});
      out.policies.push_back(std::move(p));
    }
  }
  // In or fwd, optional, from any peer (template source 0).
  auto optional_from_any = [&](xfrm::Selector sel, xfrm::PolicyDir dir, uint32_t priority) {
    xfrm::PolicySpec p;
    p.selector = std::move(sel);
    p.dir = dir;
    p.priority = priority;
    IpAddr any;
    any.family = family;
    p.templates.push_back({{local.addr, 0, IPPROTO_ESP}, any, kReqidIn, xfrm::SaMode::tunnel, true});
    out.policies.push_back(std::move(p));
  };
  // Shared and optional, for the cluster subnets no peer claims exactly (peers
  // without dsts): decrypted traffic needs a policy (a tunnel-mode secpath no
  // template consumes is rejected), optional lets same-node plaintext through.
  for (const IpPrefix& subnet : opts.subnets) {
    if (claimed.contains(subnet)) continue;
    for (auto dir : {xfrm::PolicyDir::in, xfrm::PolicyDir::fwd})
      optional_from_any({subnet, any_of(subnet.addr.family), 0}, dir, kPolicyPriority);
  }
  // Catch-alls: decrypted traffic whose inner source no selector above names
  // still has a policy (XfrmInNoPols otherwise), and plaintext from such
  // sources is accepted as it was.
  for (const IpPrefix& dst : opts.rx_any_fwd)
    optional_from_any({any_of(dst.addr.family), dst, 0}, xfrm::PolicyDir::fwd, kRxAnyPriority);
  for (const IpPrefix& dst : opts.rx_any_in)
    optional_from_any({any_of(dst.addr.family), dst, 0}, xfrm::PolicyDir::in, kRxAnyPriority);
  return out;
}

Result<xfrm::SaSpec> key_state(const DesiredState& d, const keys::KeySet& keys) {
  const keys::Key* key = nullptr;
  for (const keys::Key& k : keys.keys)
    if (k.id == d.key) key = &k;
  if (!key)
    return fail(ENOENT, "key XFRM state", "spi " + std::to_string(d.spec.id.spi),
                "key " + std::to_string(d.key) + " is not in the key set");
  return with_key(d.spec, *key, d.spec.saddr, d.spec.id.daddr);
}

Status key_all(DesiredSet& set, const keys::KeySet& keys) {
  for (DesiredState& d : set.states) {
    auto k = key_state(d, keys);
    if (!k) return std::unexpected(k.error());
    d.spec = std::move(*k);
  }
  return {};
}

uint8_t tx_key(const keys::KeySet& ours, const PeerNode& peer, const std::vector<uint8_t>& installed_keys) {
  uint8_t best = 0;
  for (const keys::Key& k : ours.keys) {
    if (!has_key(peer.keys, k.id) || !has_key(installed_keys, k.id)) continue;
    if (best == 0 || (sealnet_key_ahead(k.id, best) >= 1 && sealnet_key_ahead(k.id, best) <= SEALNET_KEY_HALF_RING))
      best = k.id;
  }
  return best;
}

}  // namespace sealnet::offload
