// The wire audit judges by destination (docs/traffic-classes.md), on real
// packets: to_wire on the uplinks of tests/host/bpf_topology.h, datagrams sent
// from every kind of source the node has (its node address, a secondary
// address, the link-local pod gateway, another device's address) and from an
// address it does not have, through an ordinary UDP socket, a raw IP socket
// (IP_HDRINCL) and a packet socket (which no route or XFRM policy sees). For a
// remote pod every one is dropped and counted with fail-closed on, its drop
// record names its source, and none reaches the peer; with fail-closed off the
// same datagrams arrive (so the test's receiver does see what is let through).
// Host traffic to a remote node's address passes by the host rule while host
// encryption is off; same-node and non-cluster destinations are never judged.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/in.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bpf/events.h"
#include "bpf/packet.h"
#include "bpf/programs.h"
#include "bpf/tc.h"
#include "core/fd.h"
#include "tests/host/bpf_topology.h"

namespace sealnet::bpf {
namespace {

using testing::ip;

constexpr uint16_t kPort = 5000;

enum class Via { Udp, Raw, Packet };
const char* via_name(Via v) { return v == Via::Udp ? "udp socket" : v == Via::Raw ? "raw socket" : "packet socket"; }

// A datagram whose arrival the peer's receiver can tell by its source port.
struct Send {
  const char* what;
  Via via;
  const char* src;
  const char* dst;
  uint16_t sport;
};

sockaddr_storage sockaddr_of(const IpAddr& a, uint16_t port, socklen_t& len) {
  sockaddr_storage ss{};
  if (a.family == AF_INET) {
    auto* s = reinterpret_cast<sockaddr_in*>(&ss);
    s->sin_family = AF_INET;
    s->sin_port = htons(port);
    std::memcpy(&s->sin_addr, a.bytes.data(), 4);
    len = sizeof(sockaddr_in);
  } else {
    auto* s = reinterpret_cast<sockaddr_in6*>(&ss);
    s->sin6_family = AF_INET6;
    s->sin6_port = htons(port);
    std::memcpy(&s->sin6_addr, a.bytes.data(), 16);
    len = sizeof(sockaddr_in6);
  }
  return ss;
}

// The peer's receiver: a UDP socket per family on kPort, made inside the peer's
// namespace (a socket stays in the namespace it was made in).
class Receiver {
 public:
  explicit Receiver(const testing::TestNetns& ns) {
    auto in_peer = ns.enter();
    for (int family : {AF_INET, AF_INET6}) {
      Fd fd(::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      EXPECT_TRUE(fd) << std::strerror(errno);
      const int one = 1;
      if (family == AF_INET6) ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
      IpAddr any;
      any.family = static_cast<uint8_t>(family);
      socklen_t len = 0;
      auto sa = sockaddr_of(any, kPort, len);
      EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), len), 0) << std::strerror(errno);
      fds_.push_back(std::move(fd));
    }
  }
  // The source ports of the datagrams that arrived, waiting for `until` (a
  // datagram sent after the ones judged, on a path that is always let through)
  // so that whatever was sent before it had its chance to arrive.
  std::set<uint16_t> ports_until(uint16_t until) {
    std::set<uint16_t> got;
    for (int round = 0; round < 100 && !got.contains(until); ++round) {
      pollfd p[2] = {{fds_[0].get(), POLLIN, 0}, {fds_[1].get(), POLLIN, 0}};
      if (::poll(p, 2, 100) <= 0) continue;
      for (const Fd& fd : fds_) {
        sockaddr_storage from{};
        socklen_t len = sizeof from;
        char buf[256];
        while (::recvfrom(fd.get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len) >= 0) {
          got.insert(ntohs(from.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&from)->sin_port
                                                     : reinterpret_cast<sockaddr_in6*>(&from)->sin6_port));
          len = sizeof from;
        }
      }
    }
    EXPECT_TRUE(got.contains(until)) << "the control datagram never arrived";
    got.erase(until);
    return got;
  }

 private:
  std::vector<Fd> fds_;
};

