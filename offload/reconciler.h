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

struct ReconcileResult {
  size_t states_added = 0, states_deleted = 0;
  size_t policies_added = 0, policies_updated = 0, policies_deleted = 0;
  size_t software_retries = 0;  // offloaded adds re-sent as software (a, c)
  size_t resyncs = 0;           // dumps redone after an overrun
  size_t foreign_states = 0, foreign_policies = 0;  // seen and left alone
  size_t retiring = 0;          // owned, unwanted, inside the grace period
  size_t batches = 0;           // XfrmKernel::apply calls
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

  uint64_t grace_seconds = 30;
  // A non-ESN (offloaded) state that has sent this many packets moves its slot
  // to the next generation; RFC 4303 forbids wrapping the 32-bit counter.
  uint64_t sequence_limit = 0xF0000000ull;
  int max_resyncs = 3;

 private:
  Result<ReconcileResult> once(const ReconcileInput& in, uint64_t now);

  XfrmKernel& kernel_;
  fallback::ModeBook& modes_;
  std::map<std::string, uint64_t> retiring_since_;  // object key -> first seen unwanted
  // Offloaded outbound states we added: key -> slot. One that disappears while
  // its slot is up was flushed by a link flap we did not hear about.
  std::map<std::string, uint8_t> offloaded_out_;
  std::set<uint32_t> exhausted_;  // SPIs already rekeyed for sequence space
};

// The identity of a state and of a policy in the kernel.
std::string state_key(const xfrm::SaId& id, const std::optional<xfrm::Mark>& mark);
std::string policy_key(const xfrm::PolicySpec& p);
bool owned(const xfrm::SaInfo& sa);
bool owned(const xfrm::PolicySpec& p);

}  // namespace sealnet::offload
