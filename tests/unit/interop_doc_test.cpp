// docs/interop.md kept honest: its worked example (each fenced block after an
// `<!-- interop-check: NAME -->` line) against the project's own functions. The
// agent config and key file of the page go through the agent's parsers and
// agent::compute, offload::plan and offload::plan_slot_routes; the `ip` commands
// for node A must be exactly those objects, node B's must be their mirror
// image; every number of the "values" block is recomputed with make_spi,
// sealnet_mark_encrypt, derive_pair_key and the constants themselves. A change
// in the code fails here until the page says the same. SecurityDoc: every test
// docs/security.md (and this page) names exists.
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "bpf/shared.h"
#include "core/text.h"
#include "datapath/config.h"
#include "datapath/desired.h"
#include "keys/keys.h"
#include "offload/binding.h"
#include "offload/route_reconciler.h"

namespace sealnet {
namespace {

constexpr const char* kDoc = SEALNET_SOURCE_DIR "/docs/interop.md";

// ---- the page: its checked blocks.

std::map<std::string, std::string> checked_blocks() {
  std::ifstream f(kDoc);
  EXPECT_TRUE(f) << "cannot read " << kDoc;
  std::map<std::string, std::string> out;
  static const std::regex marker(R"(^<!-- interop-check: ([a-z0-9-]+) -->\s*$)");
  std::string line, pending;
  bool in_block = false;
  std::string body;
  while (std::getline(f, line)) {
    std::smatch m;
    if (!in_block && std::regex_match(line, m, marker)) {
      pending = m[1];
      continue;
    }
    if (!in_block && !pending.empty() && line.starts_with("```")) {
      in_block = true;
      body.clear();
      continue;
    }
    if (in_block && line.starts_with("```")) {
      EXPECT_FALSE(out.contains(pending)) << "two blocks named " << pending;
      out[pending] = body;
      in_block = false;
      pending.clear();
      continue;
    }
    if (in_block) body += line + "\n";
    else if (!pending.empty() && !line.empty()) ADD_FAILURE() << "marker " << pending << " not followed by a block";
  }
  return out;
}

const std::string& block(const std::map<std::string, std::string>& b, const std::string& name) {
  static const std::string none;
  auto it = b.find(name);
  EXPECT_NE(it, b.end()) << "docs/interop.md has no block <!-- interop-check: " << name << " -->";
  return it == b.end() ? none : it->second;
}

// Shell words of each command: continuations joined, '#' lines and trailing
// comments dropped, single quotes removed.
std::vector<std::vector<std::string>> commands(const std::string& text) {
  std::vector<std::vector<std::string>> out;
  std::istringstream in(text);
  std::string line, joined;
  while (std::getline(in, line)) {
    const bool more = !line.empty() && line.back() == '\\';
    if (more) line.pop_back();
    joined += line + " ";
    if (more) continue;
    std::vector<std::string> words;
    std::string w;
    bool quoted = false, have = false;
    for (char c : joined) {
      if (c == '\'') {
        quoted = !quoted;
        have = true;
      } else if (!quoted && c == '#' && !have) {
        break;
      } else if (!quoted && (c == ' ' || c == '\t')) {
        if (have) words.push_back(w);
        w.clear();
        have = false;
      } else {
        w += c;
        have = true;
      }
    }
    if (have) words.push_back(w);
    if (!words.empty()) out.push_back(std::move(words));
    joined.clear();
  }
  return out;
}

uint32_t number(const std::string& s) {
  auto v = parse_unsigned(s, UINT32_MAX);
  EXPECT_TRUE(v) << "not a number: " << s;
  return v ? static_cast<uint32_t>(*v) : 0;
}

IpAddr addr(const std::string& s) {
  auto a = IpAddr::parse(s);
  EXPECT_TRUE(a) << "not an address: " << s;
  return a ? *a : IpAddr{};
}

IpPrefix prefix(const std::string& s) {
  auto p = IpPrefix::parse(s);
  EXPECT_TRUE(p) << "not a prefix: " << s;
  return p ? *p : IpPrefix{};
}

std::vector<uint8_t> bytes_of_hex(std::string s) {
  if (s.starts_with("0x")) s.erase(0, 2);
  std::vector<uint8_t> out;
  EXPECT_EQ(s.size() % 2, 0u) << s;
  for (size_t i = 0; i + 1 < s.size(); i += 2) out.push_back(static_cast<uint8_t>(number("0x" + s.substr(i, 2))));
  return out;
}

// ---- iproute2's words, read into the project's types.

// `ip xfrm state add ...` as far as the page uses it.
struct DocState {
  xfrm::SaId id;
  IpAddr saddr;
  uint32_t reqid = 0;
  std::string mode;
  bool esn = false;
  uint32_t replay_window = 0;
  std::optional<xfrm::Mark> mark, set_mark;
  std::string aead;
  std::vector<uint8_t> key;
  uint32_t icv_bits = 0;
};

// Reads "<value> [mask <mask>]" at w[i]; a mark without a mask is 0xffffffff (iproute2).
xfrm::Mark read_mark(const std::vector<std::string>& w, size_t& i) {
  xfrm::Mark m{number(w.at(i)), 0xffffffff};
  if (i + 2 < w.size() && w[i + 1] == "mask") {
    m.mask = number(w[i + 2]);
    i += 2;
  }
  return m;
}

DocState parse_state(const std::vector<std::string>& w) {
  DocState s;
  std::string src, dst;
  for (size_t i = 4; i < w.size(); ++i) {
    const std::string& k = w[i];
    auto next = [&]() -> const std::string& { return w.at(++i); };
    if (k == "src") src = next();
    else if (k == "dst") dst = next();
    else if (k == "proto") EXPECT_EQ(next(), "esp");
    else if (k == "spi") s.id.spi = number(next());
    else if (k == "reqid") s.reqid = number(next());
    else if (k == "mode") s.mode = next();
    else if (k == "flag") s.esn = next() == "esn";
    else if (k == "replay-window") s.replay_window = number(next());
    else if (k == "mark") s.mark = read_mark(w, ++i);
    else if (k == "output-mark") s.set_mark = read_mark(w, ++i);
    else if (k == "aead") {
      s.aead = next();
      s.key = bytes_of_hex(next());
      s.icv_bits = number(next());
    } else ADD_FAILURE() << "ip xfrm state: word the test does not know: " << k;
  }
  s.id.daddr = addr(dst);
  s.id.proto = IPPROTO_ESP;
  s.saddr = addr(src);
  return s;
}

xfrm::PolicySpec parse_policy(const std::vector<std::string>& w) {
  xfrm::PolicySpec p;
  size_t i = 4;
  for (; i < w.size() && w[i] != "tmpl"; ++i) {
    const std::string& k = w[i];
    auto next = [&]() -> const std::string& { return w.at(++i); };
    if (k == "src") p.selector.src = prefix(next());
    else if (k == "dst") p.selector.dst = prefix(next());
    else if (k == "dir") {
      const std::string d = next();
      p.dir = d == "out" ? xfrm::PolicyDir::out : d == "in" ? xfrm::PolicyDir::in : xfrm::PolicyDir::fwd;
      EXPECT_TRUE(d == "out" || d == "in" || d == "fwd") << d;
    } else if (k == "priority") p.priority = number(next());
    else if (k == "mark") p.mark = read_mark(w, ++i);
    else ADD_FAILURE() << "ip xfrm policy: word the test does not know: " << k;
  }
  while (i < w.size() && w[i] == "tmpl") {
    xfrm::Template t;
    t.id.proto = 0;
    for (++i; i < w.size() && w[i] != "tmpl"; ++i) {
      const std::string& k = w[i];
      auto next = [&]() -> const std::string& { return w.at(++i); };
      if (k == "src") t.saddr = addr(next());
      else if (k == "dst") t.id.daddr = addr(next());
      else if (k == "proto") t.id.proto = next() == "esp" ? IPPROTO_ESP : 0;
      else if (k == "reqid") t.reqid = number(next());
      else if (k == "mode") t.mode = next() == "tunnel" ? xfrm::SaMode::tunnel : xfrm::SaMode::transport;
      else if (k == "level") t.optional = next() == "use";
      else ADD_FAILURE() << "tmpl: word the test does not know: " << k;
    }
    p.templates.push_back(t);
  }
  return p;
}

route::Rule parse_rule(const std::vector<std::string>& w) {
  route::Rule r;
  r.family = AF_INET;
  for (size_t i = 3; i < w.size(); ++i) {
    const std::string& k = w[i];
    auto next = [&]() -> const std::string& { return w.at(++i); };
    if (k == "priority") r.priority = number(next());
    else if (k == "lookup") r.table = number(next());
    else if (k == "fwmark") {
      const std::string v = next();
      const auto slash = v.find('/');
      r.fwmark = number(v.substr(0, slash));
      r.fwmask = slash == std::string::npos ? 0xffffffff : number(v.substr(slash + 1));
    } else ADD_FAILURE() << "ip rule: word the test does not know: " << k;
  }
  return r;
}

// The devices of the example: A's and B's uplink is eth0, ifindex 2 in the test.
constexpr int kEth0 = 2;

route::Route parse_route(const std::vector<std::string>& w) {
  route::Route r;
  r.table = agent::kMainTable;
  r.dst = prefix(w.at(3));
  for (size_t i = 4; i < w.size(); ++i) {
    const std::string& k = w[i];
    auto next = [&]() -> const std::string& { return w.at(++i); };
    if (k == "via") r.gateway = addr(next());
    else if (k == "dev") r.oif = next() == "eth0" ? kEth0 : -1;
    else if (k == "table") r.table = number(next());
    else if (k == "proto") r.protocol = static_cast<uint8_t>(number(next()));
    else ADD_FAILURE() << "ip route: word the test does not know: " << k;
  }
  return r;
}

struct DocObjects {
  std::vector<DocState> states;
  std::vector<xfrm::PolicySpec> policies;
  std::vector<route::Rule> rules;
  std::vector<route::Route> routes;
};

bool is(const std::vector<std::string>& w, std::initializer_list<const char*> head) {
  size_t i = 0;
  for (const char* h : head)
    if (i >= w.size() || w[i++] != h) return false;
  return true;
}

DocObjects parse_commands(const std::string& text) {
  DocObjects o;
  for (const auto& w : commands(text)) {
    if (is(w, {"ip", "xfrm", "state", "add"})) o.states.push_back(parse_state(w));
    else if (is(w, {"ip", "xfrm", "policy", "add"})) o.policies.push_back(parse_policy(w));
    else if (is(w, {"ip", "rule", "add"})) o.rules.push_back(parse_rule(w));
    else if (is(w, {"ip", "route", "add"})) o.routes.push_back(parse_route(w));
    else if (w[0] == "ip") ADD_FAILURE() << "an ip command the test does not check: " << w[1] << " " << w[2];
    else EXPECT_EQ(w[0], "sysctl") << "a command the test does not know";
  }
  return o;
}

// ---- printing, for failure messages (the example's key is a published test key).

std::string hexs(std::span<const uint8_t> b) { return hex(b); }
std::string hexn(uint32_t v) {
  char s[16];
  std::snprintf(s, sizeof s, "0x%x", v);
  return s;
}

std::string spi_hex(uint32_t v) {
  char s[16];
  std::snprintf(s, sizeof s, "0x%08x", v);
  return s;
}

std::string str(const xfrm::Mark& m) { return hexn(m.value) + " mask " + hexn(m.mask); }

std::string str(const DocState& s) {
  std::string o = "ip xfrm state add src " + s.saddr.str() + " dst " + s.id.daddr.str() + " proto esp spi " +
                  spi_hex(s.id.spi) + " reqid " + hexn(s.reqid) + " mode " + s.mode;
  if (s.esn) o += " flag esn";
  o += " replay-window " + std::to_string(s.replay_window);
  if (s.mark) o += " mark " + str(*s.mark);
  if (s.set_mark) o += " output-mark " + str(*s.set_mark);
  return o + " aead '" + s.aead + "' 0x" + hexs(s.key) + " " + std::to_string(s.icv_bits);
}

std::string str(const xfrm::PolicySpec& p) {
  const char* dir = p.dir == xfrm::PolicyDir::out ? "out" : p.dir == xfrm::PolicyDir::in ? "in" : "fwd";
  std::string o = "ip xfrm policy add src " + p.selector.src.str() + " dst " + p.selector.dst.str() + " dir " +
                  dir + " priority " + std::to_string(p.priority);
  if (p.mark) o += " mark " + str(*p.mark);
  for (const auto& t : p.templates)
    o += " tmpl src " + t.saddr.str() + " dst " + t.id.daddr.str() + " proto esp reqid " + hexn(t.reqid) +
         " mode tunnel" + (t.optional ? " level use" : "");
  return o;
}

// ---- sealnet's own view of node A.

keys::KeySet doc_keys(const std::map<std::string, std::string>& b) {
  auto ks = keys::parse_key_file(block(b, "keys"), "docs/interop.md keys");
  EXPECT_TRUE(ks) << ks.error().message();
  return ks ? std::move(*ks) : keys::KeySet{};
}

config::AgentConfig doc_config(const std::map<std::string, std::string>& b) {
  auto cfg = config::parse_agent_config(block(b, "agent-a"), "docs/interop.md agent-a");
  EXPECT_TRUE(cfg) << cfg.error().message();
  return cfg ? std::move(*cfg) : config::AgentConfig{};
}

probe::LinkInfo up_link(int ifx, const char* name) {
  probe::LinkInfo l;
  l.ifindex = ifx;
  l.name = name;
  l.flags = IFF_UP;
  return l;
}

route::Route main_route(const char* dst, int oif, const char* via = nullptr) {
  route::Route r;
  r.table = agent::kMainTable;
  r.dst = *IpPrefix::parse(dst);
  r.oif = oif;
  if (via) r.gateway = *IpAddr::parse(via);
  return r;
}

// What A's agent plans on its first start: eth0 in software mode (the probe
// found no ESP offload), no state file, no XFRM state in the kernel. The main
// table is the page's: the node network on eth0, B's pods via B, A's pods on
// a pod device.
struct NodeA {
  keys::KeySet keys;
  config::AgentConfig cfg;
  fallback::DecisionLog log;
  fallback::ModeBook modes{log};
  std::map<int, uint8_t> slot_of;
  std::map<int, probe::LinkInfo> links;
  std::vector<route::Route> main;
  agent::DesiredState desired;
  offload::DesiredSet xfrm;
  offload::SlotRoutePlan routing;

