// tc clsact attachment of sealnet's programs, owned by an RAII object that
// removes only what it created, can be told to leave the datapath in force,
// and can take over an attachment an earlier agent left behind.
#pragma once

#include <cstdint>

#include "core/error.h"

namespace sealnet::bpf {

enum class TcHook { Ingress, Egress };

// sealnet's filters sit at a fixed handle and priority, so that an agent
// after a restart finds (and replaces) its own filters and nobody else's.
inline constexpr uint32_t kTcHandle = 0x5EA1;
inline constexpr uint32_t kTcPriority = 1;

struct TcFilterId {
  uint32_t handle = kTcHandle;
  uint32_t priority = kTcPriority;
  bool operator==(const TcFilterId&) const = default;
};

class TcAttachment {
 public:
  // Attaches prog_fd in direct-action mode. The clsact qdisc is created if the
  // device has none (an existing one is used: EEXIST is fine). A filter already
  // at this handle and priority (ours, from before a restart) is replaced in
  // place, so there is no moment without a program; a refused attach or
  // replace leaves whatever filter was there in force.
  static Result<TcAttachment> attach(int ifindex, TcHook hook, int prog_fd, TcFilterId id = {});
  // Takes over the filter at (ifindex, hook, id) that an earlier process left:
  // ENOENT when there is none. An adopted filter is not removed on destruction.
  static Result<TcAttachment> adopt(int ifindex, TcHook hook, TcFilterId id = {});

  TcAttachment(TcAttachment&& o) noexcept;
  // Assigning an attachment of the same filter (re-attached in place) takes over
  // what this one created instead of detaching it: the filter now runs o's program.
  TcAttachment& operator=(TcAttachment&& o) noexcept;
  TcAttachment(const TcAttachment&) = delete;
  TcAttachment& operator=(const TcAttachment&) = delete;
  // Detaches if this object created the filter and keep() was not called.
  ~TcAttachment();

  // Leaves the filter (and the qdisc) in force when this object goes: the
  // agent's stop must not lift encryption.
  void keep() { kept_ = true; }
  // Removes the filter whoever created it, and the clsact qdisc if this object
  // created it and no filter is left on it. A device that is gone counts as
  // detached.
  Status detach();

  int ifindex() const { return ifindex_; }
  TcHook hook() const { return hook_; }
  uint32_t prog_id() const { return prog_id_; }
  bool created_filter() const { return created_filter_; }
  bool created_qdisc() const { return created_qdisc_; }

 private:
  TcAttachment(int ifindex, TcHook hook, TcFilterId id) : ifindex_(ifindex), hook_(hook), id_(id) {}
  void release() { ifindex_ = 0; }
  // Deletes the clsact qdisc when no filter is left at either hook.
  Status remove_qdisc_if_empty();

  int ifindex_ = 0;  // 0: moved from or detached
  TcHook hook_ = TcHook::Ingress;
  TcFilterId id_;
  uint32_t prog_id_ = 0;
  bool created_filter_ = false;
  bool created_qdisc_ = false;
  bool kept_ = false;
};

// The id of the BPF program at (ifindex, hook, id), 0 when no filter is there.
Result<uint32_t> tc_query(int ifindex, TcHook hook, TcFilterId id = {});
// How many filters the clsact qdisc holds at this hook (0 when it has none or
// there is no qdisc).
Result<int> tc_filter_count(int ifindex, TcHook hook);

}  // namespace sealnet::bpf
