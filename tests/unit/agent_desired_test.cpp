// The agent's decisions (datapath/desired.h) and their application in order
// (datapath/effectors.h), driven through sequences against fakes: the BPF maps,
// tc, the XFRM kernel and the routing kernel. Each step asserts the exact desired
// objects and the order of every kernel write: a peer joins and leaves; key
// rotation never sends with a key the peer lacks; a restart continues at the
// generation the kernel's states carry; link flaps; an uplink removed and back;
// a config change.
#include <gtest/gtest.h>
#include <net/if.h>

#include <stdlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "datapath/desired.h"
#include "datapath/effectors.h"
#include "datapath/state_file.h"
#include "tests/unit/offload_fake_kernel.h"
#include "tests/unit/offload_fake_route_kernel.h"
#include "tests/unit/test_keys.h"

namespace sealnet::agent {
namespace {

using offload::testing::FakeRouteKernel;
using offload::testing::FakeXfrmKernel;
using xfrm::OffloadMode;

IpAddr ip(const char* s) { return *IpAddr::parse(s); }
IpPrefix pfx(const char* s) { return *IpPrefix::parse(s); }

using unit::key_set;
using unit::kK1;
using unit::kK2;

// Every write to the kernel, in order, across maps, tc, XFRM and routes.
using Timeline = std::vector<std::string>;

// The pinned maps: their contents, and every write in order.
class FakeMaps final : public MapWriter {
 public:
  explicit FakeMaps(Timeline& t) : timeline(t) {}
  Timeline& timeline;
  std::optional<sealnet_config> config;
  std::map<uint32_t, sealnet_device_value> devices;
  std::map<uint32_t, sealnet_node_value> nodes;
  std::map<IpPrefix, sealnet_ipcache_value> ipcache;
  std::vector<std::string> log;  // "node 3 key 0", "ipcache 10.0.0.3/32", "-node 2", ...

  Status set_config(const sealnet_config& c) override {
    config = c;
    return {};
  }
  Status upsert_device(uint32_t ifx, const sealnet_device_value& v) override {
    devices[ifx] = v;
    note("device " + std::to_string(ifx) + " slot " + std::to_string(v.slot) + " mode " +
         std::to_string(v.mode));
    return {};
  }
  Status upsert_node(uint32_t id, const sealnet_node_value& v) override {
    nodes[id] = v;
    note("node " + std::to_string(id) + " key " + std::to_string(v.peer_key_id));
    return {};
  }
  Status delete_node(uint32_t id) override {
    nodes.erase(id);
    note("-node " + std::to_string(id));
    return {};
  }
  Status upsert_ipcache(const IpPrefix& p, const sealnet_ipcache_value& v) override {
    ipcache[p] = v;
    note("ipcache " + p.str() + " node " + std::to_string(v.node_id));
    return {};
  }
  Status delete_ipcache(const IpPrefix& p) override {
    ipcache.erase(p);
    note("-ipcache " + p.str());
    return {};
  }
  std::vector<std::string> take() { return std::exchange(log, {}); }

 private:
  void note(std::string line) {
    timeline.push_back(line);
    log.push_back(std::move(line));
  }
};

class FakeTc final : public TcAttacher {
 public:
  explicit FakeTc(Timeline& t) : timeline(t) {}
  Timeline& timeline;
  std::set<std::pair<int, bpf::TcHook>> attached;
  std::vector<std::string> log;
  Status ensure(int ifx, bpf::TcHook hook, bpf::Program prog) override {
    if (!attached.insert({ifx, hook}).second) return {};
    log.push_back(std::string(prog == bpf::Program::ToWire ? "to_wire " : "from_pod ") + std::to_string(ifx));
    timeline.push_back(log.back());
    return {};
  }
  void forget_absent(const std::set<int>& present) override {
    std::erase_if(attached, [&](const auto& a) { return !present.contains(a.first); });
  }
};

probe::LinkInfo link(int ifx, const char* name, bool up = true) {
  probe::LinkInfo l;
  l.ifindex = ifx;
  l.name = name;
  l.flags = up ? IFF_UP : 0;
  return l;
}

route::Route main_route(const char* dst, int oif) {
  route::Route r;
  r.table = kMainTable;
  r.dst = pfx(dst);
  r.oif = oif;
  return r;
}

config::Peer peer(const char* name, uint16_t id, const char* pods,
                  std::optional<std::vector<uint8_t>> ks = {}) {
  config::Peer p;
  p.name = name;
  p.id = id;
  p.ipv4 = ip(("10.0.0." + std::to_string(id)).c_str());
  p.pod_cidrs = {pfx(pods)};
  p.keys = std::move(ks);
  return p;
}

// The fakes' writes, seen on the timeline: one line per batch.
class TimelineXfrm final : public offload::XfrmKernel {
 public:
  TimelineXfrm(FakeXfrmKernel& k, Timeline& t) : k_(k), t_(t) {}
  Result<std::vector<xfrm::SaEntry>> states() override { return k_.states(); }
  uint64_t kernel_ns() const override { return k_.kernel_ns(); }
  Result<std::vector<xfrm::PolicyInfo>> policies() override { return k_.policies(); }
  Result<std::vector<Status>> apply(const std::vector<offload::KernelOp>& ops) override {
    t_.push_back("xfrm " + std::to_string(ops.size()));
    return k_.apply(ops);
  }
  Result<std::vector<Result<xfrm::SaInfo>>> read_back(const std::vector<offload::StateRef>& refs) override {
    return k_.read_back(refs);
  }

 private:
  FakeXfrmKernel& k_;
  Timeline& t_;
};
class TimelineRoutes final : public offload::RouteKernel {
 public:
  TimelineRoutes(FakeRouteKernel& k, Timeline& t) : k_(k), t_(t) {}
  Result<std::vector<route::Rule>> rules() override { return k_.rules(); }
  Result<std::vector<route::Route>> routes() override { return k_.routes(); }
  Result<std::vector<Status>> apply(const std::vector<offload::RouteOp>& ops) override {
    t_.push_back("routes " + std::to_string(ops.size()));
    return k_.apply(ops);
  }

 private:
  FakeRouteKernel& k_;
  Timeline& t_;
};

// The kernel as the node sees it; it survives the agent (restart tests).
struct Kernel {
  Timeline timeline;
  FakeXfrmKernel xfrm;
  FakeRouteKernel routing;
  TimelineXfrm xfrm_seen{xfrm, timeline};
  TimelineRoutes routing_seen{routing, timeline};
  FakeMaps maps{timeline};
  FakeTc tc{timeline};
  std::map<int, probe::LinkInfo> links;
  std::vector<route::Route> main;
  Kernel() {
    links[1] = link(1, "lo");
    links[2] = link(2, "eth0");
    links[5] = link(5, "pod0");
    main.push_back(main_route("10.0.0.0/24", 2));
    main.push_back(main_route("10.1.1.0/24", 5));
    xfrm.devices[2] = {};
  }
  // What the kernel does when eth0 goes down: offloaded states and its routes go.
  void eth0_down() {
    links[2] = link(2, "eth0", false);
    xfrm.flush_device(2);
    routing.link_down(2);
    std::erase_if(main, [](const route::Route& r) { return r.oif == 2; });
  }
  void eth0_up() {
    links[2] = link(2, "eth0");
    main.push_back(main_route("10.0.0.0/24", 2));
  }
  std::set<uint32_t> spis(xfrm::Direction dir) const {
    std::set<uint32_t> out;
    for (const auto& [k, s] : xfrm.states_)
      if (s.reqid == (dir == xfrm::Direction::out ? offload::kReqidOut : offload::kReqidIn))
        out.insert(s.id.spi);
    return out;
  }
  // Packets counted on a state (what a peer's traffic does to an inbound one).
  void traffic(uint32_t spi, uint64_t packets) {
    for (auto& [k, st] : xfrm.states_)
      if (st.id.spi == spi) st.current.packets += packets;
  }
  const xfrm::SaInfo* state(uint32_t spi) const {
    for (const auto& [k, s] : xfrm.states_)
      if (s.id.spi == spi) return &s;
    return nullptr;
  }
};

// The agent's sync (datapath/agent.cpp), its probe replaced by `capability`.
struct Agent {
  Kernel& k;
  config::AgentConfig cfg;
  std::vector<config::Peer> peers;
  keys::KeySet keys = key_set(kK1);
  fallback::DecisionLog log;
  fallback::ModeBook modes{log};
  offload::Reconciler xr{k.xfrm_seen, modes};
  offload::RouteReconciler rr{k.routing_seen};
  std::map<int, uint8_t> slot_of;
  std::map<int, OffloadMode> capability;  // what the probe says per ifindex
  std::map<uint8_t, uint8_t> kernel_gens;
  // The state file (its contents; save_state itself is tested apart), the receive windows.
  SavedState* saved = nullptr;
  RxBases rx;
  bool sweep = false;  // a restart's first sync adopts the pinned maps (adopt_pinned)
  size_t swept = 0;
  KeyEvidence ev;
  Written w;
  uint64_t now_s = 1000;  // unix seconds
  uint64_t now_ms = 50'000'000;
  DesiredState last;
  std::vector<std::string> notes;

