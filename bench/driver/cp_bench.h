// `sealnet-xfrm-driver bench`: the control-plane bench (issue 5 item 7, issue 8's
// sweep runs it per size). N peers x K keys, listed as the agent's config lists
// them (each peer's pod /24 and announced keys) and turned into the reconciler's
// input the way the agent does (bench/driver/agent_inputs.h): per peer and key the
// outbound state and policy (selecting the peer's pod CIDR), the inbound states of
// two generations and the peer pod CIDR's in and fwd policies. They go into fresh
// network namespaces through two paths with the same objects, in alternating
// rounds, and per path and phase (states, policies) it prints the wall time, the
// user and system CPU time, the medians and the ratio to `ip -batch`:
//   batched   the product path: Reconciler over XfrmKernel (netlink/transport's
//             Socket::transact with nl::Acks::errors: 1 MiB per sendmsg, only
//             refusals answered, one acked barrier per batch)
//   ip        `ip -n NS -batch FILE` (a states file, then a policies file)
// The batched path then times one more node joining the converged set and
// counts the objects it touched.
#pragma once

#include <string>

namespace sealnet::driver {

struct BenchOptions {
  int peers = 5000;          // 1..32000 (per-peer /24s in 10.128.0.0/9 by node id)
  int keys = 2;              // 1..2
  int rounds = 3;            // 1..15
  std::string dir = "/tmp";  // where the ip -batch files go
};

// Returns the exit code: 0 when every path installed every object in every round.
int run_bench(const BenchOptions& o);

}  // namespace sealnet::driver
