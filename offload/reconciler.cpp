#include "offload/reconciler.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
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

bool owned(const xfrm::SaEntry& sa) { return owned_reqid(sa.reqid); }

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

uint64_t mono_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

// Splits one run's wall time into ReconcileTimes: each lap() gives the time
// since the previous one to a phase, less what the kernel reported for the same
// span (XfrmKernel::kernel_ns), which goes to `kernel`. The laps tile the run,
// so the five add up to its wall time.
class Laps {
 public:
  Laps(ReconcileTimes& t, const XfrmKernel& k) : t_(t), k_(k), last_(mono_ns()), kern_(k.kernel_ns()) {}
  Laps(const Laps&) = delete;
  Laps& operator=(const Laps&) = delete;
  ~Laps() { lap(&ReconcileTimes::diff_ns); }  // what an early return leaves
  void lap(uint64_t ReconcileTimes::*phase) {
    const uint64_t now = mono_ns(), kern = k_.kernel_ns();
    const uint64_t span = now - last_, in_kernel = std::min(kern - kern_, span);
    t_.*phase += span - in_kernel;
    t_.kernel_ns += in_kernel;
    last_ = now;
    kern_ = kern;
  }

 private:
  ReconcileTimes& t_;
  const XfrmKernel& k_;
  uint64_t last_, kern_;
};

// A planned state as the kernel will list it once added (counters 0).
xfrm::SaEntry entry_of(const DesiredState& d) {
  xfrm::SaEntry e;
  e.id = d.spec.id;
  e.saddr = d.spec.saddr;
  e.reqid = d.spec.reqid;
  e.mode = d.spec.mode;
  e.replay_window = d.spec.replay_window;
  e.esn = d.spec.esn;
  e.selector = d.spec.selector;
  e.mark = norm(d.spec.mark);
  e.set_mark = d.spec.set_mark;
  e.extra_flags = d.spec.extra_flags;
  if (d.spec.offload && d.spec.offload->mode != xfrm::OffloadMode::none) {
    xfrm::OffloadInfo oi;
    oi.ifindex = d.spec.offload->ifindex;
    oi.flags =
        static_cast<uint8_t>((d.spec.offload->dir == xfrm::Direction::in ? XFRM_OFFLOAD_INBOUND : 0) |
                             (d.spec.offload->mode == xfrm::OffloadMode::packet ? XFRM_OFFLOAD_PACKET : 0));
    e.offload = oi;
  }
  return e;
}

}  // namespace

std::string ReconcileTimes::str() const {
  char buf[160];
  const double total = static_cast<double>(total_ns());
  std::snprintf(buf, sizeof buf,
                "dump %.1f plan %.1f diff %.1f send %.1f kernel %.1f total %.1f ms (ours %.0f%%)",
                dump_ns / 1e6, plan_ns / 1e6, diff_ns / 1e6, send_ns / 1e6, kernel_ns / 1e6, total / 1e6,
                total > 0 ? 100.0 * static_cast<double>(ours_ns()) / total : 0.0);
  return buf;
}

