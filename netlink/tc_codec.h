// tc over rtnetlink as pure functions: the one request libbpf's bpf_tc_* API
// has no call for (a dump of every filter at a clsact hook). No socket here.
#pragma once

#include <cstdint>

#include "core/error.h"
#include "netlink/transport.h"

namespace sealnet::tc {

// The parent of the clsact qdisc's ingress or egress hook (TC_H_MIN_INGRESS /
// TC_H_MIN_EGRESS under TC_H_CLSACT), what `tc filter show dev X ingress` asks.
uint32_t clsact_parent(bool ingress);

// RTM_GETTFILTER dump of the filters of one device under one parent.
Result<nl::Bytes> encode_filter_dump(int ifindex, uint32_t parent);

}  // namespace sealnet::tc
