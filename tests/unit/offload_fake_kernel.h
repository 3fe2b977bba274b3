// A fake XFRM database for unit tests of the binding, fallback and reconciler:
// it behaves like the kernel where sealnet depends on it (EEXIST/ENOENT, offload
// refusals with errno + extack, netdevsim's 33-entry table and ENOSPC, ESN refused
// with crypto offload, silent software on read-back, link down flushing the
// device's offloaded states, overruns) and records every op it was sent.
#pragma once

#include <cerrno>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "offload/reconciler.h"
#include "offload/xfrm_kernel.h"

namespace sealnet::offload::testing {

struct FakeDevice {
  size_t capacity = 33;  // netdevsim: in and out share the table
  std::optional<std::pair<int, std::string>> refuse_crypto;  // errno, extack
  std::optional<std::pair<int, std::string>> refuse_packet = std::pair<int, std::string>{
      EINVAL, "Unsupported ipsec offload type"};
  bool silent_software = false;  // accepts offload requests as software SAs (veth)
  bool esn_ok = false;           // has xdo_dev_state_advance_esn
};

class FakeXfrmKernel final : public XfrmKernel {
 public:
  std::map<int, FakeDevice> devices;
  std::map<std::string, xfrm::SaInfo> states_;
  std::map<std::string, xfrm::PolicySpec> policies_;
  std::vector<KernelOp::Kind> ops;  // every op ever applied, in order
  std::vector<std::string> op_log;  // KernelOp::describe() of each
  int overruns = 0;                 // apply() applies, then reports ENOBUFS, this many times
  size_t dumps = 0;                 // states() calls
  // Every key byte sent in NEWSA requests, as they came (to check that nothing
  // else carries them), and how many of the adds carried a key.
  std::vector<SecretBytes> keys_seen;
  size_t keyed_adds = 0;
  // Simulated time inside the kernel per op applied, reported by kernel_ns()
  // after being spent (a busy wait), so the reconciler's split can be checked.
  uint64_t ns_per_op = 0;
  uint64_t kernel_ns() const override { return kernel_ns_; }

  size_t offloaded_on(int ifindex) const {
    size_t n = 0;
    for (const auto& [k, s] : states_)
      if (s.offload && s.offload->ifindex == ifindex) ++n;
    return n;
  }
  // Link down: the kernel deletes the device's offloaded states.
  void flush_device(int ifindex) {
    std::erase_if(states_, [&](const auto& kv) { return kv.second.offload && kv.second.offload->ifindex == ifindex; });
  }
  void add_foreign_state(uint32_t spi) {
    xfrm::SaInfo sa;
    sa.id = {*IpAddr::parse("192.0.2.99"), spi, 50};
    sa.saddr = *IpAddr::parse("192.0.2.98");
    sa.reqid = 42;
    states_[state_key(sa.id, std::nullopt)] = sa;
  }
  void add_foreign_policy() {
    xfrm::PolicySpec p;
    p.selector = {*IpPrefix::parse("198.51.100.0/24"), *IpPrefix::parse("203.0.113.0/24"), 0};
    p.templates.push_back({{*IpAddr::parse("192.0.2.99"), 0, 50}, *IpAddr::parse("192.0.2.98"), 42,
                           xfrm::SaMode::tunnel, false});
    policies_[policy_key(p)] = p;
  }
  size_t count(KernelOp::Kind k) const { return static_cast<size_t>(std::count(ops.begin(), ops.end(), k)); }