class WireAudit : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(HasFailure()) << "building the namespaces failed";
    auto dp = Datapath::load({});
    ASSERT_TRUE(dp) << dp.error().message();
    dp_.emplace(std::move(*dp));
    in_node_.emplace(cluster_.node().enter());
    cluster_.populate(*dp_);
    // The node's other sources: a secondary address on the uplink, the
    // link-local gateway address pod devices carry (as Calico and Cilium give
    // them), and an address of another device (upX); IPv6 likewise.
    cluster_.node().must("ip addr add 192.0.2.51/24 dev upA && ip addr add 169.254.1.1/32 dev lxc0 && "
                         "ip -6 addr add fd00:a::51/64 dev upA nodad");
    cluster_.node().must("ip route add 198.18.0.0/24 via 192.0.2.2 && ip route add 198.18.1.0/24 via 198.51.100.3");
    cluster_.peer_b().must("ip -6 addr add fd01:2::7/128 dev lo && ip addr add 198.18.0.1/32 dev lo");
    cluster_.peer_c().must("ip addr add 198.18.1.1/32 dev lo");
    for (const char* up : {"upA", "upB"}) {
      auto a = TcAttachment::attach(static_cast<int>(cluster_.ifindex(up)), TcHook::Egress,
                                    dp_->prog_fd(Program::ToWire));
      ASSERT_TRUE(a) << a.error().message();
      attachments_.push_back(std::move(*a));
    }
    auto r = EventReader::from_fd(dp_->events_fd(), [this](const sealnet_event& e) { events_.push_back(e); });
    ASSERT_TRUE(r) << r.error().message();
    reader_.emplace(std::move(*r));
    receiver_.emplace(cluster_.peer_b());
    receiver_c_.emplace(cluster_.peer_c());
  }
  void TearDown() override { attachments_.clear(); }

  void configure(bool fail_closed, bool encrypt_host) {
    auto cfg = testing::cluster_config(testing::kKey, fail_closed, encrypt_host);
    cfg.events = SEALNET_EV_F_DROPS;
    ASSERT_TRUE(dp_->set_config(cfg));
  }

  void send(const Send& s) {
    const IpAddr src = ip(s.src), dst = ip(s.dst);
    switch (s.via) {
      case Via::Udp: {
        Fd fd(::socket(src.family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        ASSERT_TRUE(fd) << std::strerror(errno);
        socklen_t len = 0;
        auto from = sockaddr_of(src, s.sport, len);
        ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&from), len), 0) << s.src << ": " << std::strerror(errno);
        auto to = sockaddr_of(dst, kPort, len);
        ASSERT_EQ(::sendto(fd.get(), "sealnet", 7, 0, reinterpret_cast<sockaddr*>(&to), len), 7) << std::strerror(errno);
        break;
      }
      case Via::Raw: {
        // The whole IPv4 header is ours: any source, the node's or not.
        Fd fd(::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW));
        ASSERT_TRUE(fd) << std::strerror(errno);
        auto frame = PacketBuilder().ip(src, dst).udp(s.sport, kPort).payload(16).build();
        socklen_t len = 0;
        auto to = sockaddr_of(dst, 0, len);
        const size_t l3 = ETH_HLEN;
        ASSERT_EQ(::sendto(fd.get(), frame.data() + l3, frame.size() - l3, 0, reinterpret_cast<sockaddr*>(&to), len),
                  static_cast<ssize_t>(frame.size() - l3))
            << std::strerror(errno);
        break;
      }
      case Via::Packet: {
        // A frame written straight onto upA: no route, no XFRM policy, only tc.
        Fd fd(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
        ASSERT_TRUE(fd) << std::strerror(errno);
        auto frame = PacketBuilder().ip(src, dst).udp(s.sport, kPort).payload(16).build();
        const std::string mac = cluster_.peer_b().must("cat /sys/class/net/eth0/address");
        unsigned m[6];
        ASSERT_EQ(std::sscanf(mac.c_str(), "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]), 6);
        for (int i = 0; i < 6; ++i) frame[i] = static_cast<uint8_t>(m[i]);
        sockaddr_ll ll{};
        ll.sll_family = AF_PACKET;
        ll.sll_ifindex = static_cast<int>(cluster_.ifindex("upA"));
        ll.sll_halen = 6;
        std::memcpy(ll.sll_addr, frame.data(), 6);
        // A frame tc dropped comes back as ENOBUFS (NET_XMIT_DROP), one it let
        // through as its length.
        const ssize_t n =
            ::sendto(fd.get(), frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&ll), sizeof ll);
        EXPECT_TRUE(n == static_cast<ssize_t>(frame.size()) || (n < 0 && errno == ENOBUFS)) << std::strerror(errno);
        break;
      }
    }
  }

  // Sends `s`, then the control datagram (non-cluster destination); returns
  // whether `s` reached the peer.
  bool delivered(const Send& s) {
    send(s);
    // Peer c has 10.1.3.0/24 (behind upB), peer b the rest.
    const bool at_c = std::string(s.dst).starts_with("10.1.3.");
    send({"control", Via::Udp, at_c ? "198.51.100.1" : "192.0.2.1", at_c ? "198.18.1.1" : "198.18.0.1",
          kControlPort});
    return (at_c ? receiver_c_ : receiver_)->ports_until(kControlPort).contains(s.sport);
  }

  uint64_t packets(uint32_t metric) {
    auto m = dp_->metrics();
    EXPECT_TRUE(m) << m.error().message();
    return m ? (*m)[metric].packets : 0;
  }

  std::vector<sealnet_event> drops() {
    auto n = reader_->drain();
    EXPECT_TRUE(n) << n.error().message();
    std::vector<sealnet_event> out;
    for (const auto& e : std::exchange(events_, {}))
      if (e.kind == SEALNET_EV_DROP) out.push_back(e);
    return out;
  }

  static constexpr uint16_t kControlPort = 4999;
  testing::BpfCluster cluster_;
  std::optional<Datapath> dp_;
  std::optional<NetnsScope> in_node_;
  std::vector<TcAttachment> attachments_;
  std::optional<EventReader> reader_;
  std::vector<sealnet_event> events_;
  std::optional<Receiver> receiver_, receiver_c_;
};

