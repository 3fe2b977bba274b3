#include "offload/xfrm_kernel.h"

#include <linux/netlink.h>

#include <chrono>
#include <cstdio>

#include "core/secret.h"

namespace sealnet::offload {

KernelOp KernelOp::add(xfrm::SaSpec s) {
  KernelOp op;
  op.kind = Kind::add_state;
  op.id = s.id;
  op.mark = s.mark;
  op.state = std::move(s);
  return op;
}

KernelOp KernelOp::remove(const xfrm::SaId& id, std::optional<xfrm::Mark> mark) {
  KernelOp op;
  op.kind = Kind::delete_state;
  op.id = id;
  op.mark = mark;
  return op;
}

KernelOp KernelOp::add(xfrm::PolicySpec p, bool update) {
  KernelOp op;
  op.kind = update ? Kind::update_policy : Kind::add_policy;
  op.policy = std::move(p);
  return op;
}

KernelOp KernelOp::remove(const xfrm::PolicySpec& p) {
  KernelOp op;
  op.kind = Kind::delete_policy;
  op.policy = p;
  return op;
}

std::string KernelOp::describe() const {
  char buf[160];
  auto mark_text = [](const std::optional<xfrm::Mark>& m) {
    char b[40] = "";
    if (m) std::snprintf(b, sizeof b, " mark 0x%x/0x%x", m->value, m->mask);
    return std::string(b);
  };
  switch (kind) {
    case Kind::add_state:
    case Kind::delete_state:
      std::snprintf(buf, sizeof buf, "%s spi 0x%08x -> %s", kind == Kind::add_state ? "NEWSA" : "DELSA", id.spi,
                    id.daddr.str().c_str());
      return buf + mark_text(mark);
    default:
      break;
  }
  const char* verb = kind == Kind::add_policy ? "NEWPOLICY" : kind == Kind::update_policy ? "UPDPOLICY" : "DELPOLICY";
  const char* dir = policy.dir == xfrm::PolicyDir::out ? "out" : policy.dir == xfrm::PolicyDir::in ? "in" : "fwd";
  std::snprintf(buf, sizeof buf, "%s %s %s -> %s", verb, dir, policy.selector.src.str().c_str(),
                policy.selector.dst.str().c_str());
  return buf + mark_text(policy.mark);
}

namespace {

// Adds the wall time of its scope to a counter: the time inside one socket call.
class KernelClock {
 public:
  explicit KernelClock(uint64_t& sum) : sum_(sum), t0_(std::chrono::steady_clock::now()) {}
  KernelClock(const KernelClock&) = delete;
  KernelClock& operator=(const KernelClock&) = delete;
  ~KernelClock() {
    sum_ += static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0_).count());
  }

 private:
  uint64_t& sum_;
  std::chrono::steady_clock::time_point t0_;
};

class NetlinkXfrmKernel final : public XfrmKernel {
 public:
  explicit NetlinkXfrmKernel(nl::Socket s) : sock_(std::move(s)) {}

  Result<std::vector<xfrm::SaEntry>> states() override {
    auto req = xfrm::encode_dump_sa();
    if (!req) return std::unexpected(req.error());
    auto msgs = [&] {
      const KernelClock k(kernel_ns_);
      return sock_.request(std::move(*req), "XFRM_MSG_GETSA dump");
    }();
    if (!msgs) return std::unexpected(msgs.error());
    // The dump carries every SA's key: decode_sa_entry does not read the
    // algorithm attributes, and the replies are wiped.
    const WipeOnExit wiped(*msgs);
    std::vector<xfrm::SaEntry> out;
    for (const auto& m : *msgs) {
      auto views = nl::split_messages(m);
      if (!views) return std::unexpected(views.error());
      out.reserve(out.size() + views->size());
      for (const auto& v : *views) {
        auto sa = xfrm::decode_sa_entry(v);
        if (!sa) return std::unexpected(sa.error());
        out.push_back(std::move(*sa));
      }
    }
    return out;
  }

  uint64_t kernel_ns() const override { return kernel_ns_; }