  explicit Agent(Kernel& kernel, bool restarted = false, SavedState* state = nullptr) : k(kernel), saved(state) {
    if (saved) {
      rx = saved->peers;
      modes.set_guard([this](uint8_t slot, uint8_t g) -> Status {
        saved->slots[slot] = g;
        return {};
      });
    }
    cfg.node.name = "a";
    cfg.node.id = 1;
    cfg.node.ipv4 = ip("10.0.0.1");
    cfg.node.pod_cidrs = {pfx("10.1.1.0/24")};
    xr.grace_seconds = 30;
    // Agent::start: key 1, peer b (no `keys:`); on a restart the generations
    // the kernel's states carry, the send keys in force (adopt_peers).
    load_keys(key_set(kK1), !restarted);
    peers = {peer("b", 2, "10.1.2.0/24")};
    if (restarted) {
      auto states = k.xfrm.states();
      kernel_gens = kernel_generations(*states, cfg.node.id);
    }
  }
  void load_keys(const keys::KeySet& ks, bool fresh_start) {
    for (const auto& key : ks.keys)
      if (!ev.loaded_at.contains(key.id))
        ev.loaded_at[key.id] = fresh_start ? now_ms - ev.activation_ms : now_ms;
    std::erase_if(ev.loaded_at, [&](const auto& kv) { return !ks.find(kv.first); });
    keys = ks;
  }
  void adopt_peers() {
    for (const auto& p : peers)
      if (auto v = k.maps.nodes.find(p.id); v != k.maps.nodes.end()) {
        w.nodes[p.id] = v->second;
        w.send_keys[p.id] = v->second.peer_key_id;
        if (auto held = adopted_keys(keys, v->second.peer_key_id); !held.empty()) ev.adopted[p.id] = held;
      }
  }
  void pass(uint64_t seconds) {
    now_s += seconds;
    now_ms += seconds * 1000;
  }

