// A small cluster, seen from node 1, built in network namespaces for the BPF
// classifier's host tests: real devices, routes and neighbours for
// bpf_fib_lookup, and peers that answer real packets.
//
//   pod ns   eth0 10.1.1.5 fd01:1::5 ── lxc0 (node 1, pod device)
//            lxc1: a second pod device with IPv4 forwarding off
//            snh0 ── snn0: the host encryption device pair (from_host on snn0)
//   node ns  upA 192.0.2.1 fd00:a::1 ── peer-b ns eth0 192.0.2.2 fd00:a::2   slot 1, crypto
//            upB 198.51.100.1       ── peer-c ns eth0 198.51.100.3          slot 2, software
//                (ifindex kUpBIfindex: beyond the devices array, in the hash)
//            upX 203.0.113.1 (veth, far end unused, no slot)
//
// Nodes (id: outer address, how the node ns reaches it, pod CIDRs):
//   1: this node (192.0.2.1, 198.51.100.1, fd00:a::1); pods 10.1.1.0/24, fd01:1::/64
//   2: 192.0.2.2 (and fd00:a::2) on upA, permanent neighbour; pods 10.1.2.0/24, fd01:2::/64
//   3: 198.51.100.3 on upB, permanent neighbour    pods 10.1.3.0/24
//   4: 192.0.2.4 on upA, no neighbour (NO_NEIGH)   pods 10.1.4.0/24
//   5: 203.0.113.5 unreachable route               pods 10.1.5.0/24
//   6: 203.0.113.6 blackhole route                 pods 10.1.6.0/24
//   7: 203.0.113.7 on upX (a device with no slot)  pods 10.1.7.0/24
//   8: fd00:a::8 only (IPv6 outer), permanent neighbour on upA; pods fd01:8::/64
//   9: 192.0.2.2 again, but the peer has no key yet; pods 10.1.9.0/24
//  10: in the ipcache only, not in `nodes`;          pods 10.1.10.0/24
//  11: in `nodes` without an address (a peer without our outer family); pods 10.1.11.0/24
// Host entries inside another node's CIDR (the longest prefix wins):
//   10.1.3.99/32 and fd01:8::99/128 belong to node 2.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "bpf/programs.h"
#include "tests/host/netns_fixture.h"

namespace sealnet::testing {

inline constexpr uint32_t kSlotA = 1, kSlotB = 2;
inline constexpr uint32_t kUpBIfindex = 1500;
inline constexpr uint8_t kKey = 5;  // our key and, unless a test says otherwise, every peer's

class BpfCluster {
 public:
  BpfCluster();  // builds the namespaces; failures are reported as test failures

  const TestNetns& node() const { return node_; }
  const TestNetns& pod() const { return pod_; }
  const TestNetns& peer_b() const { return peer_b_; }
  const TestNetns& peer_c() const { return peer_c_; }
  // ifindex of a device in the node namespace.
  uint32_t ifindex(const std::string& dev) const;

  // Fills ipcache, nodes, devices and config (fail closed, host encryption
  // off) for the topology above.
  void populate(bpf::Datapath& dp) const;

 private:
  TestNetns node_, pod_, peer_b_, peer_c_;
};

sealnet_config cluster_config(uint8_t key = kKey, bool fail_closed = true, bool encrypt_host = false);
sealnet_node_value node_v4(const char* addr, uint8_t peer_key = kKey);
sealnet_node_value node_v6(const char* addr, uint8_t peer_key = kKey);
IpAddr ip(const char* s);

}  // namespace sealnet::testing
