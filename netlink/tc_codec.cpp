#include "netlink/tc_codec.h"

#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

namespace sealnet::tc {

uint32_t clsact_parent(bool ingress) {
  return TC_H_MAKE(TC_H_CLSACT, ingress ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS);
}

Result<nl::Bytes> encode_filter_dump(int ifindex, uint32_t parent) {
  nl::MessageBuilder b(RTM_GETTFILTER, NLM_F_DUMP);
  tcmsg t{};
  t.tcm_family = AF_UNSPEC;
  t.tcm_ifindex = ifindex;
  t.tcm_parent = parent;
  b.header(t);
  return std::move(b).finish();
}

}  // namespace sealnet::tc