  Applied sync() {
    auto pinned_slot = [this](int ifx) -> std::optional<uint8_t> {
      if (auto d = k.maps.devices.find(static_cast<uint32_t>(ifx)); d != k.maps.devices.end())
        return d->second.slot;
      return std::nullopt;
    };
    auto problems =
        join_uplinks(cfg, peers, k.links, k.main, slot_of, modes, pinned_slot, [this](int ifx, uint8_t slot) {
          modes.set_device({slot, ifx, k.links.at(ifx).name, capability[ifx]}, now_s);  // the probe's verdict
          continue_generation(modes, slot, kernel_gens, saved ? saved->slots : std::map<uint8_t, uint8_t>{});
          if (saved) saved->slots[slot] = modes.slot(slot)->generation;
        });
    observe_links(modes, slot_of, k.links, now_s);
    DesiredInput in;
    in.cfg = &cfg;
    in.peers = &peers;
    in.keys = &keys;
    in.modes = &modes;
    in.slot_of = &slot_of;
    in.links = &k.links;
    in.main = &k.main;
    for (const auto& p : peers) in.peer_keys[p.id] = peer_key_ids(p, keys, ev, now_ms);
    in.send_keys = w.send_keys;
    follow_generations(*k.xfrm.states(), rx);
    if (saved) saved->peers = rx;
    in.rx_bases = rx;
    last = compute(in);
    if (std::exchange(sweep, false)) swept = adopt_pinned(w, k.maps.nodes, k.maps.ipcache, last);
    Effectors fx{k.maps, k.tc, xr, rr, [this](const std::string& l) { notes.push_back(l); }};
    auto r = apply(last, fx, w, now_s, problems);
    EXPECT_TRUE(r) << r.error().message();
    return r ? std::move(*r) : Applied{};
  }
  // The XFRM objects the last sync planned.
  offload::DesiredSet plan() const {
    auto p = xfrm_plan(last, modes);
    EXPECT_TRUE(p) << p.error().message();
    return p ? std::move(*p) : offload::DesiredSet{};
  }
  std::set<uint32_t> planned_spis(xfrm::Direction dir) const {
    std::set<uint32_t> out;
    for (const auto& s : plan().states)
      if (s.dir == dir) out.insert(s.spec.id.spi);
    return out;
  }
};

uint32_t spi(uint16_t node, uint8_t key, uint8_t slot, uint8_t gen) {
  return offload::make_spi(node, key, slot, gen);
}
// The inbound SPIs of one (peer, key, peer slot) window: base .. base + 3.
std::set<uint32_t> window(uint16_t node, uint8_t key, uint8_t slot, uint8_t base) {
  std::set<uint32_t> out;
  for (int i = 0; i < kRxWindow; ++i) out.insert(spi(node, key, slot, static_cast<uint8_t>(base + i)));
  return out;
}
std::set<uint32_t> operator|(std::set<uint32_t> a, const std::set<uint32_t>& b) {
  a.insert(b.begin(), b.end());
  return a;
}

using IpcacheView = std::map<IpPrefix, std::pair<uint32_t, uint32_t>>;  // node id, flags
IpcacheView view(const std::map<IpPrefix, sealnet_ipcache_value>& m) {
  IpcacheView v;
  for (const auto& [p, e] : m) v[p] = {e.node_id, e.flags};
  return v;
}

sealnet_node_value node_value(const char* addr, uint8_t key) {
  sealnet_node_value v{};
  std::memcpy(v.ipv4, ip(addr).bytes.data(), 4);
  v.flags = SEALNET_NODE_HAS_IPV4;
  v.peer_key_id = key;
  return v;
}
bool same(const sealnet_node_value& a, const sealnet_node_value& b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

// The send key is one the peer holds and whose outbound states all exist.
void expect_safe_send_keys(const Agent& a) {
  for (const auto& pn : a.last.xfrm.peers) {
    auto it = a.w.send_keys.find(pn.id);
    const uint8_t key = it == a.w.send_keys.end() ? 0 : it->second;
    if (key == 0) continue;
    EXPECT_TRUE(std::ranges::find(pn.keys, key) != pn.keys.end())
        << "peer " << pn.id << " lacks key " << +key;
    for (const auto& s : a.plan().states) {
      if (s.dir == xfrm::Direction::out && s.peer == pn.id && s.key == key) {
        EXPECT_TRUE(a.k.state(s.spec.id.spi)) << "peer " << pn.id << ": no state for key " << +key;
      }
    }
    ASSERT_TRUE(a.k.maps.nodes.contains(pn.id));
    EXPECT_EQ(a.k.maps.nodes.at(pn.id).peer_key_id, key);
  }
}

TEST(AgentDesired, PeerJoinsAndLeaves) {
  Kernel k;
  Agent a(k);
  auto r = a.sync();
  EXPECT_TRUE(r.problems.empty());

  // The whole desired state of one peer.
  EXPECT_EQ(a.last.config.local_node_id, 1u);
  EXPECT_EQ(a.last.config.key_id, 1);
  EXPECT_EQ(a.last.config.fail_closed, 1);
  EXPECT_EQ(a.last.config.encrypt_host, 0);
  EXPECT_EQ(a.last.config.events, 0);  // monitor off by default (docs/events.md)
  ASSERT_EQ(a.last.devices.size(), 1u);
  EXPECT_EQ(a.last.devices.at(2).slot, 0);
  EXPECT_EQ(a.last.devices.at(2).mode, SEALNET_MODE_SOFTWARE);
  const IpcacheView ipc1 = {{pfx("10.0.0.1/32"), {1, SEALNET_IPCACHE_NODE_ADDR}},
                            {pfx("10.1.1.0/24"), {1, SEALNET_IPCACHE_POD_CIDR}},
                            {pfx("10.0.0.2/32"), {2, SEALNET_IPCACHE_NODE_ADDR}},
                            {pfx("10.1.2.0/24"), {2, SEALNET_IPCACHE_POD_CIDR}}};
  EXPECT_EQ(view(a.last.ipcache), ipc1);
  ASSERT_EQ(a.last.nodes.size(), 1u);
  EXPECT_TRUE(same(a.last.nodes.at(2), node_value("10.0.0.2", 0)));  // no send key before its states
  EXPECT_EQ(a.last.to_wire, (std::set<int>{2}));
  EXPECT_EQ(a.last.from_pod, (std::set<int>{5}));
  ASSERT_EQ(a.last.xfrm.peers.size(), 1u);
  const auto& pn = a.last.xfrm.peers[0];
  EXPECT_EQ(pn.id, 2);
  EXPECT_EQ(pn.addr, ip("10.0.0.2"));
  EXPECT_EQ(pn.slots, (std::vector<uint8_t>{0}));
  EXPECT_EQ(pn.keys, (std::vector<uint8_t>{1}));
  EXPECT_EQ(pn.rx_slot, std::optional<uint8_t>(0));
  EXPECT_EQ(pn.dsts, (std::vector<IpPrefix>{pfx("10.1.2.0/24")}));
  // Its node address: out policies only (pod-to-node is marked; its plaintext
  // host traffic is still received), docs/traffic-classes.md.
  EXPECT_EQ(pn.out_only, (std::vector<IpPrefix>{pfx("10.0.0.2/32")}));
  EXPECT_EQ(a.last.xfrm.opts.rx_any_fwd, (std::vector<IpPrefix>{pfx("10.1.1.0/24")}));
  EXPECT_TRUE(a.last.xfrm.opts.rx_any_in.empty());
  EXPECT_EQ(a.last.xfrm.opts.subnets, (std::vector<IpPrefix>{pfx("10.1.2.0/24")}));
  // Our own pod CIDRs reach the planner (a peer prefix over them stays loose).
  EXPECT_EQ(a.last.xfrm.local.pod_cidrs, (std::vector<IpPrefix>{pfx("10.1.1.0/24")}));
  // Strict receive: the peer's pods are accepted only through its own states.
  size_t strict = 0;
  for (const auto& p : a.plan().policies) {
    if (p.dir == xfrm::PolicyDir::out) continue;
    if (p.priority == offload::kRxAnyPriority) {  // the catch-all to our pods, optional
      EXPECT_EQ(p.dir, xfrm::PolicyDir::fwd);
      EXPECT_EQ(p.selector.dst, pfx("10.1.1.0/24"));
      EXPECT_TRUE(p.templates.at(0).optional);
      continue;
    }
    EXPECT_EQ(p.selector.src, pfx("10.1.2.0/24"));
    EXPECT_FALSE(p.templates.at(0).optional);
    EXPECT_EQ(p.templates.at(0).saddr, ip("10.0.0.2"));
    ++strict;
  }
  EXPECT_EQ(strict, 2u);  // in and fwd; no shared optional pair
  EXPECT_EQ(a.planned_spis(xfrm::Direction::out), (std::set<uint32_t>{spi(1, 1, 0, 0)}));
  EXPECT_EQ(a.planned_spis(xfrm::Direction::in), window(2, 1, 0, 0));
  auto routes = offload::plan_slot_routes(a.last.routes);
  ASSERT_EQ(routes.rules.size(), 1u);
  EXPECT_EQ(routes.rules[0].fwmark, sealnet_mark_encrypted(0));
  ASSERT_EQ(routes.routes.size(), 1u);
  EXPECT_EQ(routes.routes[0].dst, pfx("10.0.0.0/24"));
  EXPECT_EQ(routes.routes[0].oif, 2);
  EXPECT_EQ(routes.routes[0].table, offload::slot_table(0));
  EXPECT_EQ(a.last.route_slot, (std::map<uint16_t, uint8_t>{{2, 0}}));

  // Applied in order: maps (the node before the ipcache entries naming it),
  // to_wire before from_pod, and the send key last.
  EXPECT_EQ(k.maps.take(),
            (std::vector<std::string>{"device 2 slot 0 mode 0", "node 2 key 0", "ipcache 10.0.0.1/32 node 1",
                                      "ipcache 10.0.0.2/32 node 2", "ipcache 10.1.1.0/24 node 1",
                                      "ipcache 10.1.2.0/24 node 2", "node 2 key 1"}));
  EXPECT_EQ(k.tc.log, (std::vector<std::string>{"to_wire 2", "from_pod 5"}));
  // The whole order: maps, to_wire, from_pod, XFRM states then policies, slot
  // routes, and only then the send key.
  EXPECT_EQ(k.timeline, (Timeline{"device 2 slot 0 mode 0", "node 2 key 0", "ipcache 10.0.0.1/32 node 1",
                                  "ipcache 10.0.0.2/32 node 2", "ipcache 10.1.1.0/24 node 1",
                                  "ipcache 10.1.2.0/24 node 2", "to_wire 2", "from_pod 5", "xfrm 5", "xfrm 5",
                                  "routes 2", "node 2 key 1"}));
  EXPECT_EQ(k.spis(xfrm::Direction::out), a.planned_spis(xfrm::Direction::out));
  EXPECT_EQ(k.spis(xfrm::Direction::in), a.planned_spis(xfrm::Direction::in));
  EXPECT_EQ(k.routing.route_table.size(), 1u);
  expect_safe_send_keys(a);

  // Nothing changed: nothing written.
  a.sync();
  EXPECT_TRUE(k.maps.take().empty());
  EXPECT_EQ(k.tc.log.size(), 2u);

  // c joins.
  a.peers.push_back(peer("c", 3, "10.1.3.0/24"));
  r = a.sync();
  EXPECT_TRUE(same(a.last.nodes.at(3), node_value("10.0.0.3", 0)));
  EXPECT_TRUE(same(a.last.nodes.at(2), node_value("10.0.0.2", 1)));  // b keeps its key
  EXPECT_EQ(k.maps.take(), (std::vector<std::string>{"node 3 key 0", "ipcache 10.0.0.3/32 node 3",
                                                     "ipcache 10.1.3.0/24 node 3", "node 3 key 1"}));
  EXPECT_EQ(a.planned_spis(xfrm::Direction::out),
            (std::set<uint32_t>{spi(1, 1, 0, 0)}));  // one SPI, two daddrs
  EXPECT_EQ(a.plan().states.size(), 10u);  // per peer: 1 out, 4 in (the receive window)
  EXPECT_EQ(r.xfrm.states_added, 5u);
  EXPECT_EQ(a.last.xfrm.opts.subnets, (std::vector<IpPrefix>{pfx("10.1.2.0/24"), pfx("10.1.3.0/24")}));
  expect_safe_send_keys(a);

  // b leaves: its map entries go (ipcache first), its XFRM objects retire after the grace period.
  a.peers.erase(a.peers.begin());
  r = a.sync();
  EXPECT_FALSE(a.last.nodes.contains(2));
  EXPECT_EQ(k.maps.take(),
            (std::vector<std::string>{"-ipcache 10.0.0.2/32", "-ipcache 10.1.2.0/24", "-node 2"}));
  EXPECT_FALSE(a.w.send_keys.contains(2));
  EXPECT_EQ(r.xfrm.states_deleted, 0u);
  EXPECT_EQ(r.xfrm.retiring, 5u + 4u);  // 5 states; b's two out policies and the in/fwd pair of its subnet
  a.pass(31);
  r = a.sync();
  EXPECT_EQ(r.xfrm.states_deleted, 5u);
  for (const auto& [key, s] : k.xfrm.states_)
    EXPECT_NE(s.id.daddr == ip("10.0.0.2") || s.saddr == ip("10.0.0.2"), true);
  expect_safe_send_keys(a);
}

TEST(AgentDesired, RotationNeverSendsWithAKeyThePeerLacks) {
  Kernel k;
  Agent a(k);
  a.sync();
  EXPECT_EQ(a.w.send_keys.at(2), 1);
  k.maps.take();

  // Key 2 arrives: we install its inbound states at once and announce it as
  // newest, but keep sending with 1 until the peer holds 2.
  a.load_keys(key_set(kK1 + kK2), false);
  a.pass(1);
  a.sync();
  EXPECT_EQ(a.last.config.key_id, 2);
  EXPECT_EQ(a.last.xfrm.peers[0].keys, (std::vector<uint8_t>{1}));
  EXPECT_EQ(a.planned_spis(xfrm::Direction::out), (std::set<uint32_t>{spi(1, 1, 0, 0)}));
  EXPECT_EQ(a.planned_spis(xfrm::Direction::in), window(2, 1, 0, 0) | window(2, 2, 0, 0));
  EXPECT_EQ(a.w.send_keys.at(2), 1);
  EXPECT_TRUE(k.maps.take().empty());  // the send key did not move
  expect_safe_send_keys(a);

  // The peer's traffic under key 2 proves it holds it: outbound states for 2,
  // then (same sync, after they exist) the send key.
  a.ev.observed[2].insert(2);
  k.timeline.clear();
  auto r = a.sync();
  EXPECT_EQ(k.timeline,
            (Timeline{"xfrm 1", "xfrm 2", "node 2 key 2"}));  // the state, its policies, then the key
  EXPECT_EQ(a.last.xfrm.peers[0].keys, (std::vector<uint8_t>{1, 2}));
  EXPECT_EQ(a.planned_spis(xfrm::Direction::out), (std::set<uint32_t>{spi(1, 1, 0, 0), spi(1, 2, 0, 0)}));
  EXPECT_EQ(r.xfrm.installed_keys.at(2), (std::vector<uint8_t>{1, 2}));
  EXPECT_EQ(a.w.send_keys.at(2), 2);
  EXPECT_EQ(k.maps.take(), (std::vector<std::string>{"node 2 key 2"}));
  expect_safe_send_keys(a);

  // Key 1 leaves the key file: its states retire after the grace period; key 2 stays in force.
  a.load_keys(key_set(kK2), false);
  a.sync();
  EXPECT_EQ(a.planned_spis(xfrm::Direction::out), (std::set<uint32_t>{spi(1, 2, 0, 0)}));
  EXPECT_EQ(a.w.send_keys.at(2), 2);
  EXPECT_TRUE(k.state(spi(1, 1, 0, 0)));  // retiring
  a.pass(31);
  a.sync();
  EXPECT_FALSE(k.state(spi(1, 1, 0, 0)));
  expect_safe_send_keys(a);
}

TEST(AgentDesired, RotationWaitsForTheActivationDelayOrTheAnnouncement) {
  Kernel k;
  Agent a(k);
  a.peers.push_back(peer("c", 3, "10.1.3.0/24", std::vector<uint8_t>{1}));
  a.sync();
  a.load_keys(key_set(kK1 + kK2), false);
  a.sync();
  EXPECT_EQ(a.w.send_keys, (std::map<uint16_t, uint8_t>{{2, 1}, {3, 1}}));
  // b: assumed to hold key 2 once we have held it for the activation delay.
  a.pass(a.ev.activation_ms / 1000);
  a.sync();
  EXPECT_EQ(a.w.send_keys, (std::map<uint16_t, uint8_t>{{2, 2}, {3, 1}}));  // c announces only 1
  expect_safe_send_keys(a);
  // c announces 2 (a config change here; discovery works the same way).
  a.peers[1].keys = std::vector<uint8_t>{1, 2};
  a.sync();
  EXPECT_EQ(a.w.send_keys, (std::map<uint16_t, uint8_t>{{2, 2}, {3, 2}}));
  expect_safe_send_keys(a);
  // A peer that announces a key we do not have: we send with the newest we share.
  a.peers[1].keys = std::vector<uint8_t>{1, 2, 3};
  a.sync();
  EXPECT_EQ(a.w.send_keys.at(3), 2);
}

TEST(AgentDesired, KernelGenerationsAreTheNewestOnTheRing) {
  auto out = [](uint16_t node, uint8_t slot, uint8_t gen) {
    xfrm::SaEntry sa;
    sa.reqid = offload::kReqidOut;
    sa.id.spi = spi(node, 1, slot, gen);
    return sa;
  };
  xfrm::SaEntry inbound = out(1, 2, 9);
  inbound.reqid = offload::kReqidIn;
  xfrm::SaEntry foreign = out(1, 3, 9);
  foreign.reqid = 42;
  const std::vector<xfrm::SaEntry> states = {out(1, 0, 3), out(1, 0, 4), out(1, 1, 255), out(1, 1, 0),
                                             out(7, 2, 5), inbound,      foreign};
  EXPECT_EQ(kernel_generations(states, 1), (std::map<uint8_t, uint8_t>{{0, 4}, {1, 0}}));
  EXPECT_TRUE(kernel_generations({}, 1).empty());
}

TEST(AgentDesired, AdoptedKeysAreTheSendKeyAndThoseBehindIt) {
  const auto ks = key_set(kK1 + kK2);
  EXPECT_EQ(adopted_keys(ks, 2), (std::set<uint8_t>{1, 2}));
  EXPECT_EQ(adopted_keys(ks, 1), (std::set<uint8_t>{1}));
  EXPECT_TRUE(adopted_keys(ks, 0).empty());
}

TEST(AgentDesired, RestartContinuesAtTheKernelsGenerationAndChangesNothing) {
  Kernel k;
  k.xfrm.devices[2].refuse_crypto.reset();
  {
    Agent a(k);
    a.capability[2] = OffloadMode::crypto;
    a.sync();
    // Two flaps: slot 0 is at generation 2.
    for (int i = 0; i < 2; ++i) {
      k.eth0_down();
      a.sync();
      k.eth0_up();
      a.sync();
    }
    EXPECT_EQ(a.modes.slot(0)->generation, 2);
    a.pass(31);
    a.sync();  // the old generations retired
    EXPECT_EQ(k.spis(xfrm::Direction::out), (std::set<uint32_t>{spi(1, 1, 0, 2)}));
    EXPECT_EQ(k.maps.nodes.at(2).peer_key_id, 1);
  }
  k.maps.take();
  const size_t ops = k.xfrm.ops.size();
  const size_t route_ops = k.routing.sent.size();

  // The restarted agent: keys loaded now (newer ones would wait), the pinned
  // maps and the kernel's states adopted.
  Agent b(k, true);
  EXPECT_EQ(b.kernel_gens, (std::map<uint8_t, uint8_t>{{0, 2}}));
  b.capability[2] = OffloadMode::crypto;
  b.adopt_peers();
  EXPECT_EQ(b.w.send_keys.at(2), 1);
  EXPECT_EQ(b.ev.adopted.at(2), (std::set<uint8_t>{1}));
  auto r = b.sync();
  EXPECT_EQ(b.modes.slot(0)->generation, 2);
  EXPECT_EQ(b.planned_spis(xfrm::Direction::out), (std::set<uint32_t>{spi(1, 1, 0, 2)}));
  EXPECT_EQ(b.last.xfrm.peers[0].keys, (std::vector<uint8_t>{1}));  // adopted, not yet settled
  EXPECT_EQ(r.xfrm.changes(), 0u);
  EXPECT_EQ(k.xfrm.ops.size(), ops);  // not one XFRM op
  EXPECT_EQ(k.routing.sent.size(), route_ops);
  // The device map entry is re-written (this process had not written it), the
  // nodes map is not: the send key in force never changed.
  EXPECT_EQ(k.maps.take(),
            (std::vector<std::string>{"device 2 slot 0 mode 1", "ipcache 10.0.0.1/32 node 1",
                                      "ipcache 10.0.0.2/32 node 2", "ipcache 10.1.1.0/24 node 1",
                                      "ipcache 10.1.2.0/24 node 2"}));
  expect_safe_send_keys(b);
}

TEST(AgentDesired, LinkFlapsMoveTheSlotToItsNextGeneration) {
  Kernel k;
  k.xfrm.devices[2].refuse_crypto.reset();
  Agent a(k);
  a.capability[2] = OffloadMode::crypto;
  a.sync();
  EXPECT_EQ(a.last.devices.at(2).mode, SEALNET_MODE_CRYPTO);
  ASSERT_TRUE(k.state(spi(1, 1, 0, 0)));
  ASSERT_TRUE(k.state(spi(1, 1, 0, 0))->offload);
  EXPECT_EQ(k.state(spi(1, 1, 0, 0))->offload->ifindex, 2);

  // Down: the kernel flushed the offloaded states and the routes; the slot is
  // down, its table keeps the rule and loses its routes.
  k.eth0_down();
  a.sync();
  EXPECT_FALSE(a.modes.slot(0)->up);
  EXPECT_EQ(a.log.count(fallback::Reason::link_down), 1u);
  auto routes = offload::plan_slot_routes(a.last.routes);
  EXPECT_EQ(routes.rules.size(), 0u);  // no main route through eth0: no routes and no family
  EXPECT_TRUE(routes.routes.empty());
  EXPECT_TRUE(a.last.route_slot.empty());
  EXPECT_EQ(a.last.xfrm.peers[0].rx_slot, std::nullopt);
  EXPECT_EQ(a.last.to_wire, (std::set<int>{2}));  // the device is still there

  // Up: generation 1, offloaded again; generation 0 never comes back.
  k.eth0_up();
  a.sync();
  EXPECT_TRUE(a.modes.slot(0)->up);
  EXPECT_EQ(a.modes.slot(0)->generation, 1);
  EXPECT_EQ(a.planned_spis(xfrm::Direction::out), (std::set<uint32_t>{spi(1, 1, 0, 1)}));
  ASSERT_TRUE(k.state(spi(1, 1, 0, 1)));
  ASSERT_TRUE(k.state(spi(1, 1, 0, 1))->offload);
  EXPECT_EQ(a.w.send_keys.at(2), 1);
  routes = offload::plan_slot_routes(a.last.routes);
  EXPECT_EQ(routes.routes.size(), 1u);
  expect_safe_send_keys(a);

  // A fast flap the agent sees only as up again (no sync while down): the
  // reconciler finds its offloaded state gone and moves on too.
  k.eth0_down();
  k.eth0_up();
  a.sync();
  EXPECT_EQ(a.modes.slot(0)->generation, 2);
  a.sync();
  EXPECT_TRUE(k.state(spi(1, 1, 0, 2)));
  EXPECT_EQ(a.log.count(fallback::Reason::link_up), 2u);
  a.pass(31);
  a.sync();
  EXPECT_EQ(k.spis(xfrm::Direction::out), (std::set<uint32_t>{spi(1, 1, 0, 2)}));
  expect_safe_send_keys(a);
}

TEST(AgentDesired, AnUplinkRemovedAndBack) {
  Kernel k;
  Agent a(k);
  a.sync();
  k.tc.log.clear();

  // eth0 is gone with its routes: no uplink, no to_wire, the attachment forgotten;
  // the slot and its device entry stay (the marks and SPIs carry the slot).
  k.links.erase(2);
  std::erase_if(k.main, [](const route::Route& r) { return r.oif == 2; });
  k.routing.link_down(2);
  a.sync();
  EXPECT_FALSE(a.modes.slot(0)->up);
  EXPECT_TRUE(a.last.to_wire.empty());
  EXPECT_EQ(a.last.from_pod, (std::set<int>{5}));
  EXPECT_FALSE(k.tc.attached.contains({2, bpf::TcHook::Egress}));
  EXPECT_EQ(a.last.devices.size(), 1u);
  EXPECT_TRUE(a.last.route_slot.empty());
  EXPECT_TRUE(offload::plan_slot_routes(a.last.routes).routes.empty());
  EXPECT_EQ(a.w.send_keys.at(2), 1);  // software states need no device

  // Back under the same ifindex: same slot, to_wire again; a software slot lost
  // no state, so it keeps its generation (and its states' sequence numbers).
  k.eth0_up();
  a.sync();
  EXPECT_EQ(a.slot_of, (std::map<int, uint8_t>{{2, 0}}));
  EXPECT_EQ(a.modes.slot(0)->generation, 0);
  EXPECT_EQ(k.tc.log, (std::vector<std::string>{"to_wire 2"}));
  EXPECT_EQ(a.last.route_slot, (std::map<uint16_t, uint8_t>{{2, 0}}));
  expect_safe_send_keys(a);

  // A second uplink for a second peer network takes the next free slot.
  k.links[3] = link(3, "eth1");
  k.main.push_back(main_route("10.0.9.0/24", 3));
  config::Peer d = peer("d", 4, "10.1.4.0/24");
  d.ipv4 = ip("10.0.9.4");
  a.peers.push_back(d);
  a.sync();
  EXPECT_EQ(a.slot_of, (std::map<int, uint8_t>{{2, 0}, {3, 1}}));
  EXPECT_EQ(a.last.route_slot, (std::map<uint16_t, uint8_t>{{2, 0}, {4, 1}}));
  EXPECT_EQ(a.last.to_wire, (std::set<int>{2, 3}));
}

TEST(AgentDesired, ChooseSlotKeepsThePinnedOne) {
  EXPECT_EQ(choose_slot({}, std::nullopt), std::optional<uint8_t>(0));
  EXPECT_EQ(choose_slot({{2, 0}}, std::nullopt), std::optional<uint8_t>(1));
  EXPECT_EQ(choose_slot({{2, 0}}, 5), std::optional<uint8_t>(5));
  EXPECT_EQ(choose_slot({{2, 5}}, 5), std::optional<uint8_t>(0));
  std::map<int, uint8_t> full;
  for (int i = 0; i < SEALNET_MAX_SLOTS; ++i) full[10 + i] = static_cast<uint8_t>(i);
  EXPECT_EQ(choose_slot(full, std::nullopt), std::nullopt);
}

TEST(AgentDesired, JoinUplinksNamesTheOneWithoutASlot) {
  config::AgentConfig cfg;
  std::map<int, probe::LinkInfo> links;
  for (int i = 0; i <= SEALNET_MAX_SLOTS; ++i) {
    const std::string name = "eth" + std::to_string(i);
    links[10 + i] = link(10 + i, name.c_str());
    cfg.uplinks.push_back(name);
  }
  cfg.uplinks.push_back("eth99");
  std::map<int, uint8_t> slot_of;
  fallback::DecisionLog log;
  fallback::ModeBook modes(log);
  std::vector<std::pair<int, uint8_t>> joined;
  auto problems = join_uplinks(
      cfg, {}, links, {}, slot_of, modes,
      [](int ifx) { return ifx == 12 ? std::optional<uint8_t>(7) : std::nullopt; },
      [&](int ifx, uint8_t slot) { joined.emplace_back(ifx, slot); });
  EXPECT_EQ(problems,
            (std::vector<std::string>{
                "uplink eth99 does not exist",
                "assign a device slot ifindex 26: No space left on device (all 16 slots are in use (4 "
                "bits of the packet mark))"}));
  ASSERT_EQ(joined.size(), 16u);
  EXPECT_EQ(joined[0], (std::pair<int, uint8_t>{10, 0}));
  EXPECT_EQ(joined[2], (std::pair<int, uint8_t>{12, 7}));  // the pinned slot
  EXPECT_EQ(joined[7], (std::pair<int, uint8_t>{17, 6}));
  EXPECT_EQ(joined[8], (std::pair<int, uint8_t>{18, 8}));
  EXPECT_EQ(slot_of.size(), 16u);
}

TEST(AgentDesired, AConfigChange) {
  Kernel k;
  Agent a(k);
  a.sync();
  k.maps.take();

  // b's pod CIDR moves, fail_closed is switched off.
  a.cfg.fail_closed = false;
  a.peers[0].pod_cidrs = {pfx("10.1.20.0/24")};
  auto r = a.sync();
  EXPECT_EQ(a.last.config.fail_closed, 0);
  EXPECT_EQ(k.maps.config->fail_closed, 0);
  EXPECT_EQ(k.maps.take(), (std::vector<std::string>{"ipcache 10.1.20.0/24 node 2", "-ipcache 10.1.2.0/24"}));
  EXPECT_EQ(a.last.xfrm.peers[0].dsts, (std::vector<IpPrefix>{pfx("10.1.20.0/24")}));
  EXPECT_EQ(a.last.xfrm.opts.subnets, (std::vector<IpPrefix>{pfx("10.1.20.0/24")}));
  EXPECT_EQ(r.xfrm.policies_added, 3u);  // out to the new CIDR, in and fwd from it
  EXPECT_EQ(r.xfrm.states_added, 0u);    // the states do not depend on the CIDRs
  expect_safe_send_keys(a);

  // Named uplinks, one missing: the problem is reported, the rest goes on.
  a.cfg.uplinks = {"eth0", "eth9"};
  r = a.sync();
  EXPECT_EQ(r.problems, (std::vector<std::string>{"uplink eth9 does not exist"}));
  EXPECT_EQ(a.slot_of, (std::map<int, uint8_t>{{2, 0}}));

  // A peer without an address of our outer family is named, and left out of XFRM.
  a.cfg.uplinks.clear();
  config::Peer v6 = peer("e", 6, "10.1.6.0/24");
  v6.ipv4.reset();
  v6.ipv6 = ip("fd00::6");
  a.peers.push_back(v6);
  r = a.sync();
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_TRUE(r.problems[0].starts_with("peer e has no IPv4 address, the outer family of node a")) << r.problems[0];
  EXPECT_EQ(a.last.xfrm.peers.size(), 1u);
  EXPECT_TRUE(a.last.nodes.contains(6));
  EXPECT_FALSE(a.w.send_keys.contains(6));
}


// ---- generations (docs/xfrm-design.md "Generations: never a blackhole, never a replay").

TEST(AgentGenerations, ThreeFlapsOfACryptoSlotMoveOneGenerationEach) {
  Kernel k;
  k.xfrm.devices[2].refuse_crypto.reset();
  SavedState saved{1, {}, {}};
  Agent a(k, false, &saved);
  a.capability[2] = OffloadMode::crypto;
  a.sync();
  EXPECT_EQ(k.spis(xfrm::Direction::out), (std::set<uint32_t>{spi(1, 1, 0, 0)}));
  EXPECT_EQ(saved.slots, (std::map<uint8_t, uint8_t>{{0, 0}}));
  for (uint8_t g = 1; g <= 3; ++g) {
    k.eth0_down();
    a.sync();
    EXPECT_TRUE(a.planned_spis(xfrm::Direction::out).empty());
    k.eth0_up();
    a.sync();
    EXPECT_EQ(a.modes.slot(0)->generation, g);
    EXPECT_EQ(saved.slots.at(0), g);  // the guard saw it before the plan used it
    EXPECT_EQ(a.planned_spis(xfrm::Direction::out), (std::set<uint32_t>{spi(1, 1, 0, g)}));
    ASSERT_TRUE(k.state(spi(1, 1, 0, g)));
    EXPECT_TRUE(k.state(spi(1, 1, 0, g))->offload);
    // Our receive window for the static peer does not move with our flaps.
    EXPECT_EQ(a.planned_spis(xfrm::Direction::in), window(2, 1, 0, 0));
    expect_safe_send_keys(a);
  }
  a.pass(31);
  a.sync();
  EXPECT_EQ(k.spis(xfrm::Direction::out), (std::set<uint32_t>{spi(1, 1, 0, 3)}));
}

// A crypto NIC's port deleted and added again (netdevsim del_port/new_port, a
// driver reload): the device is back under a new ifindex with its old name. It
// takes its slot back (the marks and SPIs in flight carry the slot), and since
// the kernel flushed its offloaded states with the device, the slot moves to a
// newer generation inside the peers' receive window.
TEST(AgentGenerations, AnUplinkRecreatedUnderANewIfindexTakesItsSlotBack) {
  Kernel k;
  k.xfrm.devices[2].refuse_crypto.reset();
  SavedState saved{1, {}, {}};
  Agent a(k, false, &saved);
  a.capability[2] = OffloadMode::crypto;
  a.sync();
  ASSERT_EQ(a.slot_of, (std::map<int, uint8_t>{{2, 0}}));
  EXPECT_GT(k.xfrm.offloaded_on(2), 0u);

  // The port is deleted: its states, routes and link go.
  k.xfrm.flush_device(2);
  k.links.erase(2);
  std::erase_if(k.main, [](const route::Route& r) { return r.oif == 2; });
  k.routing.link_down(2);
  a.sync();
  EXPECT_FALSE(a.modes.slot(0)->up);
  EXPECT_TRUE(a.last.to_wire.empty());

  // Added again: ifindex 7, the same name.
  k.links[7] = link(7, "eth0");
  k.main.push_back(main_route("10.0.0.0/24", 7));
  k.xfrm.devices[7] = {};
  k.xfrm.devices[7].refuse_crypto.reset();
  a.capability[7] = OffloadMode::crypto;
  a.sync();
  EXPECT_EQ(a.slot_of, (std::map<int, uint8_t>{{7, 0}}));
  const auto* st = a.modes.slot(0);
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->up);
  EXPECT_EQ(st->dev.ifindex, 7);
  EXPECT_TRUE(generation_ahead(st->generation, 0));
  EXPECT_LT(st->generation, kRxWindow);  // the peers already hold inbound states for it
  EXPECT_EQ(saved.slots.at(0), st->generation);
  EXPECT_EQ(a.planned_spis(xfrm::Direction::out), (std::set<uint32_t>{spi(1, 1, 0, st->generation)}));
  // The outbound state is offloaded on the new device. The inbound window was
  // re-added in software while the slot was down and stays there (moving it
  // back would delete a state the peer is sending to).
  ASSERT_TRUE(k.state(spi(1, 1, 0, st->generation)));
  ASSERT_TRUE(k.state(spi(1, 1, 0, st->generation))->offload);
  EXPECT_EQ(k.state(spi(1, 1, 0, st->generation))->offload->ifindex, 7);
  for (uint32_t in : window(2, 1, 0, 0)) EXPECT_TRUE(k.state(in)) << std::hex << in;
  EXPECT_EQ(a.last.to_wire, (std::set<int>{7}));
  EXPECT_EQ(a.last.route_slot, (std::map<uint16_t, uint8_t>{{2, 0}}));
  expect_safe_send_keys(a);
}

TEST(AgentGenerations, ThreeFlapsOfASoftwareSlotMoveNothing) {
  Kernel k;
  SavedState saved{1, {}, {}};
  Agent a(k, false, &saved);
  a.sync();
  const size_t ops = k.xfrm.ops.size();
  for (int i = 0; i < 3; ++i) {
    k.eth0_down();  // flushes offloaded states only: ours are software
    a.sync();
    a.pass(31);  // down beyond the grace period: the software state is still wanted
    a.sync();
    EXPECT_EQ(a.planned_spis(xfrm::Direction::out), (std::set<uint32_t>{spi(1, 1, 0, 0)}));
    k.eth0_up();
    a.sync();
    EXPECT_EQ(a.modes.slot(0)->generation, 0);
    EXPECT_EQ(k.spis(xfrm::Direction::out), (std::set<uint32_t>{spi(1, 1, 0, 0)}));
  }
  EXPECT_EQ(saved.slots, (std::map<uint8_t, uint8_t>{{0, 0}}));
  EXPECT_EQ(k.xfrm.ops.size(), ops);  // not one state or policy touched
  EXPECT_EQ(a.log.count(fallback::Reason::link_up), 3u);
}

TEST(AgentGenerations, RestartAfterAFlapContinuesAtTheFlappedGeneration) {
  Kernel k;
  k.xfrm.devices[2].refuse_crypto.reset();
  SavedState saved{1, {}, {}};
  {
    Agent a(k, false, &saved);
    a.capability[2] = OffloadMode::crypto;
    a.sync();
    k.eth0_down();
    a.sync();
    k.eth0_up();
    a.sync();
    EXPECT_EQ(saved.slots.at(0), 1);
  }
  const size_t ops = k.xfrm.ops.size();
  Agent b(k, true, &saved);
  b.capability[2] = OffloadMode::crypto;
  b.adopt_peers();
  EXPECT_EQ(b.kernel_gens, (std::map<uint8_t, uint8_t>{{0, 1}}));
  auto r = b.sync();
  EXPECT_EQ(b.modes.slot(0)->generation, 1);
  EXPECT_EQ(b.planned_spis(xfrm::Direction::out), (std::set<uint32_t>{spi(1, 1, 0, 1)}));
  EXPECT_EQ(k.xfrm.ops.size(), ops);  // the kernel's states continue
  EXPECT_EQ(saved.slots.at(0), 1);
  // The state file ahead of the kernel (a generation reserved, then flushed
  // while the agent was down): the next one, never the kernel's.
  EXPECT_EQ(start_generation(1, 2), std::optional<uint8_t>(3));
  EXPECT_EQ(start_generation(1, 1), std::optional<uint8_t>(1));
  EXPECT_EQ(start_generation(1, 0), std::optional<uint8_t>(1));
  EXPECT_EQ(start_generation(0, 255), std::optional<uint8_t>(0));  // 255 is behind 0 on the ring
  EXPECT_EQ(start_generation(std::nullopt, 255), std::optional<uint8_t>(0));
  EXPECT_EQ(start_generation(std::nullopt, std::nullopt), std::nullopt);
}

TEST(AgentGenerations, ARebootStartsAfterTheSavedGeneration) {
  SavedState saved{1, {}, {}};
  {
    Kernel k;
    k.xfrm.devices[2].refuse_crypto.reset();
    Agent a(k, false, &saved);
    a.capability[2] = OffloadMode::crypto;
    a.sync();
    k.eth0_down();
    a.sync();
    k.eth0_up();
    a.sync();
    EXPECT_EQ(k.spis(xfrm::Direction::out).count(spi(1, 1, 0, 1)), 1u);
  }
  // Reboot: XFRM, maps and pins are gone, the state directory is kept. Generation
  // 1 sent packets a peer may still count: the agent starts at 2.
  for (uint8_t expect : {2, 3}) {
    Kernel k;
    k.xfrm.devices[2].refuse_crypto.reset();
    Agent a(k, false, &saved);
    a.capability[2] = OffloadMode::crypto;
    a.sync();
    EXPECT_EQ(a.modes.slot(0)->generation, expect);
    EXPECT_EQ(saved.slots.at(0), expect);
    EXPECT_EQ(k.spis(xfrm::Direction::out), (std::set<uint32_t>{spi(1, 1, 0, expect)}));
    expect_safe_send_keys(a);
  }
}

TEST(AgentGenerations, AStaticPeerIsFollowedThroughItsGenerations) {
  Kernel k;
  SavedState saved{1, {}, {}};
  Agent a(k, false, &saved);
  a.sync();
  EXPECT_EQ(k.spis(xfrm::Direction::in), window(2, 1, 0, 0));
  // b sends on generation 0, then flaps to 1, 2 and 3 (3 is inside 0..3 already).
  k.traffic(spi(2, 1, 0, 0), 10);
  a.sync();
  EXPECT_EQ(a.planned_spis(xfrm::Direction::in), window(2, 1, 0, 0));
  k.traffic(spi(2, 1, 0, 1), 10);
  a.sync();
  EXPECT_EQ(a.planned_spis(xfrm::Direction::in), window(2, 1, 0, 1));
  EXPECT_EQ(k.spis(xfrm::Direction::in), window(2, 1, 0, 0) | window(2, 1, 0, 1));  // 0 retires later
  k.traffic(spi(2, 1, 0, 3), 10);  // two generations at once: a flap without traffic between
  a.sync();
  EXPECT_EQ(a.planned_spis(xfrm::Direction::in), window(2, 1, 0, 3));
  EXPECT_EQ(saved.peers, (RxBases{{2, {{0, 3}}}}));
  a.pass(31);
  a.sync();
  EXPECT_EQ(k.spis(xfrm::Direction::in), window(2, 1, 0, 3));  // 3, 4, 5, 6
  // Traffic on an older generation (in flight) never moves the window back.
  RxBases bases{{2, {{0, 3}}}};
  xfrm::SaEntry old;
  old.reqid = offload::kReqidIn;
  old.id.spi = spi(2, 1, 0, 2);
  old.current.packets = 1;
  EXPECT_FALSE(follow_generations({old}, bases));
  EXPECT_EQ(bases.at(2).at(0), 3);
  // Around the ring: 255 -> 1.
  bases = {{2, {{0, 255}}}};
  old.id.spi = spi(2, 1, 0, 1);
  EXPECT_TRUE(follow_generations({old}, bases));
  EXPECT_EQ(bases.at(2).at(0), 1);

  // A restart (or a reboot: the state file kept) holds the same window.
  Kernel k2;
  Agent b(k2, false, &saved);
  b.sync();
  EXPECT_EQ(b.planned_spis(xfrm::Direction::in), window(2, 1, 0, 3));
}

TEST(StateFile, RoundTripsAndParsesStrictly) {
  SavedState s{7, {{0, 5}, {3, 255}}, {{2, {{0, 3}, {1, 0}}}, {9, {{0, 200}}}}};
  const std::string text = format_state(s);
  EXPECT_EQ(text,
            "# sealnet agent state: docs/xfrm-design.md \"Generations\"\nversion 1\nnode 7\n"
            "slot 0 generation 5\nslot 3 generation 255\npeer 2 slot 0 generation 3\n"
            "peer 2 slot 1 generation 0\npeer 9 slot 0 generation 200\n");
  auto back = parse_state(text, "f");
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, s);

