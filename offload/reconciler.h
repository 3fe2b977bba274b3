// Makes the kernel's XFRM database hold what offload/binding.h plans, and
// nothing else of ours: dump, diff, apply the difference in batches.
//
//  - Idempotent: a second run with the same input sends nothing.
//  - Touches only what changed; never flushes; owns only objects with sealnet's
//    reqids (offload::owned_reqid) and leaves every other state and policy alone.
//  - Never delete-then-add: new states are added (new SPIs) before the ones they
//    replace retire, policies change with UPDPOLICY, and owned objects that are
//    no longer wanted are deleted only after `grace_seconds`.
//  - Order inside one run: states first, then policies, then deletions, so a
//    policy never points at a state that is not there yet.
//  - Offload outcomes go to the ModeBook (fallback/modes.h): a refused offloaded
//    add (a, c) is re-added as software in the same run, a read-back without
//    offload (b) is recorded; an offloaded outbound state that vanished (link
//    flap we did not hear about, d) moves its slot to the next generation.
//  - ENOBUFS (lost replies): dump again and redo the diff (bounded).
//  - Keys: the plan is identities only (offload/binding.h); the diff is by
//    identity against a dump decoded without keys (xfrm::SaEntry), and a key is
//    derived (offload::key_state) only for a state that is sent. A state is
//    never changed in place (its key and replay state cannot be): one that must
//    differ gets a new SPI (next generation) and is added.
//  - The last dump, amended by what the run added and deleted, is kept as the
//    reconciler's view of its states (no keys): the agent's status reads it
//    instead of dumping the SAD again (docs/status.md).
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "fallback/modes.h"
#include "offload/binding.h"
#include "offload/xfrm_kernel.h"

namespace sealnet::offload {

struct ReconcileInput {
  LocalNode local;
  std::vector<PeerNode> peers;
  const keys::KeySet* keys = nullptr;
  PlanOptions opts;
};

// Where a reconcile's wall time went, in nanoseconds; the five add up to the
// run's wall time (docs/xfrm-design.md, "Installing them"):
//   dump    the state and policy dumps decoded, the flush and sequence checks
//   plan    offload::plan (identities, no keys), and re-plans after refusals
//   diff    plan against dump by identity, the bookkeeping after each batch
//   send    keys derived for what is sent, requests encoded, answers matched
//   kernel  inside the kernel's answers (XfrmKernel::kernel_ns: from the first
//           sendmsg to the last reply read, for dumps, changes and read-backs)
// Ours is everything but the kernel's share. After overruns, the sum of all runs.
struct ReconcileTimes {
  uint64_t dump_ns = 0, plan_ns = 0, diff_ns = 0, send_ns = 0, kernel_ns = 0;
  uint64_t total_ns() const { return dump_ns + plan_ns + diff_ns + send_ns + kernel_ns; }
  uint64_t ours_ns() const { return dump_ns + plan_ns + diff_ns + send_ns; }
  // "dump 12.3 plan 4.5 diff 6.7 send 8.9 kernel 10.1 total 42.5 ms (ours 76%)": the status line.
  std::string str() const;
};

struct ReconcileResult {
  size_t states_added = 0, states_deleted = 0;
  size_t policies_added = 0, policies_updated = 0, policies_deleted = 0;
  size_t software_retries = 0;  // offloaded adds re-sent as software (a, c)
  size_t resyncs = 0;           // dumps redone after an overrun
  size_t foreign_states = 0, foreign_policies = 0;  // seen and left alone
  size_t retiring = 0;          // owned, unwanted, inside the grace period
  size_t batches = 0;           // XfrmKernel::apply calls
  size_t keys_derived = 0;      // states keyed (offload::key_state): one per state sent, none otherwise
  ReconcileTimes times;
  std::vector<Error> errors;    // objects the kernel refused for other reasons
  // Per peer: the keys whose outbound states and policies all exist now (input
  // of offload::tx_key).
  std::map<uint16_t, std::vector<uint8_t>> installed_keys;
  size_t changes() const {
    return states_added + states_deleted + policies_added + policies_updated + policies_deleted;
  }
};

class Reconciler {
 public:
  Reconciler(XfrmKernel& kernel, fallback::ModeBook& modes) : kernel_(kernel), modes_(modes) {}

  Result<ReconcileResult> reconcile(const ReconcileInput& in, uint64_t now);

  // Our states as the last reconcile that finished left them: its dump (owned
  // states only, identity and counters, no keys) with the states it added
  // (counters 0) and without those it deleted. Counters are as old as that
  // dump: view_time() is the `now` of that reconcile (0: none yet).
  const std::vector<xfrm::SaEntry>& view() const { return view_; }
  uint64_t view_time() const { return view_at_; }

  uint64_t grace_seconds = 30;
  // A non-ESN (offloaded) state that has sent this many packets moves its slot
  // to the next generation; RFC 4303 forbids wrapping the 32-bit counter.
  uint64_t sequence_limit = 0xF0000000ull;
  int max_resyncs = 3;

 private:
  Result<ReconcileResult> once(const ReconcileInput& in, uint64_t now);

  XfrmKernel& kernel_;
  fallback::ModeBook& modes_;
  ReconcileTimes times_;  // of the current reconcile(), over its attempts
  std::vector<xfrm::SaEntry> view_;
  uint64_t view_at_ = 0;
  std::map<std::string, uint64_t> retiring_since_;  // object key -> first seen unwanted
  // Offloaded outbound states we added: key -> slot. One that disappears while
  // its slot is up was flushed by a link flap we did not hear about.
  std::map<std::string, uint8_t> offloaded_out_;
  std::set<uint32_t> exhausted_;  // SPIs already rekeyed for sequence space
};

// The identity of a state and of a policy in the kernel.
std::string state_key(const xfrm::SaId& id, const std::optional<xfrm::Mark>& mark);
std::string policy_key(const xfrm::PolicySpec& p);
bool owned(const xfrm::SaEntry& sa);
bool owned(const xfrm::PolicySpec& p);

}  // namespace sealnet::offload