Result<ReconcileResult> Reconciler::reconcile(const ReconcileInput& in, uint64_t now) {
  times_ = {};
  for (int attempt = 0;; ++attempt) {
    auto r = once(in, now);
    if (r) {
      r->resyncs = static_cast<size_t>(attempt);
      r->times = times_;
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
  Laps laps(times_, kernel_);

  auto kstates = kernel_.states();
  if (!kstates) return std::unexpected(kstates.error());
  auto kpolicies = kernel_.policies();
  if (!kpolicies) return std::unexpected(kpolicies.error());

  // Our states in the dump by identity; `wanted` once the plan has them.
  struct Have {
    const xfrm::SaEntry* sa = nullptr;
    bool wanted = false;
  };
  std::unordered_map<std::string, Have> have_states;
  have_states.reserve(kstates->size());
  for (const auto& sa : *kstates) {
    if (!owned(sa)) {
      ++res.foreign_states;
      continue;
    }
    have_states[state_key(sa.id, norm(sa.mark))] = {&sa, false};
  }
  std::unordered_map<std::string, const xfrm::PolicySpec*> have_policies;
  have_policies.reserve(kpolicies->size());
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
  for (const auto& sa : *kstates) {
    if (sa.reqid != kReqidOut || sa.esn || sa.current.packets < sequence_limit) continue;
    if (!exhausted_.insert(sa.id.spi).second) continue;
    modes_.sequence_exhausting(split_spi(sa.id.spi).slot, sa.id.spi, sa.current.packets, now);
  }
  laps.lap(&ReconcileTimes::dump_ns);

  // Identities only: no key is copied or derived here.
  auto planned = plan(in.local, modes_, in.peers, *in.keys, in.opts);
  if (!planned) return std::unexpected(planned.error());
  DesiredSet desired = std::move(*planned);
  laps.lap(&ReconcileTimes::plan_ns);

  // Each planned state's identity, once, and whether the dump has it: one hash
  // lookup per planned state, none per state to keep.
  std::vector<std::string> desired_keys;
  std::vector<char> in_dump;  // per planned state
  auto match = [&] {
    desired_keys.clear();
    desired_keys.reserve(desired.states.size());
    in_dump.assign(desired.states.size(), 0);
    for (auto& [k, h] : have_states) h.wanted = false;
    for (size_t i = 0; i < desired.states.size(); ++i) {
      desired_keys.push_back(key_of(desired.states[i]));
      if (auto it = have_states.find(desired_keys.back()); it != have_states.end()) {
        it->second.wanted = true;
        in_dump[i] = 1;
      }
    }
  };
  match();

  // Owned objects this run added (the dump's exist too).
  std::unordered_set<std::string> added_now;

  // ---- states to add (indices into desired.states), with offload refusals
  // answered by software re-adds.
  std::vector<size_t> pending;
  for (size_t i = 0; i < desired.states.size(); ++i)
    if (!in_dump[i]) pending.push_back(i);

  std::vector<StateRef> readback;
  std::vector<std::optional<size_t>> readback_of;            // the planned state of each
  std::vector<std::pair<std::string, xfrm::SaEntry>> added;  // for the view
  laps.lap(&ReconcileTimes::diff_ns);
  for (int round = 0; round < 3 && !pending.empty(); ++round) {
    std::vector<KernelOp> ops;
    std::vector<size_t> sent;
    ops.reserve(pending.size());
    sent.reserve(pending.size());
    for (size_t i : pending) {
      // The only key material of the run: derived for this request alone.
      auto keyed = key_state(desired.states[i], *in.keys);
      if (!keyed) return std::unexpected(keyed.error());
      ++res.keys_derived;
      ops.push_back(KernelOp::add(std::move(*keyed)));
      sent.push_back(i);
    }
    pending.clear();
    if (ops.empty()) break;
    auto st = kernel_.apply(ops);
    ++res.batches;
    ops.clear();  // the keyed specs go now (SecretBytes: wiped as they are freed)
    if (!st) return std::unexpected(st.error());
    laps.lap(&ReconcileTimes::send_ns);
    bool replan = false;
    for (size_t j = 0; j < sent.size(); ++j) {
      const DesiredState& d = desired.states[sent[j]];
      const std::string& k = desired_keys[sent[j]];
      if ((*st)[j]) {
        ++res.states_added;
        added_now.insert(k);
        if (d.spec.offload && d.spec.offload->mode != xfrm::OffloadMode::none) {
          readback.push_back({d.spec.id, d.spec.mark});
          readback_of.push_back(sent[j]);
          if (d.dir == xfrm::Direction::out) offloaded_out_[k] = *d.device_slot;
        }
        added.emplace_back(k, entry_of(d));
        continue;
      }
      const Error& e = (*st)[j].error();
      if (d.spec.offload && d.spec.offload->mode != xfrm::OffloadMode::none && d.device_slot) {
        // (a) / (c): the kernel refused the offloaded add whole (only
        // EOPNOTSUPP falls back by itself); nothing was installed.
        modes_.offload_refused(*d.device_slot, d.spec.id.spi, d.spec.id.daddr.str(), d.spec.offload->mode,
                               e.err, e.detail, now);
        pending.push_back(sent[j]);
        ++res.software_retries;
        replan = true;
      } else {
        res.errors.push_back(e);
      }
    }
    laps.lap(&ReconcileTimes::diff_ns);
    if (replan) {
      auto again = plan(in.local, modes_, in.peers, *in.keys, in.opts);
      if (!again) return std::unexpected(again.error());
      laps.lap(&ReconcileTimes::plan_ns);
      // Indices point into the old plan: take their identities before it
      // goes, then find them in the new one (a state it dropped is not re-sent).
      std::vector<std::string> pending_keys, readback_keys;
      for (size_t i : pending) pending_keys.push_back(desired_keys[i]);
      for (const auto& i : readback_of) readback_keys.push_back(i ? desired_keys[*i] : std::string());
      desired = std::move(*again);
      match();
      std::unordered_map<std::string, size_t> by_key;
      by_key.reserve(desired.states.size());
      for (size_t i = 0; i < desired_keys.size(); ++i) by_key[desired_keys[i]] = i;
      pending.clear();
      for (const auto& k : pending_keys)
        if (auto it = by_key.find(k); it != by_key.end()) pending.push_back(it->second);
      for (size_t i = 0; i < readback_of.size(); ++i) {
        auto it = by_key.find(readback_keys[i]);
        readback_of[i] = it == by_key.end() ? std::nullopt : std::optional<size_t>(it->second);
      }
      laps.lap(&ReconcileTimes::diff_ns);
    }
  }

  // ---- (b): did the offload the kernel accepted actually attach?
  std::unordered_map<std::string, std::optional<xfrm::OffloadInfo>>
      read_offload;  // identity -> what it read back
  if (!readback.empty()) {
    auto rb = kernel_.read_back(readback);
    if (!rb) return std::unexpected(rb.error());
    laps.lap(&ReconcileTimes::send_ns);
    for (size_t i = 0; i < rb->size(); ++i) {
      const auto& ref = readback[i];
      const std::string k = state_key(ref.id, norm(ref.mark));
      if (!(*rb)[i]) continue;
      read_offload[k] = (*rb)[i]->offload;
      if ((*rb)[i]->offload) continue;
      auto slot_it = offloaded_out_.find(k);
      uint8_t slot = 0;
      if (slot_it != offloaded_out_.end()) {
        slot = slot_it->second;
        offloaded_out_.erase(slot_it);
      } else if (readback_of[i] && desired.states[*readback_of[i]].device_slot) {
        slot = *desired.states[*readback_of[i]].device_slot;
      }
      modes_.no_offload_readback(slot, ref.id.spi, ref.id.daddr.str(), xfrm::OffloadMode::crypto, now);
    }
  }

  // ---- policies: add the missing, UPDPOLICY the different.
  std::vector<std::string> policy_keys;
  policy_keys.reserve(desired.policies.size());
  std::unordered_map<std::string, const xfrm::PolicySpec*> want_policies;
  want_policies.reserve(desired.policies.size());
  for (const auto& p : desired.policies) {
    policy_keys.push_back(policy_key(p));
    want_policies[policy_keys.back()] = &p;
  }
  {
    std::vector<KernelOp> ops;
    ops.reserve(want_policies.size() - std::min(want_policies.size(), have_policies.size()));
    // In plan order, so a batch's order does not depend on the hash.
    for (size_t i = 0; i < desired.policies.size(); ++i) {
      const auto& p = desired.policies[i];
      const std::string& k = policy_keys[i];
      if (want_policies.at(k) != &p) continue;  // a duplicate selector: the last one wins, as before
      auto it = have_policies.find(k);
      if (it == have_policies.end())
        ops.push_back(KernelOp::add(p, false));
      else if (!(*it->second == p))
        ops.push_back(KernelOp::add(p, true));
    }
    laps.lap(&ReconcileTimes::diff_ns);
    if (!ops.empty()) {
      auto st = kernel_.apply(ops);
      ++res.batches;
      if (!st) return std::unexpected(st.error());
      laps.lap(&ReconcileTimes::send_ns);
      for (size_t i = 0; i < ops.size(); ++i) {
        if (!(*st)[i]) {
          res.errors.push_back((*st)[i].error());
          if (ops[i].kind == KernelOp::Kind::add_policy) continue;
        }
        if ((*st)[i]) {
          ops[i].kind == KernelOp::Kind::add_policy ? ++res.policies_added : ++res.policies_updated;
          added_now.insert(policy_key(ops[i].policy));
        }
      }
    }
  }

  // ---- retire what is ours and no longer wanted, after the grace period.
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
  for (const auto& [k, h] : have_states) {
    if (h.wanted) continue;
    unwanted.insert(k);
    auto [it, fresh] = retiring_since_.try_emplace(k, now);
    if (now - it->second >= grace_seconds)
      deletes.push_back(KernelOp::remove(h.sa->id, norm(h.sa->mark)));
    else
      ++res.retiring;
  }
  // The kernel's order does not depend on the hash: policies first, then states, each by identity.
  std::stable_sort(deletes.begin(), deletes.end(), [](const KernelOp& a, const KernelOp& b) {
    const bool pa = a.kind == KernelOp::Kind::delete_policy, pb = b.kind == KernelOp::Kind::delete_policy;
    if (pa != pb) return pa;
    return pa ? policy_key(a.policy) < policy_key(b.policy)
              : state_key(a.id, a.mark) < state_key(b.id, b.mark);
  });
  std::erase_if(retiring_since_, [&](const auto& kv) { return !unwanted.contains(kv.first); });
  std::unordered_set<std::string> deleted;  // identities of the states this run deleted
  laps.lap(&ReconcileTimes::diff_ns);
  if (!deletes.empty()) {
    auto st = kernel_.apply(deletes);
    ++res.batches;
    if (!st) return std::unexpected(st.error());
    laps.lap(&ReconcileTimes::send_ns);
    for (size_t i = 0; i < deletes.size(); ++i) {
      const bool gone = (*st)[i] || (*st)[i].error().err == ENOENT;
      if (!(*st)[i] && (*st)[i].error().err != ENOENT) res.errors.push_back((*st)[i].error());
      if (!gone) continue;
      if (deletes[i].kind == KernelOp::Kind::delete_policy) {
        ++res.policies_deleted;
        retiring_since_.erase(policy_key(deletes[i].policy));
      } else {
        ++res.states_deleted;
        std::string k = state_key(deletes[i].id, deletes[i].mark);
        retiring_since_.erase(k);
        offloaded_out_.erase(k);
        deleted.insert(std::move(k));
      }
    }
  }

  // ---- which keys each peer can be sent with now.
  std::map<std::pair<uint16_t, uint8_t>, bool> complete;
  for (size_t i = 0; i < desired.states.size(); ++i) {
    const auto& d = desired.states[i];
    if (d.dir != xfrm::Direction::out) continue;
    auto& ok = complete.try_emplace({d.peer, d.key}, true).first->second;
    ok = ok && (in_dump[i] || added_now.contains(desired_keys[i]));
  }
  for (size_t i = 0; i < desired.policies.size(); ++i) {
    const auto& p = desired.policies[i];
    if (p.dir != xfrm::PolicyDir::out || !p.mark) continue;
    const uint16_t peer = static_cast<uint16_t>(p.mark->value >> SEALNET_MARK_NODE_SHIFT);
    const uint8_t key =
        static_cast<uint8_t>((p.mark->value & SEALNET_MARK_KEY_MASK) >> SEALNET_MARK_KEY_SHIFT);
    auto& ok = complete.try_emplace({peer, key}, true).first->second;
    ok = ok && (have_policies.contains(policy_keys[i]) || added_now.contains(policy_keys[i]));
  }
  for (const auto& [pk, ok] : complete)
    if (ok) res.installed_keys[pk.first].push_back(pk.second);

  // ---- the view: the dump's owned states, less the deleted, plus the added.
  std::vector<xfrm::SaEntry> view;
  view.reserve(have_states.size() + added.size() - std::min(have_states.size(), deleted.size()));
  for (auto& sa : *kstates) {
    if (!owned(sa)) continue;
    if (!deleted.empty() && deleted.contains(state_key(sa.id, norm(sa.mark)))) continue;
    view.push_back(std::move(sa));
  }
  for (auto& [k, e] : added) {
    if (auto rb = read_offload.find(k); rb != read_offload.end()) e.offload = rb->second;
    view.push_back(std::move(e));
  }
  view_ = std::move(view);
  view_at_ = now;
  return res;
}

}  // namespace sealnet::offload