  struct Bad {
    const char* text;
    const char* object;
    const char* starts;
  };
  for (const Bad& b : {
           Bad{"", "f:0", "empty: no \"version 1\""},
           Bad{"version 1\n", "f:1", "no \"node\" line"},
           Bad{"node 1\n", "f:1", "expected \"version 1\" first"},
           Bad{"version 2\nnode 1\n", "f:1", "expected \"version 1\" first"},
           Bad{"version 1\nnode 1\nslot 0 generation 5", "f:3", "the last line has no newline"},
           Bad{"version 1\nnode 1\nslot 0 generation 256\n", "f:3", "generation: not a number 0..255"},
           Bad{"version 1\nnode 1\nslot 16 generation 1\n", "f:3", "slot: not a slot 0..15"},
           Bad{"version 1\nnode 1\nslot 0 generation -1\n", "f:3", "generation: not a number"},
           Bad{"version 1\nnode 1\nslot 0 generation 0x5\n", "f:3", "generation: not a number"},
           Bad{"version 1\nnode 1\nslot 0 generation 05\n", "f:3", "generation: not a number"},
           Bad{"version 1\nnode 1\nslot 0  generation 5\n", "f:3", "not a state line"},
           Bad{"version 1\nnode 1\nslot 0 generation 5\nslot 0 generation 6\n", "f:4", "slot 0: given twice"},
           Bad{"version 1\nnode 0\n", "f:2", "node: not a node id"},
           Bad{"version 1\nnode 1\nnode 1\n", "f:3", "node: given twice"},
           Bad{"version 1\nnode 1\npeer 2 slot 0 generation 1\npeer 2 slot 0 generation 2\n", "f:4",
               "peer 2 slot 0: given twice"},
           Bad{"version 1\nnode 1\ngeneration 5\n", "f:3", "not a state line"},
       }) {
    auto r = parse_state(b.text, "f");
    ASSERT_FALSE(r) << b.text;
    EXPECT_EQ(r.error().object, b.object) << b.text;
    EXPECT_TRUE(r.error().detail.starts_with(b.starts)) << b.text << ": " << r.error().detail;
  }
}

TEST(StateFile, AbsentIsAFirstStartCorruptIsAnError) {
  char tmpl[] = "/tmp/sealnet-state-XXXXXX";
  ASSERT_TRUE(::mkdtemp(tmpl));
  const std::string path = std::string(tmpl) + "/" + kStateFileName;
  auto none = load_state(path);
  ASSERT_TRUE(none) << none.error().message();
  EXPECT_FALSE(none->has_value());
  SavedState s{1, {{0, 9}}, {}};
  ASSERT_TRUE(save_state(path, s));
  auto back = load_state(path);
  ASSERT_TRUE(back && back->has_value());
  EXPECT_EQ(**back, s);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  {
    std::ofstream f(path, std::ios::trunc);
    f << "version 1\nnode 1\nslot 0 gen";  // a torn write
  }
  auto bad = load_state(path);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().object, path + ":3");
  std::filesystem::remove_all(tmpl);
}


