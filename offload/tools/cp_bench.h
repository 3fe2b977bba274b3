// `sealnet-xfrm-node bench`: the control-plane bench (issue 5 item 7, issue 8's
// sweep runs it per size). Programs N peers x K keys (states + policies, both
// directions) into fresh network namespaces through two paths with the same
// objects, in alternating rounds, and prints per path and phase (states,
// policies) the wall time, the user and system CPU time, the medians and the
// ratio to `ip -batch`:
//   batched   the product path: Reconciler over XfrmKernel (netlink/transport's
//             Socket::transact with nl::Acks::errors: 1 MiB per sendmsg, only
//             refusals answered, one acked barrier per batch)
//   ip        `ip -n NS -batch FILE` (a states file, then a policies file)
// Outbound policies select each peer's own /24 (PeerNode::dsts, what the agent
// fills); `--selectors cluster` leaves dsts empty (one cluster-subnet selector
// for all, the layout before per-peer selectors). The batched path then times
// one more node joining the converged set and counts the objects it touched.
#pragma once

namespace sealnet::offload::cpbench {

// argv as given to the tool (argv[1] == "bench"); returns the exit code
// (0: every path installed every object in every round, 2: usage).
int run(int argc, char** argv);

}  // namespace sealnet::offload::cpbench