// Plaintext for a remote pod, from every kind of source.
const Send kToRemotePod[] = {
    {"node address", Via::Udp, "192.0.2.1", "10.1.2.7", 4001},
    {"secondary address", Via::Udp, "192.0.2.51", "10.1.2.7", 4002},
    {"link-local pod gateway", Via::Udp, "169.254.1.1", "10.1.2.7", 4003},
    {"another device's address", Via::Udp, "203.0.113.1", "10.1.2.7", 4004},
    {"second uplink's node address", Via::Udp, "198.51.100.1", "10.1.3.7", 4005},
    {"IPv6 node address", Via::Udp, "fd00:a::1", "fd01:2::7", 4006},
    {"IPv6 secondary address", Via::Udp, "fd00:a::51", "fd01:2::7", 4007},
    {"node address", Via::Raw, "192.0.2.1", "10.1.2.7", 4011},
    {"link-local pod gateway", Via::Raw, "169.254.1.1", "10.1.2.7", 4012},
    {"an address the node does not have", Via::Raw, "198.18.5.5", "10.1.2.7", 4013},
    {"another node's pod", Via::Raw, "10.1.3.7", "10.1.2.7", 4014},
    {"secondary address", Via::Packet, "192.0.2.51", "10.1.2.7", 4021},
    {"an address the node does not have", Via::Packet, "198.18.5.5", "10.1.2.7", 4022},
};

TEST_F(WireAudit, PlaintextForARemotePodIsDroppedWhateverItsSource) {
  ASSERT_NO_FATAL_FAILURE(configure(true, false));
  for (const Send& s : kToRemotePod) {
    SCOPED_TRACE(std::string(s.what) + " " + s.src + " -> " + s.dst + " by " + via_name(s.via));
    const uint64_t before = packets(SEALNET_M_WIRE_PLAINTEXT_DROPPED);
    EXPECT_FALSE(delivered(s)) << "plaintext reached the peer";
    EXPECT_EQ(packets(SEALNET_M_WIRE_PLAINTEXT_DROPPED) - before, 1u);
    const auto ev = drops();
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].program, SEALNET_EV_TO_WIRE);
    EXPECT_EQ(ev[0].reason, static_cast<uint32_t>(SEALNET_M_WIRE_PLAINTEXT_DROPPED));
    EXPECT_EQ(std::memcmp(ev[0].saddr, ip(s.src).bytes.data(), ip(s.src).size()), 0) << "the record lost the source";
    EXPECT_EQ(ev[0].sport, s.sport);
    EXPECT_NE(ev[0].peer_node_id, 0u);
  }
  // Fail-closed off: the same datagrams cross, counted as plaintext let through.
  ASSERT_NO_FATAL_FAILURE(configure(false, false));
  for (const Send& s : kToRemotePod) {
    SCOPED_TRACE(std::string(s.what) + " " + s.src + " -> " + s.dst + " by " + via_name(s.via));
    const uint64_t before = packets(SEALNET_M_WIRE_PLAINTEXT_PASSED);
    EXPECT_TRUE(delivered(s));
    EXPECT_EQ(packets(SEALNET_M_WIRE_PLAINTEXT_PASSED) - before, 1u);
  }
}