// ---- stale state (issue 14, item 4).

TEST(AgentStaleState, APeerThatLeftWhileTheAgentWasDownIsSweptAtStart) {
  Kernel k;
  {
    Agent a(k);
    a.peers.push_back(peer("c", 3, "10.1.3.0/24"));
    a.sync();
    a.sync();
    ASSERT_TRUE(k.maps.nodes.contains(3));
    ASSERT_TRUE(k.maps.ipcache.contains(pfx("10.1.3.0/24")));
  }
  k.maps.take();
  // c left while no agent ran: the restarted one has only b.
  Agent b(k, true);
  b.adopt_peers();
  b.sweep = true;
  b.sync();
  EXPECT_EQ(b.swept, 3u);  // c's node and its two ipcache entries
  // What was right stays unwritten; c's entries go, ipcache before the node.
  EXPECT_EQ(k.maps.take(), (std::vector<std::string>{"device 2 slot 0 mode 0", "-ipcache 10.0.0.3/32",
                                                     "-ipcache 10.1.3.0/24", "-node 3"}));
  EXPECT_FALSE(k.maps.nodes.contains(3));
  EXPECT_EQ(view(k.maps.ipcache), view(b.last.ipcache));
  // Its XFRM objects retire after the key grace period, and nothing of it stays.
  auto has_c = [&] {
    for (const auto& [key, st] : k.xfrm.states_)
      if (st.id.daddr == ip("10.0.0.3") || st.saddr == ip("10.0.0.3")) return true;
    for (const auto& [key, p] : k.xfrm.policies_)
      if (p.selector.dst == pfx("10.1.3.0/24") || p.selector.src == pfx("10.1.3.0/24")) return true;
    return false;
  };
  EXPECT_TRUE(has_c());
  b.pass(29);
  b.sync();
  EXPECT_TRUE(has_c());
  b.pass(2);
  b.sync();
  EXPECT_FALSE(has_c());
  expect_safe_send_keys(b);
  // A second sync sweeps nothing more and writes nothing.
  b.sync();
  EXPECT_TRUE(k.maps.take().empty());
}

