// `sealnet-xfrm-node bench`: the control-plane bench (issue 5 item 7). Programs
// N peers x K keys (states + policies, both directions) into fresh network
// namespaces through several paths with the same objects, in alternating
// rounds, and prints per path and phase (states, policies) the wall time, the
// user and system CPU time, the medians and the ratios to `ip -batch`:
//   batched      the product path: Reconciler over XfrmKernel (core/netlink's
//                Socket::transact: 32 KiB per sendmsg, poll + recvmsg per ack)
//   stream-ack   cp_bench_stream.h, one ack per request: 1 MiB per sendmsg,
//                recvmmsg
//   stream-err   cp_bench_stream.h, acks for refusals only plus a barrier
//   ip           `ip -n NS -batch FILE` (a states file, then a policies file)
#pragma once

namespace sealnet::offload::cpbench {

// argv as given to the tool (argv[1] == "bench"); returns the exit code
// (0: every path installed every object in every round, 2: usage).
int run(int argc, char** argv);

}  // namespace sealnet::offload::cpbench