TEST_F(WireAudit, HostTrafficToARemoteNodePassesByTheHostRuleOnlyWithHostEncryptionOff) {
  const Send kToRemoteNode[] = {
      {"node address", Via::Udp, "192.0.2.1", "192.0.2.2", 4101},
      {"secondary address", Via::Udp, "192.0.2.51", "192.0.2.2", 4102},
      {"link-local pod gateway", Via::Udp, "169.254.1.1", "192.0.2.2", 4103},
      {"another device's address", Via::Raw, "203.0.113.1", "192.0.2.2", 4104},
      {"IPv6 node address", Via::Udp, "fd00:a::1", "fd00:a::2", 4105},
  };
  ASSERT_NO_FATAL_FAILURE(configure(true, false));
  for (const Send& s : kToRemoteNode) {
    SCOPED_TRACE(std::string(s.what) + " " + s.src + " -> " + s.dst + " by " + via_name(s.via));
    const uint64_t before = packets(SEALNET_M_WIRE_HOST_PASS);
    EXPECT_TRUE(delivered(s));
    EXPECT_EQ(packets(SEALNET_M_WIRE_HOST_PASS) - before, 1u);
  }
  // A pod's source is pod traffic, encrypted whatever encrypt_host says.
  const Send pod{"a local pod", Via::Raw, "10.1.1.5", "192.0.2.2", 4106};
  const uint64_t dropped = packets(SEALNET_M_WIRE_PLAINTEXT_DROPPED);
  EXPECT_FALSE(delivered(pod));
  EXPECT_EQ(packets(SEALNET_M_WIRE_PLAINTEXT_DROPPED) - dropped, 1u);
  ASSERT_EQ(drops().size(), 1u);

  // Host encryption on: host traffic for a remote node must be ESP too.
  ASSERT_NO_FATAL_FAILURE(configure(true, true));
  for (const Send& s : kToRemoteNode) {
    SCOPED_TRACE(std::string(s.what) + " " + s.src + " -> " + s.dst + " by " + via_name(s.via));
    const uint64_t before = packets(SEALNET_M_WIRE_PLAINTEXT_DROPPED);
    EXPECT_FALSE(delivered(s));
    EXPECT_EQ(packets(SEALNET_M_WIRE_PLAINTEXT_DROPPED) - before, 1u);
    const auto ev = drops();
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(std::memcmp(ev[0].saddr, ip(s.src).bytes.data(), ip(s.src).size()), 0);
  }
}

TEST_F(WireAudit, SameNodeAndNonClusterDestinationsAreNotJudged) {
  ASSERT_NO_FATAL_FAILURE(configure(true, true));
  const Send kNotOurs[] = {
      {"secondary address to outside the cluster", Via::Udp, "192.0.2.51", "198.18.0.1", 4201},
      {"link-local gateway to outside the cluster", Via::Raw, "169.254.1.1", "198.18.0.1", 4202},
      {"foreign source to outside the cluster", Via::Packet, "198.18.5.5", "198.18.0.1", 4203},
  };
  for (const Send& s : kNotOurs) {
    SCOPED_TRACE(s.what);
    const uint64_t before = packets(SEALNET_M_WIRE_OTHER);
    EXPECT_TRUE(delivered(s));
    // The control datagram is not the audit's either; the kernel's own IPv6
    // link-local traffic on upA (MLD, router solicitations) may add to it.
    EXPECT_GE(packets(SEALNET_M_WIRE_OTHER) - before, 2u);
  }
  // A destination on this node (a local pod) leaving an uplink: not judged.
  const uint64_t before = packets(SEALNET_M_WIRE_OTHER);
  send({"to a local pod", Via::Packet, "198.18.5.5", "10.1.1.9", 4204});
  EXPECT_GE(packets(SEALNET_M_WIRE_OTHER) - before, 1u);
  EXPECT_EQ(packets(SEALNET_M_WIRE_PLAINTEXT_DROPPED), 0u);
  EXPECT_EQ(packets(SEALNET_M_WIRE_HOST_PASS), 0u);
  EXPECT_TRUE(drops().empty());
}

}  // namespace
}  // namespace sealnet::bpf
