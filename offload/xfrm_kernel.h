// Everything the reconciler asks the kernel's XFRM database, behind one
// interface: the real one speaks XFRM netlink through netlink/transport's batched
// Socket (changes: up to 1 MiB per sendmsg, only refusals answered, each matched
// to its request by sequence number, nl::Acks::errors); unit
// tests inject a fake (tests/unit/offload_fake_kernel.h).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "netlink/xfrm_codec.h"

namespace sealnet::offload {

struct KernelOp {
  enum class Kind : uint8_t { add_state, delete_state, add_policy, update_policy, delete_policy };
  Kind kind = Kind::add_state;
  xfrm::SaSpec state;              // add_state
  xfrm::SaId id;                   // delete_state
  std::optional<xfrm::Mark> mark;  // delete_state
  xfrm::PolicySpec policy;         // the policy ops (delete uses selector, dir, mark)

  static KernelOp add(xfrm::SaSpec s);
  static KernelOp remove(const xfrm::SaId& id, std::optional<xfrm::Mark> mark);
  static KernelOp add(xfrm::PolicySpec p, bool update);
  static KernelOp remove(const xfrm::PolicySpec& p);
  std::string describe() const;  // "NEWSA spi 0x00011000 -> 10.0.0.2": no key material
};

struct StateRef {
  xfrm::SaId id;
  std::optional<xfrm::Mark> mark;
};

class XfrmKernel {
 public:
  virtual ~XfrmKernel() = default;
  // Every SA of the namespace, identity and counters only (xfrm::SaEntry): the
  // dump's key bytes are never copied out of the (wiped) reply buffers.
  virtual Result<std::vector<xfrm::SaEntry>> states() = 0;
  virtual Result<std::vector<xfrm::PolicyInfo>> policies() = 0;
  // One Status per op, in order (a refused op carries errno and the extack in
  // Error::detail). The call itself fails only when the transport does; an
  // overrun (nl::is_overrun) means replies were lost: dump again.
  virtual Result<std::vector<Status>> apply(const std::vector<KernelOp>& ops) = 0;
  // GETSA for each: what the kernel made of the states just added.
  virtual Result<std::vector<Result<xfrm::SaInfo>>> read_back(const std::vector<StateRef>& refs) = 0;
  // Nanoseconds spent so far inside the kernel's answers: from the first
  // sendmsg of a request (or batch) to the last reply read for it, summed over
  // every call (dumps, changes, read-backs). Encoding and decoding are not in
  // it. The reconciler's time split takes its "kernel" share from here
  // (docs/xfrm-design.md, "Installing them"); 0 when not measured.
  virtual uint64_t kernel_ns() const { return 0; }
};

// XFRM netlink in the calling thread's current network namespace.
Result<std::unique_ptr<XfrmKernel>> make_netlink_kernel();

}  // namespace sealnet::offload