  explicit NodeA(const std::map<std::string, std::string>& b) : keys(doc_keys(b)), cfg(doc_config(b)) {
    links[1] = up_link(1, "lo");
    links[kEth0] = up_link(kEth0, "eth0");
    links[5] = up_link(5, "pod0");
    main.push_back(main_route("192.168.50.0/24", kEth0));
    main.push_back(main_route("10.2.0.0/24", kEth0, "192.168.50.2"));
    main.push_back(main_route("10.1.0.0/24", 5));
    auto problems = agent::join_uplinks(
        cfg, cfg.peers, links, main, slot_of, modes, [](int) { return std::nullopt; },
        [&](int ifx, uint8_t slot) { modes.set_device({slot, ifx, links.at(ifx).name, xfrm::OffloadMode::none}, 0); });
    EXPECT_TRUE(problems.empty()) << problems.front();
    agent::observe_links(modes, slot_of, links, 0);
    agent::DesiredInput in;
    in.cfg = &cfg;
    in.peers = &cfg.peers;
    in.keys = &keys;
    in.modes = &modes;
    in.slot_of = &slot_of;
    in.links = &links;
    in.main = &main;
    for (const auto& p : cfg.peers) in.peer_keys[p.id] = agent::peer_key_ids(p, keys, {}, 0);
    desired = agent::compute(in);
    EXPECT_TRUE(desired.problems.empty()) << desired.problems.front();
    auto set = agent::xfrm_plan(desired, modes);
    EXPECT_TRUE(set) << set.error().message();
    if (set) xfrm = std::move(*set);
    // The plan is identities; the states as the reconciler sends them carry
    // their key (offload::key_state).
    auto keyed = offload::key_all(xfrm, keys);
    EXPECT_TRUE(keyed) << keyed.error().message();
    routing = offload::plan_slot_routes(desired.routes);
  }
};

DocState doc_view(const xfrm::SaSpec& sa) {
  DocState s;
  s.id = sa.id;
  s.saddr = sa.saddr;
  s.reqid = sa.reqid;
  s.mode = sa.mode == xfrm::SaMode::tunnel ? "tunnel" : "transport";
  s.esn = sa.esn;
  s.replay_window = sa.replay_window;
  s.mark = sa.mark;
  s.set_mark = sa.set_mark;
  EXPECT_TRUE(sa.aead) << "the example has AEAD keys only";
  if (sa.aead) {
    s.aead = sa.aead->name;
    s.key.assign(sa.aead->key.begin(), sa.aead->key.end());
    s.icv_bits = sa.aead->icv_bits;
  }
  EXPECT_FALSE(sa.offload) << "the example's eth0 is a software device";
  EXPECT_EQ(sa.selector, xfrm::Selector{}) << "states carry no selector";
  return s;
}

bool same(const DocState& a, const DocState& b) { return str(a) == str(b); }

template <typename T>
std::string list(const std::vector<T>& v) {
  std::string o;
  for (const auto& x : v) o += "  " + str(x) + "\n";
  return o;
}

// ---- the tests.

TEST(InteropDoc, EveryCheckedBlockIsThere) {
  const auto b = checked_blocks();
  for (const char* name : {"keys", "agent-a", "values", "openssl", "node-b", "node-a"})
    EXPECT_TRUE(b.contains(name)) << name;
  EXPECT_EQ(b.size(), 6u) << "a checked block this test does not check";
}

TEST(InteropDoc, NodeACommandsAreWhatSealnetPlans) {
  const auto b = checked_blocks();
  NodeA a(b);
  const DocObjects doc = parse_commands(block(b, "node-a"));

  std::vector<DocState> planned;
  for (const auto& st : a.xfrm.states) planned.push_back(doc_view(st.spec));
  for (const auto& p : planned)
    EXPECT_TRUE(std::ranges::any_of(doc.states, [&](const DocState& d) { return same(d, p); }))
        << "sealnet plans a state the page does not show:\n  " << str(p) << "\nthe page:\n" << list(doc.states);
  for (const auto& d : doc.states)
    EXPECT_TRUE(std::ranges::any_of(planned, [&](const DocState& p) { return same(d, p); }))
        << "the page shows a state sealnet does not plan:\n  " << str(d) << "\nsealnet plans:\n" << list(planned);
  EXPECT_EQ(doc.states.size(), planned.size());

  for (const auto& p : a.xfrm.policies) {
    EXPECT_FALSE(p.offload);
    EXPECT_TRUE(std::ranges::find(doc.policies, p) != doc.policies.end())
        << "sealnet plans a policy the page does not show:\n  " << str(p) << "\nthe page:\n" << list(doc.policies);
  }
  for (const auto& d : doc.policies)
    EXPECT_TRUE(std::ranges::find(a.xfrm.policies, d) != a.xfrm.policies.end())
        << "the page shows a policy sealnet does not plan:\n  " << str(d) << "\nsealnet plans:\n"
        << list(a.xfrm.policies);
  EXPECT_EQ(doc.policies.size(), a.xfrm.policies.size());

  EXPECT_EQ(doc.rules, a.routing.rules);
  ASSERT_EQ(doc.routes.size(), a.routing.routes.size());
  for (const auto& r : a.routing.routes)
    EXPECT_TRUE(std::ranges::find(doc.routes, r) != doc.routes.end()) << "missing on the page: " << r.str();
}

TEST(InteropDoc, NodeBIsTheMirrorImageOfNodeA) {
  const auto b = checked_blocks();
  NodeA a(b);
  const DocObjects doc = parse_commands(block(b, "node-b"));
  ASSERT_EQ(a.cfg.peers.size(), 1u);
  const config::Peer& peer_b = a.cfg.peers[0];
  const IpAddr A = *a.cfg.node.ipv4, B = *peer_b.ipv4;

  // What B sends, A has an inbound state for (same SPI, addresses, key, ESN and
  // window); what A sends (its out state), B has an inbound state for.
  std::vector<DocState> a_in, a_out;
  for (const auto& st : a.xfrm.states) (st.dir == xfrm::Direction::in ? a_in : a_out).push_back(doc_view(st.spec));
  auto crypto_equal = [](const DocState& x, const DocState& y) {
    return x.id == y.id && x.saddr == y.saddr && x.esn == y.esn && x.replay_window == y.replay_window &&
           x.aead == y.aead && x.key == y.key && x.icv_bits == y.icv_bits && x.mode == y.mode;
  };
  size_t b_out = 0, b_in = 0;
  for (const auto& d : doc.states) {
    EXPECT_FALSE(d.mark) << "B has no BPF program: no marks";
    EXPECT_FALSE(d.set_mark);
    if (d.saddr == B) {
      ++b_out;
      EXPECT_EQ(d.reqid, offload::kReqidOut);
      EXPECT_TRUE(std::ranges::any_of(a_in, [&](const DocState& x) { return crypto_equal(d, x); }))
          << "A has no inbound state for what B sends:\n  " << str(d) << "\nA's inbound states:\n" << list(a_in);
    } else {
      ++b_in;
      EXPECT_EQ(d.reqid, offload::kReqidIn);
      EXPECT_TRUE(std::ranges::any_of(a_out, [&](const DocState& x) { return crypto_equal(d, x); }))
          << "B's inbound state is not A's outbound one:\n  " << str(d) << "\nA's outbound states:\n" << list(a_out);
    }
  }
  EXPECT_EQ(b_out, 1u);
  EXPECT_GE(b_in, 1u);
  for (const auto& x : a_out)
    EXPECT_TRUE(std::ranges::any_of(doc.states, [&](const DocState& d) { return crypto_equal(d, x); }))
        << "B cannot decrypt what A sends:\n  " << str(x);

  // Policies: out to A's pods through A; in and fwd from A's pods, ESP from A required.
  std::set<std::string> dirs;
  for (const auto& p : doc.policies) {
    EXPECT_FALSE(p.mark);
    // As sealnet orders its own: the out policy at kPolicyPriority, in and fwd
    // at the strict policies' priority for the prefix.
    EXPECT_EQ(p.priority, p.dir == xfrm::PolicyDir::out ? offload::kPolicyPriority
                                                        : offload::rx_policy_priority(p.selector.src.len))
        << str(p);
    ASSERT_EQ(p.templates.size(), 1u);
    const xfrm::Template& t = p.templates[0];
    EXPECT_EQ(t.id.proto, IPPROTO_ESP);
    EXPECT_EQ(t.id.spi, 0u);
    EXPECT_EQ(t.mode, xfrm::SaMode::tunnel);
    EXPECT_FALSE(t.optional) << "B's templates are required: " << str(p);
    ASSERT_EQ(a.cfg.node.pod_cidrs.size(), 1u);
    if (p.dir == xfrm::PolicyDir::out) {
      dirs.insert("out");
      EXPECT_EQ(p.selector.dst, a.cfg.node.pod_cidrs[0]);
      EXPECT_EQ(p.selector.src.len, 0);
      EXPECT_EQ(t.saddr, B);
      EXPECT_EQ(t.id.daddr, A);
      EXPECT_EQ(t.reqid, offload::kReqidOut);
    } else {
      dirs.insert(p.dir == xfrm::PolicyDir::in ? "in" : "fwd");
      EXPECT_EQ(p.selector.src, a.cfg.node.pod_cidrs[0]);
      EXPECT_EQ(p.selector.dst.len, 0);
      EXPECT_EQ(t.saddr, A);
      EXPECT_EQ(t.id.daddr, B);
      EXPECT_EQ(t.reqid, offload::kReqidIn);
    }
  }
  EXPECT_EQ(dirs, (std::set<std::string>{"in", "fwd", "out"}));
  EXPECT_EQ(doc.policies.size(), 3u);

  ASSERT_EQ(doc.routes.size(), 1u);
  EXPECT_EQ(doc.routes[0].dst, a.cfg.node.pod_cidrs[0]);
  EXPECT_EQ(doc.routes[0].gateway, A);
  EXPECT_TRUE(doc.rules.empty());
}

// One line of the "values" block: "<name>[(<k>=<v>, ...)] = <value>  [# comment]".
struct ValueLine {
  std::string name;
  std::map<std::string, std::string> args;
  std::string value;
};

std::vector<ValueLine> value_lines(const std::string& text) {
  static const std::regex line_re(R"(^([A-Za-z_.]+)(?:\(([^)]*)\))?\s*=\s*(\S+)\s*(?:#.*)?$)");
  static const std::regex arg_re(R"(\s*([a-z]+)=([^,\s]+)\s*,?)");
  std::vector<ValueLine> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::smatch m;
    if (!std::regex_match(line, m, line_re)) {
      ADD_FAILURE() << "values: cannot read " << line;
      continue;
    }
    ValueLine v{m[1], {}, m[3]};
    const std::string args = m[2];
    for (std::sregex_iterator it(args.begin(), args.end(), arg_re), end; it != end; ++it)
      v.args[(*it)[1]] = (*it)[2];
    out.push_back(std::move(v));
  }
  return out;
}

TEST(InteropDoc, ValuesAreTheCodes) {
  const auto b = checked_blocks();
  const keys::KeySet ks = doc_keys(b);
  const offload::PlanOptions defaults;
  const auto lines = value_lines(block(b, "values"));
  EXPECT_GE(lines.size(), 15u);
  for (const ValueLine& v : lines) {
    auto arg = [&](const char* k) {
      EXPECT_TRUE(v.args.contains(k)) << v.name << " needs " << k;
      return v.args.contains(k) ? v.args.at(k) : std::string("0");
    };
    auto num = [&](const char* k) { return number(arg(k)); };
    std::optional<uint32_t> code;
    if (v.name == "make_spi")
      code = offload::make_spi(static_cast<uint16_t>(num("node")), static_cast<uint8_t>(num("key")),
                               static_cast<uint8_t>(num("slot")), static_cast<uint8_t>(num("generation")));
    else if (v.name == "sealnet_mark_encrypt")
      code = sealnet_mark_encrypt(num("node"), num("key"), num("slot"));
    else if (v.name == "sealnet_mark_encrypted")
      code = sealnet_mark_encrypted(num("slot"));
    else if (v.name == "SEALNET_MARK_POLICY_MASK")
      code = SEALNET_MARK_POLICY_MASK;
    else if (v.name == "kSetMarkMask")
      code = offload::kSetMarkMask;
    else if (v.name == "kReqidOut")
      code = offload::kReqidOut;
    else if (v.name == "kReqidIn")
      code = offload::kReqidIn;
    else if (v.name == "kPolicyPriority")
      code = offload::kPolicyPriority;
    else if (v.name == "rx_policy_priority")
      code = offload::rx_policy_priority(static_cast<uint8_t>(num("len")));
    else if (v.name == "kSlotRulePriority")
      code = offload::kSlotRulePriority;
    else if (v.name == "slot_table")
      code = offload::slot_table(static_cast<uint8_t>(num("slot")));
    else if (v.name == "kRouteProtocol")
      code = offload::kRouteProtocol;
    else if (v.name == "PlanOptions.replay_window")
      code = defaults.replay_window;
    else if (v.name == "PlanOptions.offload_replay_window")
      code = defaults.offload_replay_window;
    else if (v.name == "kRxWindow")
      code = static_cast<uint32_t>(agent::kRxWindow);
    else if (v.name == "derive_pair_key") {
      const keys::Key* k = ks.find(static_cast<uint8_t>(num("key")));
      ASSERT_NE(k, nullptr) << "no key " << arg("key") << " in the keys block";
      EXPECT_TRUE(k->per_pair);
      auto d = keys::derive_pair_key(k->aead_key, addr(arg("src")), addr(arg("dst")));
      ASSERT_TRUE(d) << d.error().message();
      const std::vector<uint8_t> got(d->begin(), d->end());
      EXPECT_EQ(hexs(got), v.value) << "derive_pair_key(key " << arg("key") << ", " << arg("src") << " -> "
                                    << arg("dst") << ")";
      continue;
    } else {
      ADD_FAILURE() << "values: a name the test does not know: " << v.name;
      continue;
    }
    EXPECT_EQ(hexn(*code), hexn(number(v.value))) << v.name;
  }
}

// The page's `openssl kdf` commands print the derive_pair_key values above: the
// KDF, salt and info are what the page says (run when openssl is installed).
TEST(InteropDoc, OpensslComputesTheSamePairKeys) {
  const auto b = checked_blocks();
  std::set<std::string> derived;
  for (const ValueLine& v : value_lines(block(b, "values")))
    if (v.name == "derive_pair_key") derived.insert(v.value);
  ASSERT_EQ(derived.size(), 2u);
  std::istringstream in(block(b, "openssl"));
  std::vector<std::pair<std::string, std::string>> runs;
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("$ ")) runs.emplace_back(line.substr(2), "");
    else if (!line.empty() && !runs.empty()) runs.back().second += line;
  }
  ASSERT_EQ(runs.size(), 2u);
  std::set<std::string> printed;
  for (const auto& [cmd, shown] : runs) {
    // Only an openssl kdf command line is run: no other program, no shell syntax.
    ASSERT_TRUE(cmd.starts_with("openssl kdf ") && cmd.find_first_of(";|&$`<>\\") == std::string::npos) << cmd;
    std::string norm;
    for (char c : shown)
      if (c != ':') norm += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    printed.insert(norm);
  }
  EXPECT_EQ(printed, derived) << "the openssl outputs on the page are not the derived keys";

  if (std::system("openssl version >/dev/null 2>&1") != 0) GTEST_SKIP() << "no openssl command here";
  for (const auto& [cmd, shown] : runs) {
    FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
    ASSERT_NE(p, nullptr);
    std::string out;
    char buf[256];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    const int rc = ::pclose(p);
    while (!out.empty() && std::isspace(static_cast<unsigned char>(out.back()))) out.pop_back();
    if (rc != 0 && out.find("kdf") != std::string::npos && out.find("nvalid command") != std::string::npos)
      GTEST_SKIP() << "openssl without the kdf command (before 3.0)";
    EXPECT_EQ(rc, 0) << cmd << ": " << out;
    EXPECT_EQ(out, shown) << cmd;
  }
}

