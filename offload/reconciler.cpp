#include "offload/reconciler.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "bpf/shared.h"
#include "netlink/transport.h"

namespace sealnet::offload {

namespace {

// Keys are map keys only, never shown: the raw fields side by side (fixed
// widths, so two different identities never concatenate to the same bytes).
// A reconcile of 5,000 peers builds ~150,000 of them; formatting them as text
// (snprintf, inet_ntop) was most of its user time.
template <typename T>
void append(std::string& k, const T& v) {
  k.append(reinterpret_cast<const char*>(&v), sizeof v);
}
void append(std::string& k, const IpAddr& a) {
  k.push_back(static_cast<char>(a.family));
  k.append(reinterpret_cast<const char*>(a.bytes.data()), a.size());
}
void append(std::string& k, const std::optional<xfrm::Mark>& m) {
  append(k, m ? m->value : 0u);
  append(k, m ? m->mask : 0u);
}

}  // namespace

std::string state_key(const xfrm::SaId& id, const std::optional<xfrm::Mark>& mark) {
  std::string k;
  k.reserve(40);
  append(k, id.daddr);
  append(k, id.spi);
  append(k, id.proto);
  append(k, mark);
  return k;
}

std::string policy_key(const xfrm::PolicySpec& p) {
  std::string k;
  k.reserve(56);
  append(k, static_cast<uint8_t>(p.dir));
  append(k, p.selector.src.addr);
  append(k, p.selector.src.len);
  append(k, p.selector.dst.addr);
  append(k, p.selector.dst.len);
  append(k, p.selector.proto);
  append(k, p.mark);
  return k;
}

bool owned(const xfrm::SaInfo& sa) { return owned_reqid(sa.reqid); }

bool owned(const xfrm::PolicySpec& p) {
  for (const auto& t : p.templates)
    if (owned_reqid(t.reqid)) return true;
  return false;
}

namespace {

// A mark of {0, 0} and no mark are the same to the kernel (it omits XFRMA_MARK).
std::optional<xfrm::Mark> norm(const std::optional<xfrm::Mark>& m) {
  if (m && m->value == 0 && m->mask == 0) return std::nullopt;
  return m;
}

std::string key_of(const DesiredState& d) { return state_key(d.spec.id, norm(d.spec.mark)); }

}  // namespace

Result<ReconcileResult> Reconciler::reconcile(const ReconcileInput& in, uint64_t now) {
  for (int attempt = 0;; ++attempt) {
    auto r = once(in, now);
    if (r) {
      r->resyncs = static_cast<size_t>(attempt);
      return r;
    }
    // Lost replies: some requests may have been applied, some not. The dump
    // tells which; the diff is idempotent, so running it again is the resync.
    if (!nl::is_overrun(r.error()) || attempt >= max_resyncs) return r;
  }
}

Result<ReconcileResult> Reconciler::once(const ReconcileInput& in, uint64_t now) {
  if (!in.keys) return fail(EINVAL, "reconcile XFRM", {}, "no key set");
  ReconcileResult res;

  auto kstates = kernel_.states();
  if (!kstates) return std::unexpected(kstates.error());
  auto kpolicies = kernel_.policies();
  if (!kpolicies) return std::unexpected(kpolicies.error());

  std::map<std::string, const xfrm::SaInfo*> have_states;
  for (const auto& sa : *kstates) {
    if (!owned(sa)) {
      ++res.foreign_states;
      continue;
    }
    have_states[state_key(sa.id, norm(sa.mark))] = &sa;
  }
  std::map<std::string, const xfrm::PolicySpec*> have_policies;
  for (const auto& p : *kpolicies) {
    if (!owned(p.spec)) {
      ++res.foreign_policies;
      continue;
    }
    have_policies[policy_key(p.spec)] = &p.spec;
  }

  // (d) without an event: offloaded outbound states of ours that the kernel no
  // longer has were flushed with their device. Their SPIs must not come back
  // (the peer's replay window is past sequence 1): next generation.
  std::set<uint8_t> flushed_slots;
  for (auto it = offloaded_out_.begin(); it != offloaded_out_.end();) {
    if (have_states.contains(it->first)) {
      ++it;
      continue;
    }
    flushed_slots.insert(it->second);
    it = offloaded_out_.erase(it);
  }
  for (uint8_t s : flushed_slots) {
    const auto* st = modes_.slot(s);
    if (st && st->up) {
      modes_.link_down(s, now, true);
      modes_.link_up(s, now);
    }
  }

  // Sequence space of states without ESN (the offloaded ones).
  for (const auto& [k, sa] : have_states) {
    if (sa->reqid != kReqidOut || sa->esn || sa->current.packets < sequence_limit) continue;
    if (!exhausted_.insert(sa->id.spi).second) continue;
    modes_.sequence_exhausting(split_spi(sa->id.spi).slot, sa->id.spi, sa->current.packets, now);
  }

  auto planned = plan(in.local, modes_, in.peers, *in.keys, in.opts);
  if (!planned) return std::unexpected(planned.error());
  DesiredSet desired = std::move(*planned);

  // Lookups only (no ordered walks): hashed, they cost a fraction of a tree of
  // 30,000 keys that share long prefixes.
  std::unordered_set<std::string> present;  // owned objects that exist after this run
  present.reserve(have_states.size() + have_policies.size() + desired.states.size() +
                  desired.policies.size());
  for (const auto& [k, v] : have_states) present.insert(k);
  for (const auto& [k, v] : have_policies) present.insert(k);

  // ---- states to add, with offload refusals answered by software re-adds.
  std::vector<std::string> pending;
  for (const auto& d : desired.states)
    if (auto k = key_of(d); !have_states.contains(k)) pending.push_back(std::move(k));

  std::vector<StateRef> readback;
  std::vector<const DesiredState*> readback_of;
  for (int round = 0; round < 3 && !pending.empty(); ++round) {
    std::unordered_map<std::string, const DesiredState*> by_key;
    by_key.reserve(desired.states.size());
    for (const auto& d : desired.states) by_key[key_of(d)] = &d;
    std::vector<KernelOp> ops;
    std::vector<const DesiredState*> sent;
    ops.reserve(pending.size());
    sent.reserve(pending.size());
    for (const auto& k : pending) {
      auto it = by_key.find(k);
      if (it == by_key.end()) continue;  // the re-plan dropped it
      ops.push_back(KernelOp::add(it->second->spec));
      sent.push_back(it->second);
    }
    pending.clear();
    if (ops.empty()) break;
    auto st = kernel_.apply(ops);
    ++res.batches;
    if (!st) return std::unexpected(st.error());
    bool replan = false;
    for (size_t i = 0; i < sent.size(); ++i) {
      const DesiredState& d = *sent[i];
      if ((*st)[i]) {
        ++res.states_added;
        present.insert(key_of(d));
        if (d.spec.offload && d.spec.offload->mode != xfrm::OffloadMode::none) {
          readback.push_back({d.spec.id, d.spec.mark});
          readback_of.push_back(&d);
          if (d.dir == xfrm::Direction::out) offloaded_out_[key_of(d)] = *d.device_slot;
        }
        continue;
      }
      const Error& e = (*st)[i].error();
      if (d.spec.offload && d.spec.offload->mode != xfrm::OffloadMode::none && d.device_slot) {
        // (a) / (c): the kernel refused the offloaded add whole (only
        // EOPNOTSUPP falls back by itself); nothing was installed.
        modes_.offload_refused(*d.device_slot, d.spec.id.spi, d.spec.id.daddr.str(), d.spec.offload->mode,
                               e.err, e.detail, now);
        pending.push_back(key_of(d));
        ++res.software_retries;
        replan = true;
      } else {
        res.errors.push_back(e);
      }
    }
    if (replan) {
      auto again = plan(in.local, modes_, in.peers, *in.keys, in.opts);
      if (!again) return std::unexpected(again.error());
      // Read-back pointers point into the old plan: take their keys before it
      // goes, then re-point them into the new one.
      std::vector<std::string> readback_keys;
      for (auto* d : readback_of) readback_keys.push_back(d ? key_of(*d) : std::string());
      desired = std::move(*again);
      std::unordered_map<std::string, const DesiredState*> now_by_key;
      for (const auto& d : desired.states) now_by_key[key_of(d)] = &d;
      for (size_t i = 0; i < readback_of.size(); ++i) {
        auto it = now_by_key.find(readback_keys[i]);
        readback_of[i] = it == now_by_key.end() ? nullptr : it->second;
      }
    }
  }

  // ---- (b): did the offload the kernel accepted actually attach?
  if (!readback.empty()) {
    auto rb = kernel_.read_back(readback);
    if (!rb) return std::unexpected(rb.error());
    for (size_t i = 0; i < rb->size(); ++i) {
      if (!(*rb)[i] || (*rb)[i]->offload) continue;
      const auto& ref = readback[i];
      const std::string k = state_key(ref.id, norm(ref.mark));
      auto slot_it = offloaded_out_.find(k);
      uint8_t slot = 0;
      if (slot_it != offloaded_out_.end()) {
        slot = slot_it->second;
        offloaded_out_.erase(slot_it);
      } else if (readback_of[i] && readback_of[i]->device_slot) {
        slot = *readback_of[i]->device_slot;
      }
      modes_.no_offload_readback(slot, ref.id.spi, ref.id.daddr.str(), xfrm::OffloadMode::crypto, now);
    }
  }

  // ---- policies: add the missing, UPDPOLICY the different.
  std::map<std::string, const xfrm::PolicySpec*> want_policies;
  for (const auto& p : desired.policies) want_policies[policy_key(p)] = &p;
  {
    std::vector<KernelOp> ops;
    ops.reserve(want_policies.size() - std::min(want_policies.size(), have_policies.size()));
    for (const auto& [k, p] : want_policies) {
      auto it = have_policies.find(k);
      if (it == have_policies.end())
        ops.push_back(KernelOp::add(*p, false));
      else if (!(*it->second == *p))
        ops.push_back(KernelOp::add(*p, true));
    }
    if (!ops.empty()) {
      auto st = kernel_.apply(ops);
      ++res.batches;
      if (!st) return std::unexpected(st.error());
      for (size_t i = 0; i < ops.size(); ++i) {
        if (!(*st)[i]) {
          res.errors.push_back((*st)[i].error());
          if (ops[i].kind == KernelOp::Kind::add_policy) continue;
        }
        if ((*st)[i]) {
          ops[i].kind == KernelOp::Kind::add_policy ? ++res.policies_added : ++res.policies_updated;
          present.insert(policy_key(ops[i].policy));
        }
      }
    }
  }

  // ---- retire what is ours and no longer wanted, after the grace period.
  std::unordered_set<std::string> want_state_keys;
  want_state_keys.reserve(desired.states.size());
  for (const auto& d : desired.states) want_state_keys.insert(key_of(d));
  std::vector<KernelOp> deletes;
  std::set<std::string> unwanted;
  for (const auto& [k, p] : have_policies) {
    if (want_policies.contains(k)) continue;
    unwanted.insert(k);
    auto [it, fresh] = retiring_since_.try_emplace(k, now);
    if (now - it->second >= grace_seconds)
      deletes.push_back(KernelOp::remove(*p));
    else
      ++res.retiring;
  }
  for (const auto& [k, sa] : have_states) {
    if (want_state_keys.contains(k)) continue;
    unwanted.insert(k);
    auto [it, fresh] = retiring_since_.try_emplace(k, now);
    if (now - it->second >= grace_seconds)
      deletes.push_back(KernelOp::remove(sa->id, norm(sa->mark)));
    else
      ++res.retiring;
  }
  std::erase_if(retiring_since_, [&](const auto& kv) { return !unwanted.contains(kv.first); });
  if (!deletes.empty()) {
    auto st = kernel_.apply(deletes);
    ++res.batches;
    if (!st) return std::unexpected(st.error());
    for (size_t i = 0; i < deletes.size(); ++i) {
      const bool gone = (*st)[i] || (*st)[i].error().err == ENOENT;
      if (!(*st)[i] && (*st)[i].error().err != ENOENT) res.errors.push_back((*st)[i].error());
      if (!gone) continue;
      if (deletes[i].kind == KernelOp::Kind::delete_policy) {
        ++res.policies_deleted;
        retiring_since_.erase(policy_key(deletes[i].policy));
      } else {
        ++res.states_deleted;
        const std::string k = state_key(deletes[i].id, deletes[i].mark);
        retiring_since_.erase(k);
        offloaded_out_.erase(k);
      }
    }
  }

  // ---- which keys each peer can be sent with now.
  std::map<std::pair<uint16_t, uint8_t>, bool> complete;
  for (const auto& d : desired.states) {
    if (d.dir != xfrm::Direction::out) continue;
    auto& ok = complete.try_emplace({d.peer, d.key}, true).first->second;
    ok = ok && present.contains(key_of(d));
  }
  for (const auto& p : desired.policies) {
    if (p.dir != xfrm::PolicyDir::out || !p.mark) continue;
    const uint16_t peer = static_cast<uint16_t>(p.mark->value >> SEALNET_MARK_NODE_SHIFT);
    const uint8_t key =
        static_cast<uint8_t>((p.mark->value & SEALNET_MARK_KEY_MASK) >> SEALNET_MARK_KEY_SHIFT);
    auto& ok = complete.try_emplace({peer, key}, true).first->second;
    ok = ok && present.contains(policy_key(p));
  }
  for (const auto& [pk, ok] : complete)
    if (ok) res.installed_keys[pk.first].push_back(pk.second);
  return res;
}

}  // namespace sealnet::offload
