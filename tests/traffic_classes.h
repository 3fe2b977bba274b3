// The traffic classes of docs/traffic-classes.md as data: one table that the
// doc's own table must equal (unit.TrafficClasses.DocTableIsTheSharedTable), that
// the BPF host test runs through the programs and the XFRM planner unit test
// through the agent's plan, so all three agree on every class. Addresses are
// those of tests/host/bpf_topology.h: node 1 is local, node 2 the peer.
#pragma once

#include <string>
#include <string_view>

namespace sealnet::testing {

enum class Kind { LocalPod, LocalNode, LocalSecondary, LocalGateway, LocalOtherDevice, Outside, RemotePod, RemoteNode };
enum class HostEnc { Any, Off, On };
enum class Classifier { None, FromPod, FromHost };
enum class Verdict { None, Mark, LocalPass, NonClusterPass };
enum class OutPolicy { None, PeerPodCidr, PeerNodeAddress };
enum class WireVerdict { PlaintextToRemote, WireHostPass, WireOther };
enum class Received { Refused, Accepted };

struct TrafficClass {
  std::string_view name;
  Kind src, dst;
  HostEnc encrypt_host;
  Classifier classifier;
  Verdict verdict;
  bool mark;  // marked for the peer
  OutPolicy policy;
  WireVerdict wire;
  Received received;
};

using K = Kind;
using H = HostEnc;
using C = Classifier;
using V = Verdict;
using P = OutPolicy;
using W = WireVerdict;
using R = Received;

inline constexpr TrafficClass kTrafficClasses[] = {
    {"pod-to-remote-pod", K::LocalPod, K::RemotePod, H::Any, C::FromPod, V::Mark, true, P::PeerPodCidr,
     W::PlaintextToRemote, R::Refused},
    {"pod-to-remote-node", K::LocalPod, K::RemoteNode, H::Any, C::FromPod, V::Mark, true, P::PeerNodeAddress,
     W::PlaintextToRemote, R::Refused},
    {"pod-to-local-pod", K::LocalPod, K::LocalPod, H::Any, C::FromPod, V::LocalPass, false, P::None, W::WireOther,
     R::Accepted},
    {"pod-to-local-node", K::LocalPod, K::LocalNode, H::Any, C::FromPod, V::LocalPass, false, P::None,
     W::WireOther, R::Accepted},
    {"pod-to-outside", K::LocalPod, K::Outside, H::Any, C::FromPod, V::NonClusterPass, false, P::None,
     W::WireOther, R::Accepted},
    {"host-to-remote-pod", K::LocalNode, K::RemotePod, H::Off, C::FromHost, V::Mark, true, P::PeerPodCidr,
     W::PlaintextToRemote, R::Accepted},
    {"host-to-remote-pod-encrypt-host", K::LocalNode, K::RemotePod, H::On, C::FromHost, V::Mark, true,
     P::PeerPodCidr, W::PlaintextToRemote, R::Refused},
    {"hostnetwork-secondary-to-remote-pod", K::LocalSecondary, K::RemotePod, H::Any, C::FromHost, V::Mark, true,
     P::PeerPodCidr, W::PlaintextToRemote, R::Accepted},
    {"gateway-to-remote-pod", K::LocalGateway, K::RemotePod, H::Any, C::FromHost, V::Mark, true, P::PeerPodCidr,
     W::PlaintextToRemote, R::Accepted},
    {"other-device-to-remote-pod", K::LocalOtherDevice, K::RemotePod, H::Any, C::FromHost, V::Mark, true,
     P::PeerPodCidr, W::PlaintextToRemote, R::Accepted},
    {"nodeport-snat-to-remote-pod", K::LocalNode, K::RemotePod, H::Off, C::FromHost, V::Mark, true,
     P::PeerPodCidr, W::PlaintextToRemote, R::Accepted},
    {"nodeport-no-snat-to-remote-pod", K::Outside, K::RemotePod, H::Any, C::FromHost, V::Mark, true,
     P::PeerPodCidr, W::PlaintextToRemote, R::Accepted},
    {"host-to-remote-node", K::LocalNode, K::RemoteNode, H::Off, C::None, V::None, false, P::None,
     W::WireHostPass, R::Accepted},
    {"host-to-remote-node-encrypt-host", K::LocalNode, K::RemoteNode, H::On, C::FromHost, V::Mark, true,
     P::PeerNodeAddress, W::PlaintextToRemote, R::Refused},
    {"secondary-to-remote-node", K::LocalSecondary, K::RemoteNode, H::Off, C::None, V::None, false, P::None,
     W::WireHostPass, R::Accepted},
    {"secondary-to-remote-node-encrypt-host", K::LocalSecondary, K::RemoteNode, H::On, C::FromHost, V::Mark, true,
     P::PeerNodeAddress, W::PlaintextToRemote, R::Accepted},
    {"gateway-to-remote-node", K::LocalGateway, K::RemoteNode, H::Off, C::None, V::None, false, P::None,
     W::WireHostPass, R::Accepted},
    {"host-to-local-pod", K::LocalNode, K::LocalPod, H::Any, C::None, V::None, false, P::None, W::WireOther,
     R::Accepted},
    {"host-to-outside", K::LocalNode, K::Outside, H::Any, C::None, V::None, false, P::None, W::WireOther,
     R::Accepted},
};

// The words of the doc's table.
inline std::string_view text(Kind k) {
  switch (k) {
    case K::LocalPod: return "local-pod";
    case K::LocalNode: return "local-node";
    case K::LocalSecondary: return "local-secondary";
    case K::LocalGateway: return "local-gateway";
    case K::LocalOtherDevice: return "local-other-device";
    case K::Outside: return "outside";
    case K::RemotePod: return "remote-pod";
    case K::RemoteNode: return "remote-node";
  }
  return "?";
}
inline std::string_view text(HostEnc h) { return h == H::Any ? "any" : h == H::Off ? "off" : "on"; }
inline std::string_view text(Classifier c) {
  return c == C::None ? "none" : c == C::FromPod ? "from_pod" : "from_host";
}
inline std::string_view text(Verdict v) {
  switch (v) {
    case V::None: return "-";
    case V::Mark: return "mark";
    case V::LocalPass: return "local-pass";
    case V::NonClusterPass: return "non-cluster-pass";
  }
  return "?";
}
inline std::string_view text(OutPolicy p) {
  return p == P::None ? "-" : p == P::PeerPodCidr ? "0/0 -> peer pod CIDR" : "0/0 -> peer node address";
}
inline std::string_view text(WireVerdict w) {
  return w == W::PlaintextToRemote ? "plaintext-to-remote" : w == W::WireHostPass ? "wire-host-pass" : "wire-other";
}
inline std::string_view text(Received r) { return r == R::Refused ? "refused" : "accepted"; }

// One row as the doc writes it: "| name | src | ... |".
inline std::string doc_row(const TrafficClass& c) {
  std::string out = "|";
  for (std::string_view cell : {c.name, text(c.src), text(c.dst), text(c.encrypt_host), text(c.classifier),
                                text(c.verdict), std::string_view(c.mark ? "peer" : "-"), text(c.policy),
                                text(c.wire), text(c.received)}) {
    out += " ";
    out += cell;
    out += " |";
  }
  return out;
}

// Whether a row holds with encrypt_host `on`.
inline bool applies(const TrafficClass& c, bool on) {
  return c.encrypt_host == H::Any || (c.encrypt_host == H::On) == on;
}

// An address of each kind in the topology of tests/host/bpf_topology.h (node 1
// local, node 2 the peer): IPv4 or IPv6. A local pod as a destination is
// another pod than the source.
inline const char* address(Kind k, bool v6, bool as_dst = false) {
  switch (k) {
    case K::LocalPod: return v6 ? (as_dst ? "fd01:1::9" : "fd01:1::5") : (as_dst ? "10.1.1.9" : "10.1.1.5");
    case K::LocalNode: return v6 ? "fd00:a::1" : "192.0.2.1";
    case K::LocalSecondary: return v6 ? "fd00:a::51" : "192.0.2.51";
    case K::LocalGateway: return v6 ? "fe80::1" : "169.254.1.1";
    case K::LocalOtherDevice: return v6 ? "fd00:c::1" : "203.0.113.1";
    case K::Outside: return v6 ? "2001:db8::9" : "198.18.0.1";
    case K::RemotePod: return v6 ? "fd01:2::7" : "10.1.2.7";
    case K::RemoteNode: return v6 ? "fd00:a::2" : "192.0.2.2";
  }
  return "";
}

}  // namespace sealnet::testing
