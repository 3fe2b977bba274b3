#include "bpf/tc.h"

#include <bpf/libbpf.h>
#include <libmnl/libmnl.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <net/if.h>

#include <cerrno>
#include <string>
#include <utility>
#include <vector>

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
  mnl_socket* nl = mnl_socket_open(NETLINK_ROUTE);
  if (!nl) return fail_errno("open rtnetlink socket");
  struct Closer {
    mnl_socket* s;
    ~Closer() { mnl_socket_close(s); }
  } closer{nl};
  if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) return fail_errno("bind rtnetlink socket");
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = RTM_GETTFILTER;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  const uint32_t seq = 1;
  nlh->nlmsg_seq = seq;
  auto* t = static_cast<tcmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(tcmsg)));
  t->tcm_family = AF_UNSPEC;
  t->tcm_ifindex = ifindex;
  t->tcm_parent = TC_H_MAKE(TC_H_CLSACT, hook == TcHook::Ingress ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS);
  if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) return fail_errno("RTM_GETTFILTER", where(ifindex, hook));
  const unsigned portid = mnl_socket_get_portid(nl);
  int count = 0;
  auto on_msg = [](const nlmsghdr*, void* data) {
    ++*static_cast<int*>(data);
    return MNL_CB_OK;
  };
  for (;;) {
    const ssize_t n = mnl_socket_recvfrom(nl, buf.data(), buf.size());
    if (n < 0) return fail_errno("RTM_GETTFILTER", where(ifindex, hook));
    const int rc = mnl_cb_run(buf.data(), static_cast<size_t>(n), seq, portid, on_msg, &count);
    if (rc == MNL_CB_STOP) break;
    if (rc < 0) {
      // A device without a clsact qdisc answers the dump with an error.
      if (errno == EINVAL || errno == ENOENT) return 0;
      return fail_errno("RTM_GETTFILTER", where(ifindex, hook));
    }
  }
  return count;
}

Result<TcAttachment> TcAttachment::attach(int ifindex, TcHook hook, int prog_fd, TcFilterId id) {
  TcAttachment a(ifindex, hook, id);
  auto h = make_hook(ifindex, hook);
  int rc = bpf_tc_hook_create(&h);
  if (rc != 0 && rc != -EEXIST) return fail(-rc, "create clsact qdisc", where(ifindex, hook));
  a.created_qdisc_ = rc == 0;

  auto before = tc_query(ifindex, hook, id);
  if (!before) {
    (void)a.detach();  // removes the qdisc if this call created it
    return std::unexpected(before.error());
  }
  a.created_filter_ = *before == 0;

  auto o = make_opts(id);
  o.prog_fd = prog_fd;
  o.flags = BPF_TC_F_REPLACE;
  rc = bpf_tc_attach(&h, &o);
  if (rc != 0) {
    // Leave nothing behind that this call created: the destructor removes the
    // qdisc if it is ours and empty.
    a.created_filter_ = false;
    auto err = fail(-rc, "attach tc filter", where(ifindex, hook),
                    "handle " + std::to_string(id.handle) + " priority " + std::to_string(id.priority));
    (void)a.detach();
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
    if (ifindex_ && created_filter_ && !kept_) (void)detach();
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
  if (created_qdisc_) {
    // The clsact qdisc carries both hooks; remove it only when no filter of
    // anybody's is left on either.
    auto in = tc_filter_count(ifindex_, TcHook::Ingress);
    auto out = tc_filter_count(ifindex_, TcHook::Egress);
    if (in && out && *in == 0 && *out == 0) {
      h.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
      const int drc = bpf_tc_hook_destroy(&h);
      if (drc != 0 && drc != -ENOENT && drc != -EINVAL && drc != -ENODEV)
        return fail(-drc, "delete clsact qdisc", where(ifindex_, hook_));
    }
  }
  release();
  return {};
}

}  // namespace sealnet::bpf
