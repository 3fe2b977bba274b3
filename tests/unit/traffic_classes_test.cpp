// docs/traffic-classes.md against the shared table (tests/traffic_classes.h),
// and the table against the agent's XFRM plan (agent::compute, then
// offload::plan): every class the BPF program marks for the peer has an out
// policy of the peer's mark whose selector is the one the table names; the
// mirror of every class (the peer sending the same kinds to us) is accepted
// when decrypted (a policy accounts for it, no XfrmInNoPols) and refused or
// accepted in plaintext as the table says. tests/host/bpf_classify_test.cpp
// runs the same rows through the BPF programs.
#include <gtest/gtest.h>
#include <net/if.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "bpf/shared.h"
#include "datapath/desired.h"
#include "tests/traffic_classes.h"
#include "tests/unit/test_keys.h"

namespace sealnet::agent {
namespace {

using namespace sealnet::testing;

IpAddr ip(const char* s) {
  auto a = IpAddr::parse(s);
  EXPECT_TRUE(a) << s;
  return a ? *a : IpAddr{};
}
IpPrefix pfx(const char* s) { return *IpPrefix::parse(s); }
constexpr uint8_t kSlot = 1;  // upA's, as in tests/host/bpf_topology.h

std::string squeeze(const std::string& s) {
  std::string out;
  for (char c : s)
    if (!(c == ' ' && (out.empty() || out.back() == ' '))) out += c;
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

TEST(TrafficClasses, DocTableIsTheSharedTable) {
  std::ifstream f(std::string(SEALNET_SOURCE_DIR) + "/docs/traffic-classes.md");
  ASSERT_TRUE(f);
  std::vector<std::string> rows;
  bool in = false;
  int skip = 0;
  for (std::string line; std::getline(f, line);) {
    if (line.starts_with("<!-- traffic-classes: begin")) {
      in = true;
      skip = 2;  // the header and its rule
      continue;
    }
    if (line.starts_with("<!-- traffic-classes: end")) break;
    if (!in || line.empty()) continue;
    if (skip > 0) {
      --skip;
      continue;
    }
    rows.push_back(squeeze(line));
  }
  std::vector<std::string> want;
  for (const auto& c : kTrafficClasses) want.push_back(doc_row(c));
  EXPECT_EQ(rows, want);
}

// The mirror of a kind: what the peer's address of that kind is, seen from us.
const char* mirror(Kind k, bool v6) {
  switch (k) {
    case Kind::LocalPod: return v6 ? "fd01:2::5" : "10.1.2.5";
    case Kind::LocalNode: return address(Kind::RemoteNode, v6);
    case Kind::LocalSecondary: return v6 ? "fd00:a::52" : "192.0.2.52";
    case Kind::LocalGateway: return address(Kind::LocalGateway, v6);  // every node's pods have it
    case Kind::LocalOtherDevice: return v6 ? "fd00:c::2" : "203.0.113.2";
    case Kind::Outside: return address(Kind::Outside, v6);
    case Kind::RemotePod: return address(Kind::LocalPod, v6, true);
    case Kind::RemoteNode: return address(Kind::LocalNode, v6);
  }
  return "";
}

bool matches(const xfrm::PolicySpec& p, const IpAddr& src, const IpAddr& dst) {
  return p.selector.src.addr.family == src.family && p.selector.dst.addr.family == dst.family &&
         p.selector.src.contains(src) && p.selector.dst.contains(dst);
}

class Plan {
 public:
  explicit Plan(bool encrypt_host) {
    cfg.node.name = "a";
    cfg.node.id = 1;
    cfg.node.ipv4 = ip("192.0.2.1");
    cfg.node.ipv6 = ip("fd00:a::1");
    cfg.node.pod_cidrs = {pfx("10.1.1.0/24"), pfx("fd01:1::/64")};
    cfg.encrypt_host = encrypt_host;
    config::Peer b;
    b.name = "b";
    b.id = 2;
    b.ipv4 = ip("192.0.2.2");
    b.ipv6 = ip("fd00:a::2");
    b.pod_cidrs = {pfx("10.1.2.0/24"), pfx("fd01:2::/64")};
    peers = {b};
    for (auto [ifx, name] : {std::pair{1, "lo"}, {2, "upA"}, {5, "lxc0"}}) {
      probe::LinkInfo l;
      l.ifindex = ifx;
      l.name = name;
      l.flags = IFF_UP;
      links[ifx] = l;
    }
    for (auto [dst, oif] : {std::pair{"192.0.2.0/24", 2}, {"10.1.1.0/24", 5}}) {
      route::Route r;
      r.table = kMainTable;
      r.dst = pfx(dst);
      r.oif = oif;
      main.push_back(r);
    }
    slot_of[2] = kSlot;
    modes.set_device({kSlot, 2, "upA", xfrm::OffloadMode::none}, 1000);
    DesiredInput in;
    in.cfg = &cfg;
    in.peers = &peers;
    in.keys = &keys;
    in.modes = &modes;
    in.slot_of = &slot_of;
    in.links = &links;
    in.main = &main;
    in.peer_keys[2] = {1};
    d = compute(in);
    auto p = xfrm_plan(d, modes);
    EXPECT_TRUE(p) << p.error().message();
    if (p) set = std::move(*p);
  }

  config::AgentConfig cfg;
  std::vector<config::Peer> peers;
  keys::KeySet keys = unit::key_set(unit::kK1);
  fallback::DecisionLog log;
  fallback::ModeBook modes{log};
  std::map<int, uint8_t> slot_of;
  std::map<int, probe::LinkInfo> links;
  std::vector<route::Route> main;
  DesiredState d;
  offload::DesiredSet set;
};

TEST(TrafficClasses, XfrmPlanAgreesWithTheTable) {
  for (bool on : {false, true}) {
    const Plan plan(on);
    ASSERT_FALSE(plan.set.policies.empty());
    const IpAddr peer = ip("192.0.2.2");
    for (const auto& c : kTrafficClasses) {
      if (!applies(c, on)) continue;
      for (bool v6 : {false, true}) {
        SCOPED_TRACE(std::string(c.name) + (v6 ? " IPv6" : " IPv4") + (on ? " encrypt_host on" : " off"));
        const IpAddr src = ip(address(c.src, v6)), dst = ip(address(c.dst, v6, true));
        // Sending: the marked packet meets an out policy of the peer's mark
        // with the table's selector (the most specific match decides).
        const xfrm::PolicySpec* out = nullptr;
        for (const auto& p : plan.set.policies)
          if (p.dir == xfrm::PolicyDir::out && matches(p, src, dst) &&
              p.mark == xfrm::Mark{sealnet_mark_encrypt(2, 1, kSlot), SEALNET_MARK_POLICY_MASK} &&
              (!out || p.selector.dst.len > out->selector.dst.len))
            out = &p;
        if (!c.mark) {
          EXPECT_EQ(c.policy, OutPolicy::None);
        } else {
          ASSERT_NE(out, nullptr) << "marked for the peer, but no out policy of its mark selects it";
          const IpPrefix want = c.policy == OutPolicy::PeerNodeAddress
                                    ? IpPrefix::host(ip(address(Kind::RemoteNode, v6)))
                                    : pfx(v6 ? "fd01:2::/64" : "10.1.2.0/24");
          EXPECT_EQ(out->selector.dst, want);
          EXPECT_EQ(out->selector.src.len, 0);
          EXPECT_EQ(out->templates.at(0).id.daddr, peer);
        }
        // Receiving the mirror: only classes bound for a remote node have one.
        if (c.dst != Kind::RemotePod && c.dst != Kind::RemoteNode) continue;
        const IpAddr msrc = ip(mirror(c.src, v6)), mdst = ip(mirror(c.dst, v6));
        const auto dir = c.dst == Kind::RemoteNode ? xfrm::PolicyDir::in : xfrm::PolicyDir::fwd;
        const xfrm::PolicySpec* best = nullptr;  // the kernel takes the lowest priority number
        for (const auto& p : plan.set.policies)
          if (p.dir == dir && matches(p, msrc, mdst) && (!best || p.priority < best->priority)) best = &p;
        if (c.mark) {
          ASSERT_NE(best, nullptr) << "decrypted, it would be rejected as XfrmInNoPols";
          const IpAddr& from = best->templates.at(0).saddr;
          IpAddr any;
          any.family = AF_INET;
          EXPECT_TRUE(from == peer || from == any) << "the peer's SA does not satisfy it";
        }
        const bool refused = best && !best->templates.at(0).optional;
        EXPECT_EQ(refused, c.received == Received::Refused) << "plaintext " << msrc.str() << " -> " << mdst.str();
      }
    }
  }
}

}  // namespace
}  // namespace sealnet::agent