  // As the real one decodes a dump: identity and counters, nothing of the
  // transform (xfrm::SaEntry).
  Result<std::vector<xfrm::SaEntry>> states() override {
    ++dumps;
    std::vector<xfrm::SaEntry> v;
    v.reserve(states_.size());
    for (const auto& [k, s] : states_) v.push_back(s);
    return v;
  }
  Result<std::vector<xfrm::PolicyInfo>> policies() override {
    std::vector<xfrm::PolicyInfo> v;
    for (const auto& [k, p] : policies_) v.push_back({p, 0});
    return v;
  }
  Result<std::vector<Status>> apply(const std::vector<KernelOp>& batch) override {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<Status> out;
    for (const auto& op : batch) {
      if (op.kind == KernelOp::Kind::add_state) {
        const auto& s = op.state;
        if (s.aead && !s.aead->key.empty()) keys_seen.push_back(s.aead->key);
        if (s.auth_enc) {
          keys_seen.push_back(s.auth_enc->auth_key);
          keys_seen.push_back(s.auth_enc->enc_key);
        }
        if (s.aead || s.auth_enc || s.cipher) ++keyed_adds;
      }
      ops.push_back(op.kind);
      op_log.push_back(op.describe());
      out.push_back(one(op));
    }
    if (ns_per_op) {
      const auto until = t0 + std::chrono::nanoseconds(ns_per_op * batch.size());
      while (std::chrono::steady_clock::now() < until) {
      }
    }
    kernel_ns_ += static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
    if (overruns > 0) {
      --overruns;
      return fail(ENOBUFS, "netlink receive", {}, "the kernel dropped messages for this socket; resynchronise");
    }
    return out;
  }
  Result<std::vector<Result<xfrm::SaInfo>>> read_back(const std::vector<StateRef>& refs) override {
    std::vector<Result<xfrm::SaInfo>> out;
    for (const auto& r : refs) {
      auto it = states_.find(state_key(r.id, r.mark));
      if (it == states_.end())
        out.push_back(fail(ESRCH, "XFRM_MSG_GETSA"));
      else
        out.push_back(it->second);
    }
    return out;
  }

 private:
  uint64_t kernel_ns_ = 0;
  Status one(const KernelOp& op) {
    switch (op.kind) {
      case KernelOp::Kind::add_state: {
        const auto& s = op.state;
        const std::string k = state_key(s.id, s.mark && (s.mark->value || s.mark->mask) ? s.mark : std::nullopt);
        if (states_.contains(k)) return fail(EEXIST, op.describe());
        xfrm::SaInfo info;
        info.id = s.id;
        info.saddr = s.saddr;
        info.reqid = s.reqid;
        info.mode = s.mode;
        info.esn = s.esn;
        info.replay_window = s.replay_window;
        info.mark = s.mark;
        info.set_mark = s.set_mark;
        info.aead_name = s.aead ? s.aead->name : "";
        if (s.offload && s.offload->mode != xfrm::OffloadMode::none) {
          auto dit = devices.find(s.offload->ifindex);
          if (dit == devices.end()) return fail(ENODEV, op.describe());
          FakeDevice& dev = dit->second;
          const auto& refuse = s.offload->mode == xfrm::OffloadMode::packet ? dev.refuse_packet : dev.refuse_crypto;
          if (refuse) return fail(refuse->first, op.describe(), {}, refuse->second);
          if (s.esn && !dev.esn_ok) return fail(EINVAL, op.describe(), {}, "Device doesn't support offload with ESN");
          if (!dev.silent_software) {
            if (offloaded_on(s.offload->ifindex) >= dev.capacity)
              return fail(ENOSPC, op.describe(), {}, "No space for SA in Rx table!");
            xfrm::OffloadInfo oi;
            oi.ifindex = s.offload->ifindex;
            oi.flags = static_cast<uint8_t>((s.offload->dir == xfrm::Direction::in ? XFRM_OFFLOAD_INBOUND : 0) |
                                            (s.offload->mode == xfrm::OffloadMode::packet ? XFRM_OFFLOAD_PACKET : 0));
            info.offload = oi;
          }
        }
        states_[k] = info;
        return {};
      }
      case KernelOp::Kind::delete_state: {
        if (!states_.erase(state_key(op.id, op.mark))) return fail(ENOENT, op.describe());
        return {};
      }
      case KernelOp::Kind::add_policy: {
        const std::string k = policy_key(op.policy);
        if (policies_.contains(k)) return fail(EEXIST, op.describe());
        policies_[k] = op.policy;
        return {};
      }
      case KernelOp::Kind::update_policy:
        policies_[policy_key(op.policy)] = op.policy;
        return {};
      case KernelOp::Kind::delete_policy:
        if (!policies_.erase(policy_key(op.policy))) return fail(ENOENT, op.describe());
        return {};
    }
    return fail(EINVAL, "fake");
  }
};

}  // namespace sealnet::offload::testing