// encrypt_host: true needs node-wide sysctls from_host depends on; each one
// lacking is one line naming the value to set (the agent refuses with them
// before it touches anything: host.AgentHost.EncryptHostWithoutWhatFromHostNeedsIsRefusedWithTheSysctl).
TEST(AgentDesired, EncryptHostNamesTheSysctlsFromHostLacks) {
  config::AgentConfig cfg;
  cfg.node.name = "a";
  cfg.node.id = 1;
  cfg.node.ipv4 = ip("10.0.0.1");
  cfg.node.pod_cidrs = {pfx("10.1.1.0/24")};
  cfg.peers = {peer("b", 2, "10.1.2.0/24")};
  const HostSysctls ok{.ipv4_forwarding = true, .ipv6_forwarding = false, .ipv4_rp_filter = 2};
  auto find = [](const std::vector<std::string>& v, const std::string& s) {
    return std::count_if(v.begin(), v.end(), [&](const std::string& l) { return l.find(s) != std::string::npos; });
  };
  EXPECT_TRUE(host_encryption_problems(cfg, {}).empty()) << "encrypt_host off needs nothing";
  cfg.encrypt_host = true;
  EXPECT_TRUE(host_encryption_problems(cfg, ok).empty()) << "an IPv4 cluster needs no IPv6 forwarding";
  EXPECT_TRUE(host_encryption_problems(cfg, {true, false, 0}).empty());

  auto p = host_encryption_problems(cfg, {false, false, 2});
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(find(p, "net.ipv4.ip_forward is 0: set net.ipv4.ip_forward=1"), 1);
  p = host_encryption_problems(cfg, {true, false, 1});
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(find(p, "set net.ipv4.conf.all.rp_filter=0 or 2"), 1);
  p = host_encryption_problems(cfg, {std::nullopt, false, std::nullopt});
  EXPECT_EQ(p.size(), 2u);
  EXPECT_EQ(find(p, "could not be read"), 2);

  // IPv6 anywhere in the cluster (here a peer's pods) needs IPv6 forwarding.
  cfg.peers[0].pod_cidrs.push_back(pfx("fd01:2::/64"));
  p = host_encryption_problems(cfg, ok);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(find(p, "set net.ipv6.conf.all.forwarding=1"), 1);
  p = host_encryption_problems(cfg, {false, false, 1});
  EXPECT_EQ(p.size(), 3u) << "every lacking sysctl at once";
}

