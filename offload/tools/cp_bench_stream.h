// The control-plane bench's second netlink sender: what core/netlink's
// Socket::transact would do if it streamed (a measurement of a proposed
// transport change, not a replacement for it; the reconciler keeps using
// XfrmKernel). Differences from Socket::transact:
//  - up to kChunkRequests requests (1 MiB) per sendmsg instead of 32 KiB, with
//    send and receive buffers forced large enough for a chunk's answers;
//  - replies read with recvmmsg, many datagrams per system call, without a poll
//    before every read (netlink hands out one datagram per recvmsg, and the
//    kernel queues one ack per request);
//  - AckMode::errors_only: requests go without NLM_F_ACK. netlink_rcv_skb acks a
//    request when it asks (NLM_F_ACK) *or* when it failed, so XFRM answers only
//    refusals; a NLMSG_NOOP with NLM_F_ACK after each chunk is the barrier that
//    says every earlier request of the socket was processed (the kernel handles
//    one socket's requests in order, inside sendmsg).
#pragma once

#include <cstddef>
#include <vector>

#include "core/error.h"
#include "core/netlink.h"

namespace sealnet::offload::cpbench {

enum class AckMode { every, errors_only };

struct StreamStats {
  size_t sendmsgs = 0;
  size_t recv_calls = 0;  // recvmmsg calls that returned data
  size_t datagrams = 0;   // acks and error acks received
};

// Sends every request over a new NETLINK_XFRM socket of the calling thread's
// network namespace and returns one Status per request, in order (a refused one
// carries errno and extack). Sets nlmsg_seq, nlmsg_pid and NLM_F_ACK in place.
// Fails as a whole when the socket does (overrun, timeout).
Result<std::vector<Status>> stream(std::vector<nl::Bytes>& requests, AckMode mode, StreamStats& stats);

}  // namespace sealnet::offload::cpbench
