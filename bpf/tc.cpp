#include "bpf/tc.h"

#include <bpf/libbpf.h>
#include <linux/netlink.h>
#include <net/if.h>

#include <cerrno>
#include <string>
#include <utility>

#include "netlink/tc_codec.h"
#include "netlink/transport.h"

namespace sealnet::bpf {

namespace {

bpf_tc_attach_point attach_point(TcHook hook) {
  return hook == TcHook::Ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS;
}

std::string where(int ifindex, TcHook hook) {
  char name[IF_NAMESIZE] = {};
  const char* n = ::if_indextoname(static_cast<unsigned>(ifindex), name);
  return std::string(n ? n : ("ifindex " + std::to_string(ifindex)).c_str()) +
         (hook == TcHook::Ingress ? " ingress" : " egress");
}

bpf_tc_hook make_hook(int ifindex, TcHook hook) {
  bpf_tc_hook h{};
  h.sz = sizeof h;
  h.ifindex = ifindex;
  h.attach_point = attach_point(hook);
  return h;
}

bpf_tc_opts make_opts(TcFilterId id) {
  bpf_tc_opts o{};
  o.sz = sizeof o;
  o.handle = id.handle;
  o.priority = id.priority;
  return o;
}

}  // namespace

Result<uint32_t> tc_query(int ifindex, TcHook hook, TcFilterId id) {
  auto h = make_hook(ifindex, hook);
  auto o = make_opts(id);
  const int rc = bpf_tc_query(&h, &o);
  // No qdisc reports EINVAL, no filter ENOENT: both mean "nothing there".
  if (rc == -ENOENT || rc == -EINVAL) return 0u;
  if (rc != 0) return fail(-rc, "query tc filter", where(ifindex, hook));
  return o.prog_id;
}

Result<int> tc_filter_count(int ifindex, TcHook hook) {
  // libbpf can only query one (handle, priority); a dump answers "any filter".
  auto req = tc::encode_filter_dump(ifindex, tc::clsact_parent(hook == TcHook::Ingress));
  if (!req) return std::unexpected(req.error());
  auto sock = nl::Socket::open(NETLINK_ROUTE);
  if (!sock) return std::unexpected(sock.error());
  auto filters = sock->request(std::move(*req), "RTM_GETTFILTER", where(ifindex, hook));
  if (!filters) {
    // A device without a clsact qdisc answers the dump with an error.
    if (filters.error().err == EINVAL || filters.error().err == ENOENT) return 0;
    return std::unexpected(filters.error());
  }
  return static_cast<int>(filters->size());
}

Result<TcAttachment> TcAttachment::attach(int ifindex, TcHook hook, int prog_fd, TcFilterId id) {
  TcAttachment a(ifindex, hook, id);
  auto h = make_hook(ifindex, hook);
  int rc = bpf_tc_hook_create(&h);
  if (rc != 0 && rc != -EEXIST) return fail(-rc, "create clsact qdisc", where(ifindex, hook));
  a.created_qdisc_ = rc == 0;

  auto before = tc_query(ifindex, hook, id);
  if (!before) {
    if (a.created_qdisc_) (void)a.remove_qdisc_if_empty();
    a.release();
    return std::unexpected(before.error());
  }
  a.created_filter_ = *before == 0;

  auto o = make_opts(id);
  o.prog_fd = prog_fd;
  o.flags = BPF_TC_F_REPLACE;
  rc = bpf_tc_attach(&h, &o);
  if (rc != 0) {
    // Leave nothing behind that this call created, and nothing else: a refused
    // replace leaves the filter that was there (ours from before a restart, or
    // somebody else's at this handle and priority) in force, so only the qdisc,
    // if this call created it and it is empty, is removed.
    auto err = fail(-rc, "attach tc filter", where(ifindex, hook),
                    "handle " + std::to_string(id.handle) + " priority " + std::to_string(id.priority));
    if (a.created_qdisc_) (void)a.remove_qdisc_if_empty();
    a.release();
    return err;
  }
  a.prog_id_ = o.prog_id;
  return a;
}

Result<TcAttachment> TcAttachment::adopt(int ifindex, TcHook hook, TcFilterId id) {
  auto prog = tc_query(ifindex, hook, id);
  if (!prog) return std::unexpected(prog.error());
  if (*prog == 0)
    return fail(ENOENT, "adopt tc filter", where(ifindex, hook),
                "no filter at handle " + std::to_string(id.handle) + " priority " + std::to_string(id.priority));
  TcAttachment a(ifindex, hook, id);
  a.prog_id_ = *prog;
  return a;
}

TcAttachment::TcAttachment(TcAttachment&& o) noexcept
    : ifindex_(std::exchange(o.ifindex_, 0)),
      hook_(o.hook_),
      id_(o.id_),
      prog_id_(o.prog_id_),
      created_filter_(o.created_filter_),
      created_qdisc_(o.created_qdisc_),
      kept_(o.kept_) {}

TcAttachment& TcAttachment::operator=(TcAttachment&& o) noexcept {
  if (this != &o) {
    // o replaced this filter's program in place: detaching here would remove o's
    // program and leave the hook empty. o inherits what this one created.
    const bool same_filter = ifindex_ && ifindex_ == o.ifindex_ && hook_ == o.hook_ && id_ == o.id_;
    if (same_filter) {
      o.created_filter_ = o.created_filter_ || created_filter_;
      o.created_qdisc_ = o.created_qdisc_ || created_qdisc_;
    } else if (ifindex_ && created_filter_ && !kept_) {
      (void)detach();
    }
    ifindex_ = std::exchange(o.ifindex_, 0);
    hook_ = o.hook_;
    id_ = o.id_;
    prog_id_ = o.prog_id_;
    created_filter_ = o.created_filter_;
    created_qdisc_ = o.created_qdisc_;
    kept_ = o.kept_;
  }
  return *this;
}

TcAttachment::~TcAttachment() {
  // Errors cannot be reported from here; callers who care call detach().
  if (ifindex_ && created_filter_ && !kept_) (void)detach();
}

Status TcAttachment::detach() {
  if (ifindex_ == 0) return {};
  auto h = make_hook(ifindex_, hook_);
  auto o = make_opts(id_);
  const int rc = bpf_tc_detach(&h, &o);
  // ENOENT: already gone; ENODEV/EINVAL: the device (and its qdisc) is gone.
  if (rc != 0 && rc != -ENOENT && rc != -ENODEV && rc != -EINVAL)
    return fail(-rc, "detach tc filter", where(ifindex_, hook_));
  if (created_qdisc_)
    if (auto s = remove_qdisc_if_empty(); !s) return s;
  release();
  return {};
}

Status TcAttachment::remove_qdisc_if_empty() {
  // The clsact qdisc carries both hooks; remove it only when no filter of
  // anybody's is left on either.
  auto in = tc_filter_count(ifindex_, TcHook::Ingress);
  auto out = tc_filter_count(ifindex_, TcHook::Egress);
  if (!in || !out || *in != 0 || *out != 0) return {};
  auto h = make_hook(ifindex_, hook_);
  h.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
  const int rc = bpf_tc_hook_destroy(&h);
  if (rc != 0 && rc != -ENOENT && rc != -EINVAL && rc != -ENODEV)
    return fail(-rc, "delete clsact qdisc", where(ifindex_, hook_));
  return {};
}

}  // namespace sealnet::bpf