// A peer without an address of our outer family: reported by name and family,
// left out of the XFRM plan, and its node entry carries no address, so the BPF
// program drops its traffic as node-no-address instead of marking it for a
// tunnel nothing was installed for. A peer with both families tunnels over ours.
TEST(AgentDesired, APeerWithoutOurOuterFamilyIsReportedPerPeer) {
  Kernel k;
  Agent a(k);
  auto c = peer("c", 3, "10.1.3.0/24");
  c.ipv4.reset();
  c.ipv6 = ip("fd00::3");
  auto d = peer("d", 4, "10.1.4.0/24");
  d.ipv6 = ip("fd00::4");
  a.peers.push_back(c);
  a.peers.push_back(d);
  a.sync();
  ASSERT_EQ(a.last.problems.size(), 1u);
  EXPECT_NE(a.last.problems[0].find("peer c has no IPv4 address, the outer family of node a"), std::string::npos)
      << a.last.problems[0];
  EXPECT_NE(a.last.problems[0].find("node-no-address"), std::string::npos);
  ASSERT_TRUE(a.last.nodes.contains(3));
  EXPECT_EQ(a.last.nodes.at(3).flags & (SEALNET_NODE_HAS_IPV4 | SEALNET_NODE_HAS_IPV6), 0);
  EXPECT_EQ(a.last.nodes.at(4).flags & (SEALNET_NODE_HAS_IPV4 | SEALNET_NODE_HAS_IPV6), SEALNET_NODE_HAS_IPV4);
  std::set<uint16_t> planned;
  for (const auto& pn : a.last.xfrm.peers) planned.insert(pn.id);
  EXPECT_EQ(planned, (std::set<uint16_t>{2, 4}));
  // b and d still converge.
  EXPECT_TRUE(a.w.send_keys.contains(2));
  EXPECT_TRUE(a.w.send_keys.contains(4));
}

}  // namespace
}  // namespace sealnet::agent