// ---- docs/security.md and this page name tests: each must exist.

std::string read_all(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Every `unit.Suite.Case` / `host.Suite.Case` (or `.Suite.*`) a page names is a
// gtest case in tests/unit or tests/host, under the prefix its CMake gives it.
TEST(SecurityDoc, EveryNamedUnitAndHostTestExists) {
  std::map<std::string, std::string> sources;  // tier -> the text of its test sources
  for (const char* tier : {"unit", "host"})
    for (const auto& e : std::filesystem::directory_iterator(std::string(SEALNET_SOURCE_DIR) + "/tests/" + tier))
      if (e.path().extension() == ".cpp") sources[tier] += read_all(e.path().string());
  static const std::regex name_re(R"(\b(unit|host)\.(?:[A-Za-z0-9]+/)?([A-Z][A-Za-z0-9]*)\.([A-Za-z0-9_]+|\*))");
  size_t named = 0;
  for (const char* doc : {"/docs/security.md", "/docs/interop.md"}) {
    const std::string text = read_all(std::string(SEALNET_SOURCE_DIR) + doc);
    ASSERT_FALSE(text.empty()) << doc;
    for (std::sregex_iterator it(text.begin(), text.end(), name_re), end; it != end; ++it) {
      ++named;
      const std::string tier = (*it)[1], suite = (*it)[2], name = (*it)[3];
      const std::regex def(name == "*" ? "TEST(_F|_P)?\\(" + suite + ", "
                                       : "TEST(_F|_P)?\\(" + suite + ", " + name + "\\)");
      EXPECT_TRUE(std::regex_search(sources[tier], def))
          << doc << " names " << (*it)[0] << ": no such test in tests/" << tier;
    }
  }
  EXPECT_GE(named, 20u);

  // A plain ctest name (`unit.Hygiene`: a script, not a gtest case) is an add_test.
  const std::string cmake = read_all(std::string(SEALNET_SOURCE_DIR) + "/tests/unit/CMakeLists.txt") +
                            read_all(std::string(SEALNET_SOURCE_DIR) + "/tests/host/CMakeLists.txt");
  static const std::regex plain_re(R"(`((unit|host)\.[A-Z][A-Za-z0-9]*)`)");
  for (const char* doc : {"/docs/security.md", "/docs/interop.md"}) {
    const std::string text = read_all(std::string(SEALNET_SOURCE_DIR) + doc);
    for (std::sregex_iterator it(text.begin(), text.end(), plain_re), end; it != end; ++it)
      EXPECT_NE(cmake.find("add_test(NAME " + std::string((*it)[1]) + " "), std::string::npos)
          << doc << " names " << (*it)[1] << ": no such add_test";
  }
}

// Every `path:lines` of this repository a page cites is a file that has those
// lines (a renamed or shortened file shows here, not in a reader's editor).
TEST(SecurityDoc, EveryCitedFileHasTheLines) {
  static const std::regex cite_re(R"(`((?:[a-z0-9_.-]+/)+[A-Za-z0-9_.-]+\.[a-z0-9]+):([0-9][0-9, -]*)`)");
  static const std::regex num_re(R"([0-9]+)");
  size_t cited = 0;
  for (const char* doc : {"/docs/security.md", "/docs/interop.md"}) {
    const std::string text = read_all(std::string(SEALNET_SOURCE_DIR) + doc);
    for (std::sregex_iterator it(text.begin(), text.end(), cite_re), end; it != end; ++it) {
      const std::string path = (*it)[1], lines = (*it)[2];
      ++cited;
      std::ifstream f(std::string(SEALNET_SOURCE_DIR) + "/" + path);
      if (!f) {
        ADD_FAILURE() << doc << " cites " << path << ": no such file";
        continue;
      }
      size_t n = 0;
      for (std::string l; std::getline(f, l);) ++n;
      for (std::sregex_iterator m(lines.begin(), lines.end(), num_re), e; m != e; ++m)
        EXPECT_LE(std::stoul((*m)[0]), n) << doc << " cites " << path << ":" << lines << ", which has " << n
                                          << " lines";
    }
  }
  EXPECT_GE(cited, 50u);
}

// Every `vm.SUITE (SECTION)` a page names is a registered VM suite whose script
// has that section; a quoted check (`vm.offload "..."`) is a section or check
// title of the suite.
TEST(SecurityDoc, EveryNamedVmSectionExists) {
  std::map<std::string, std::string> scripts;  // suite -> its script's text
  static const std::regex suite_re(R"(sealnet_vm_suite\((\w+) SCRIPT (\S+))");
  for (const char* dir : {"/tests", "/tests/vm"}) {
    const std::string base = std::string(SEALNET_SOURCE_DIR) + dir;
    const std::string cm = read_all(base + "/CMakeLists.txt");
    for (std::sregex_iterator it(cm.begin(), cm.end(), suite_re), end; it != end; ++it)
      scripts[(*it)[1]] = read_all(base + "/" + std::string((*it)[2]));
  }
  ASSERT_TRUE(scripts.contains("agent")) << "no vm suites found";
  static const std::regex cite_re(R"(`vm\.([a-z0-9_-]+)(?: \(([ivx]+(?:-[a-z])?)\))?`(?: \"([^\"]+)\")?)");
  size_t named = 0;
  for (const char* doc : {"/docs/security.md", "/docs/interop.md"}) {
    const std::string text = read_all(std::string(SEALNET_SOURCE_DIR) + doc);
    for (std::sregex_iterator it(text.begin(), text.end(), cite_re), end; it != end; ++it) {
      const std::string suite = (*it)[1], section = (*it)[2];
      const std::string quoted = std::regex_replace(std::string((*it)[3]), std::regex(R"(\s+)"), " ");
      ++named;
      ASSERT_TRUE(scripts.contains(suite)) << doc << " names vm." << suite << ": no such suite";
      if (!section.empty()) {
        EXPECT_NE(scripts[suite].find("section \"(" + section + ")"), std::string::npos)
            << doc << " names vm." << suite << " (" << section << "): no such section";
      }
      if (!quoted.empty()) {
        EXPECT_NE(scripts[suite].find(quoted), std::string::npos)
            << doc << " quotes vm." << suite << " \"" << quoted << "\": not in its script";
      }
    }
  }
  EXPECT_GE(named, 10u);
}

}  // namespace
}  // namespace sealnet