  Result<std::vector<xfrm::PolicyInfo>> policies() override {
    auto req = xfrm::encode_dump_policy();
    if (!req) return std::unexpected(req.error());
    auto msgs = [&] {
      const KernelClock k(kernel_ns_);
      return sock_.request(std::move(*req), "XFRM_MSG_GETPOLICY dump");
    }();
    if (!msgs) return std::unexpected(msgs.error());
    std::vector<xfrm::PolicyInfo> out;
    for (const auto& m : *msgs) {
      auto views = nl::split_messages(m);
      if (!views) return std::unexpected(views.error());
      for (const auto& v : *views) {
        auto p = xfrm::decode_policy(v);
        if (!p) return std::unexpected(p.error());
        out.push_back(std::move(*p));
      }
    }
    return out;
  }

  Result<std::vector<Status>> apply(const std::vector<KernelOp>& ops) override {
    std::vector<nl::Bytes> reqs;
    reqs.reserve(ops.size());
    for (const KernelOp& op : ops) {
      Result<nl::Bytes> m = [&]() -> Result<nl::Bytes> {
        switch (op.kind) {
          case KernelOp::Kind::add_state:
            return xfrm::encode_new_sa(op.state);
          case KernelOp::Kind::delete_state:
            return xfrm::encode_delete_sa(op.id, op.mark);
          case KernelOp::Kind::add_policy:
            return xfrm::encode_new_policy(op.policy, false);
          case KernelOp::Kind::update_policy:
            return xfrm::encode_new_policy(op.policy, true);
          case KernelOp::Kind::delete_policy:
            return xfrm::encode_delete_policy(op.policy.selector, op.policy.dir, op.policy.mark);
        }
        return fail(EINVAL, "encode", op.describe());
      }();
      if (!m) return std::unexpected(m.error());
      reqs.push_back(std::move(*m));
    }
    // Changes answer nothing but their refusals: error-only acks, 1 MiB per
    // sendmsg (a 5,000-peer install is ~30 batches, not ~30,000 acks read). The
    // NEWSA/UPDSA requests carry key bytes: transact wipes every request (and
    // its send buffer) before it returns.
    auto replies = [&] {
      const KernelClock k(kernel_ns_);
      return sock_.transact(std::move(reqs), nl::Acks::errors);
    }();
    return nl::statuses(std::move(replies), [&](size_t i) { return ops[i].describe(); });
  }

  Result<std::vector<Result<xfrm::SaInfo>>> read_back(const std::vector<StateRef>& refs) override {
    std::vector<nl::Bytes> reqs;
    for (const auto& r : refs) {
      auto m = xfrm::encode_get_sa(r.id, r.mark);
      if (!m) return std::unexpected(m.error());
      reqs.push_back(std::move(*m));
    }
    auto replies = [&] {
      const KernelClock k(kernel_ns_);
      return sock_.transact(std::move(reqs));
    }();
    if (!replies) return std::unexpected(replies.error());
    std::vector<Result<xfrm::SaInfo>> out;
    for (auto& rep : *replies) {
      const WipeOnExit wiped(rep.messages);  // GETSA replies carry the key
      if (!rep.status) {
        out.push_back(std::unexpected(rep.status.error()));
        continue;
      }
      if (rep.messages.empty()) {
        out.push_back(fail(EBADMSG, "XFRM_MSG_GETSA", {}, "no reply"));
        continue;
      }
      auto views = nl::split_messages(rep.messages.front());
      if (!views || views->empty()) {
        out.push_back(fail(EBADMSG, "XFRM_MSG_GETSA", {}, "bad reply"));
        continue;
      }
      out.push_back(xfrm::decode_sa(views->front()));
    }
    return out;
  }

 private:
  nl::Socket sock_;
  uint64_t kernel_ns_ = 0;
};

}  // namespace

Result<std::unique_ptr<XfrmKernel>> make_netlink_kernel() {
  auto s = nl::Socket::open(NETLINK_XFRM);
  if (!s) return std::unexpected(s.error());
  return std::make_unique<NetlinkXfrmKernel>(std::move(*s));
}

}  // namespace sealnet::offload
