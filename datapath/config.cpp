#include "datapath/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <map>
#include <sstream>

#include "bpf/shared.h"
#include "core/text.h"
#include "datapath/host_port.h"

namespace sealnet::config {

namespace {

constexpr const char* kOp = "parse agent config";
constexpr size_t kIfNameMax = 15;  // IFNAMSIZ - 1

// A value in the document: the node, the line it is on and its field path.
struct At {
  YAML::Node node;
  int line = 1;
  std::string path;
};

int line_of(const YAML::Node& n, int fallback) {
  const YAML::Mark m = n.Mark();
  return m.line < 0 ? fallback : m.line + 1;
}

struct Ctx {
  const std::string& source;

  std::unexpected<Error> fail_at(int line, const std::string& path, const std::string& what) const {
    return fail(0, kOp, source + ":" + std::to_string(line), path.empty() ? what : path + ": " + what);
  }
  std::unexpected<Error> fail_at(const At& at, const std::string& what) const {
    return fail_at(at.line, at.path, what);
  }
};

std::string join_path(const std::string& parent, std::string_view field) {
  return parent.empty() ? std::string(field) : parent + "." + std::string(field);
}

std::string kind_of(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Null:
      return "nothing";
    default:
      return n.Tag() == "!" ? "the quoted string \"" + n.Scalar() + "\"" : "\"" + n.Scalar() + "\"";
  }
}

// The fields of a mapping, by name. Unknown and repeated fields are errors: a
// typo must not silently leave a default in force.
class Fields {
 public:
  static Result<Fields> read(const Ctx& ctx, const At& at, std::initializer_list<std::string_view> known) {
    if (!at.node.IsMap()) return ctx.fail_at(at, "expected a mapping, got " + kind_of(at.node));
    Fields f;
    f.at_ = at;
    for (auto it = at.node.begin(); it != at.node.end(); ++it) {
      // Copies: yaml-cpp's iterator hands out a temporary pair.
      const YAML::Node key = it->first;
      const YAML::Node value = it->second;
      const int key_line = line_of(key, at.line);
      if (!key.IsScalar()) return ctx.fail_at(key_line, at.path, "field names must be plain words");
      const std::string name = key.Scalar();
      const std::string path = join_path(at.path, name);
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        std::string list;
        for (auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
        return ctx.fail_at(key_line, path, "unknown field (known here: " + list + ")");
      }
      if (f.fields_.contains(name)) return ctx.fail_at(key_line, path, "given twice");
      // A null value has the mark of whatever follows it: cite the key's line.
      const int line = value.IsNull() ? key_line : line_of(value, key_line);
      f.fields_.emplace(name, At{value, line, path});
    }
    return f;
  }

  const At* get(std::string_view name) const {
    auto it = fields_.find(std::string(name));
    return it == fields_.end() ? nullptr : &it->second;
  }
  Result<const At*> require(const Ctx& ctx, std::string_view name) const {
    const At* at = get(name);
    if (!at || at->node.IsNull())
      return ctx.fail_at(at ? at->line : at_.line, join_path(at_.path, name), "missing");
    return at;
  }
  const At& self() const { return at_; }

 private:
  At at_;
  std::map<std::string, At> fields_;
};

Result<std::string> as_string(const Ctx& ctx, const At& at) {
  if (!at.node.IsScalar()) return ctx.fail_at(at, "expected a string, got " + kind_of(at.node));
  if (at.node.Scalar().empty()) return ctx.fail_at(at, "empty");
  return at.node.Scalar();
}

// `why` explains the range in the error.
Result<uint64_t> as_uint(const Ctx& ctx, const At& at, uint64_t min, uint64_t max,
                         std::string_view why = {}) {
  // A quoted "5" is a string in YAML and in JSON: refuse it rather than guess.
  if (!at.node.IsScalar() || at.node.Tag() == "!")
    return ctx.fail_at(at, "expected an integer, got " + kind_of(at.node));
  const std::string& s = at.node.Scalar();
  const auto parsed = parse_unsigned(s);
  if (!parsed) return ctx.fail_at(at, "expected an integer, got " + kind_of(at.node));
  const uint64_t v = *parsed;
  if (v < min || v > max)
    return ctx.fail_at(at, s + " is out of range " + std::to_string(min) + ".." + std::to_string(max) +
                               (why.empty() ? "" : " (" + std::string(why) + ")"));
  return v;
}

Result<bool> as_bool(const Ctx& ctx, const At& at) {
  // YAML 1.2 booleans only: "yes", "on" or "1" are the 1.1 guesses this file avoids.
  if (at.node.IsScalar() && at.node.Tag() != "!") {
    const std::string& s = at.node.Scalar();
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
  }
  return ctx.fail_at(at, "expected true or false, got " + kind_of(at.node));
}

// A list; an empty value is an empty list.
Result<std::vector<At>> as_list(const Ctx& ctx, const At& at) {
  std::vector<At> out;
  if (at.node.IsNull()) return out;
  if (!at.node.IsSequence()) return ctx.fail_at(at, "expected a list, got " + kind_of(at.node));
  for (size_t i = 0; i < at.node.size(); ++i) {
    const YAML::Node item = at.node[i];
    out.push_back(At{item, line_of(item, at.line), at.path + "[" + std::to_string(i) + "]"});
  }
  return out;
}

Result<IpAddr> as_addr(const Ctx& ctx, const At& at) {
  auto s = as_string(ctx, at);
  if (!s) return std::unexpected(s.error());
  auto a = IpAddr::parse(*s);
  if (!a) return ctx.fail_at(at, *s + " is not an IPv4 or IPv6 address");
  return *a;
}

Result<IpPrefix> as_cidr(const Ctx& ctx, const At& at) {
  auto s = as_string(ctx, at);
  if (!s) return std::unexpected(s.error());
  const auto slash = s->find('/');
  if (slash == std::string::npos) return ctx.fail_at(at, *s + " is not a CIDR (address/length)");
  auto p = IpPrefix::parse(*s);
  if (!p) return ctx.fail_at(at, *s + " is not a CIDR (" + p.error().detail + ")");
  // IpPrefix::parse clears host bits; in a config they are a typo, not intent.
  auto a = IpAddr::parse(std::string_view(*s).substr(0, slash));
  if (a && *a != p->addr) return ctx.fail_at(at, *s + " has host bits set (the network is " + p->str() + ")");
  return *p;
}

Result<std::string> as_abs_path(const Ctx& ctx, const At& at) {
  auto s = as_string(ctx, at);
  if (!s) return s;
  if (!s->starts_with('/')) return ctx.fail_at(at, *s + " is not an absolute path");
  return s;
}

// "30" (seconds), "30s", "5m", "1h".
Result<std::chrono::seconds> as_duration(const Ctx& ctx, const At& at) {
  const auto bad = [&] {
    return ctx.fail_at(at,
                       "expected a duration (seconds, or a number with s, m or h), got " + kind_of(at.node));
  };
  if (!at.node.IsScalar()) return bad();
  std::string_view s = at.node.Scalar();
  uint64_t unit = 1;
  if (!s.empty() && (s.back() == 's' || s.back() == 'm' || s.back() == 'h')) {
    unit = s.back() == 's' ? 1 : s.back() == 'm' ? 60 : 3600;
    s.remove_suffix(1);
  } else if (at.node.Tag() == "!") {
    return bad();
  }
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size()) return bad();
  constexpr uint64_t kMaxSeconds = 7 * 24 * 3600;
  if (v > kMaxSeconds / unit) return ctx.fail_at(at, "longer than a week");
  return std::chrono::seconds(v * unit);
}

// "127.0.0.1:9962", "[::1]:9962": an address the agent binds, a port it names.
Result<std::string> as_listen(const Ctx& ctx, const At& at) {
  auto s = as_string(ctx, at);
  if (!s) return s;
  if (!parse_host_port(*s, {.names = false, .port_zero = false}))
    return ctx.fail_at(at, *s + " is not " + kHostPortForm);
  return s;
}

Result<std::string> as_ifname(const Ctx& ctx, const At& at) {
  auto s = as_string(ctx, at);
  if (!s) return s;
  const bool bad_char = std::any_of(s->begin(), s->end(), [](char c) {
    return c == '/' || c == ':' || c == ' ' || c == '\t' || static_cast<unsigned char>(c) < 0x20;
  });
  if (s->size() > kIfNameMax || bad_char || *s == "." || *s == "..")
    return ctx.fail_at(at, "\"" + *s + "\" is not a network device name");
  return s;
}

// One node as written (this node or a peer), with where each value stands so
// that cross-node checks can cite both sides.
struct NodeSrc {
  At at;
  std::string name;
  At name_at;
  uint16_t id = 0;
  At id_at;
  std::vector<std::pair<IpAddr, At>> addrs;
  std::vector<std::pair<IpPrefix, At>> cidrs;
  // Peer-only fields.
  uint8_t uplinks = 1;
  std::optional<std::vector<uint8_t>> keys;
};

Result<NodeSrc> read_node(const Ctx& ctx, const At& at, bool peer) {
  auto f = peer ? Fields::read(ctx, at, {"name", "id", "addresses", "pod_cidrs", "uplinks", "keys"})
                : Fields::read(ctx, at, {"name", "id", "addresses", "pod_cidrs"});
  if (!f) return std::unexpected(f.error());
  NodeSrc n;
  n.at = at;

  auto name_at = f->require(ctx, "name");
  if (!name_at) return std::unexpected(name_at.error());
  auto name = as_string(ctx, **name_at);
  if (!name) return std::unexpected(name.error());
  n.name = *name;
  n.name_at = **name_at;

  auto id_at = f->require(ctx, "id");
  if (!id_at) return std::unexpected(id_at.error());
  auto id = as_uint(ctx, **id_at, kNodeIdMin, kNodeIdMax,
                    "16 bits of the packet mark and the SPI; 0 and 65535 are reserved");
  if (!id) return std::unexpected(id.error());
  n.id = static_cast<uint16_t>(*id);
  n.id_at = **id_at;

  auto addrs_at = f->require(ctx, "addresses");
  if (!addrs_at) return std::unexpected(addrs_at.error());
  auto addrs = as_list(ctx, **addrs_at);
  if (!addrs) return std::unexpected(addrs.error());
  if (addrs->empty()) return ctx.fail_at(**addrs_at, "at least one node address is needed");
  for (const At& a : *addrs) {
    auto addr = as_addr(ctx, a);
    if (!addr) return std::unexpected(addr.error());
    for (const auto& [seen, seen_at] : n.addrs)
      if (seen.family == addr->family)
        return ctx.fail_at(a, "a second " + std::string(addr->size() == 4 ? "IPv4" : "IPv6") + " address (" +
                                  addr->str() + " after " + seen.str() +
                                  "); a node has at most one of each family");
    n.addrs.emplace_back(*addr, a);
  }

  if (const At* cidrs_at = f->get("pod_cidrs")) {
    auto cidrs = as_list(ctx, *cidrs_at);
    if (!cidrs) return std::unexpected(cidrs.error());
    for (const At& c : *cidrs) {
      auto p = as_cidr(ctx, c);
      if (!p) return std::unexpected(p.error());
      n.cidrs.emplace_back(*p, c);
    }
  }

  if (const At* up = f->get("uplinks")) {
    auto v = as_uint(ctx, *up, 1, SEALNET_MAX_SLOTS, "device slots: 4 bits of the packet mark");
    if (!v) return std::unexpected(v.error());
    n.uplinks = static_cast<uint8_t>(*v);
  }
  if (const At* keys_at = f->get("keys")) {
    auto keys = as_list(ctx, *keys_at);
    if (!keys) return std::unexpected(keys.error());
    std::vector<uint8_t> ids;
    for (const At& k : *keys) {
      auto v = as_uint(ctx, k, SEALNET_KEY_ID_MIN, SEALNET_KEY_ID_MAX, "key ids of the key file");
      if (!v) return std::unexpected(v.error());
      if (std::find(ids.begin(), ids.end(), *v) != ids.end())
        return ctx.fail_at(k, "key " + std::to_string(*v) + " listed twice");
      ids.push_back(static_cast<uint8_t>(*v));
    }
    n.keys = std::move(ids);
  }
  return n;
}

// Ids, names and node addresses are unique; no two pod CIDRs overlap (one
// address, one node: the ipcache cannot hold both); no node address lies in a
// pod CIDR. Reports at the later of the two values, citing the earlier one.
Status check_cluster(const Ctx& ctx, const std::vector<NodeSrc>& nodes) {
  for (size_t j = 0; j < nodes.size(); ++j) {
    const NodeSrc& b = nodes[j];
    for (size_t i = 0; i < j; ++i) {
      const NodeSrc& a = nodes[i];
      if (a.id == b.id) return ctx.fail_at(b.id_at, std::to_string(b.id) + " is also " + a.id_at.path);
      if (a.name == b.name) return ctx.fail_at(b.name_at, b.name + " is also " + a.name_at.path);
      for (const auto& [ba, ba_at] : b.addrs)
        for (const auto& [aa, aa_at] : a.addrs)
          if (aa == ba) return ctx.fail_at(ba_at, ba.str() + " is also " + aa_at.path);
    }
  }
  std::vector<const std::pair<IpPrefix, At>*> cidrs;  // every node's, in order
  for (const NodeSrc& n : nodes)
    for (const auto& c : n.cidrs) cidrs.push_back(&c);
  for (size_t j = 0; j < cidrs.size(); ++j)
    for (size_t i = 0; i < j; ++i)
      if (cidrs[i]->first.overlaps(cidrs[j]->first))
        return ctx.fail_at(cidrs[j]->second, cidrs[j]->first.str() + " overlaps " + cidrs[i]->second.path +
                                                 " " + cidrs[i]->first.str());
  for (const NodeSrc& n : nodes)
    for (const auto& [addr, addr_at] : n.addrs)
      for (const auto* c : cidrs)
        if (c->first.contains(addr))
          return ctx.fail_at(addr_at, addr.str() + " is inside " + c->second.path + " " + c->first.str() +
                                          " (node addresses are not pod addresses)");
  return {};
}

void fill_addrs(const NodeSrc& n, std::optional<IpAddr>& v4, std::optional<IpAddr>& v6,
                std::vector<IpPrefix>& cidrs) {
  for (const auto& [a, at] : n.addrs) (a.size() == 4 ? v4 : v6) = a;
  for (const auto& [p, at] : n.cidrs) cidrs.push_back(p);
}

// Everything but the nodes: key file, devices, switches, endpoints.
Status read_settings(const Ctx& ctx, const Fields& f, AgentConfig& cfg) {
  if (const At* keys_at = f.get("keys")) {
    auto kf = Fields::read(ctx, *keys_at, {"file", "grace_period", "allow_shared"});
    if (!kf) return std::unexpected(kf.error());
    if (const At* file = kf->get("file")) {
      auto path = as_abs_path(ctx, *file);
      if (!path) return std::unexpected(path.error());
      cfg.key_file = *path;
    }
    if (const At* grace = kf->get("grace_period")) {
      auto d = as_duration(ctx, *grace);
      if (!d) return std::unexpected(d.error());
      cfg.key_grace = *d;
    }
    if (const At* shared = kf->get("allow_shared")) {
      auto v = as_bool(ctx, *shared);
      if (!v) return std::unexpected(v.error());
      cfg.allow_shared_keys = *v;
    }
  }

  if (const At* up = f.get("uplinks")) {
    auto items = as_list(ctx, *up);
    if (!items) return std::unexpected(items.error());
    if (items->size() > SEALNET_MAX_SLOTS)
      return ctx.fail_at(*up, std::to_string(items->size()) + " devices; the packet mark has " +
                                  std::to_string(SEALNET_MAX_SLOTS) + " device slots");
    for (const At& d : *items) {
      auto name = as_ifname(ctx, d);
      if (!name) return std::unexpected(name.error());
      if (std::find(cfg.uplinks.begin(), cfg.uplinks.end(), *name) != cfg.uplinks.end())
        return ctx.fail_at(d, *name + " listed twice");
      cfg.uplinks.push_back(*name);
    }
  }

  if (const At* b = f.get("fail_closed")) {
    auto v = as_bool(ctx, *b);
    if (!v) return std::unexpected(v.error());
    cfg.fail_closed = *v;
  }
  if (const At* b = f.get("encrypt_host")) {
    auto v = as_bool(ctx, *b);
    if (!v) return std::unexpected(v.error());
    cfg.encrypt_host = *v;
  }
  if (const At* m = f.get("metrics")) {
    auto mf = Fields::read(ctx, *m, {"listen"});
    if (!mf) return std::unexpected(mf.error());
    if (const At* listen = mf->get("listen")) {
      auto v = as_listen(ctx, *listen);
      if (!v) return std::unexpected(v.error());
      cfg.metrics_listen = *v;
    }
  }
  if (const At* m = f.get("monitor")) {
    auto mf = Fields::read(ctx, *m, {"drops", "flows"});
    if (!mf) return std::unexpected(mf.error());
    for (auto [name, dst] : {std::pair{"drops", &cfg.monitor.drops}, std::pair{"flows", &cfg.monitor.flows}}) {
      if (const At* b = mf->get(name)) {
        auto v = as_bool(ctx, *b);
        if (!v) return std::unexpected(v.error());
        *dst = *v;
      }
    }
  }
  if (const At* d = f.get("bpffs_dir")) {
    auto v = as_abs_path(ctx, *d);
    if (!v) return std::unexpected(v.error());
    cfg.bpffs_dir = *v;
  }
  if (const At* d = f.get("state_dir")) {
    auto v = as_abs_path(ctx, *d);
    if (!v) return std::unexpected(v.error());
    cfg.state_dir = *v;
  }
  if (const At* d = f.get("discovery")) {
    auto df = Fields::read(ctx, *d, {"etcd"});
    if (!df) return std::unexpected(df.error());
    auto etcd_at = df->require(ctx, "etcd");
    if (!etcd_at) return std::unexpected(etcd_at.error());
    auto ef = Fields::read(ctx, **etcd_at,
                           {"endpoints", "prefix", "lease_ttl", "grace_period", "cacert", "cert", "key"});
    if (!ef) return std::unexpected(ef.error());
    EtcdDiscovery e;
    auto eps_at = ef->require(ctx, "endpoints");
    if (!eps_at) return std::unexpected(eps_at.error());
    auto eps = as_list(ctx, **eps_at);
    if (!eps) return std::unexpected(eps.error());
    if (eps->empty()) return ctx.fail_at(**eps_at, "at least one etcd endpoint");
    for (const At& ep : *eps) {
      auto v = as_string(ctx, ep);
      if (!v) return std::unexpected(v.error());
      const std::string hostport = v->starts_with("http://")    ? v->substr(7)
                                   : v->starts_with("https://") ? v->substr(8)
                                                                : *v;
      if (v->find("://") != std::string::npos && !v->starts_with("http://") && !v->starts_with("https://"))
        return ctx.fail_at(ep, *v + ": the scheme must be http or https");
      if (!parse_host_port(hostport, {.names = true, .port_zero = false}))
        return ctx.fail_at(ep, *v + " is not [http[s]://]HOST:PORT");
      e.endpoints.push_back(*v);
    }
    if (const At* p = ef->get("prefix")) {
      auto v = as_string(ctx, *p);
      if (!v) return std::unexpected(v.error());
      if (!v->starts_with("/") || v->size() < 2 || v->ends_with("/"))
        return ctx.fail_at(*p, *v + ": a key prefix such as /sealnet (leading /, no trailing /)");
      e.prefix = *v;
    }
    if (const At* t = ef->get("lease_ttl")) {
      auto v = as_duration(ctx, *t);
      if (!v) return std::unexpected(v.error());
      if (v->count() < 2 || v->count() > 3600) return ctx.fail_at(*t, "between 2s and 1h");
      e.lease_ttl = *v;
    }
    if (const At* g = ef->get("grace_period")) {
      auto v = as_duration(ctx, *g);
      if (!v) return std::unexpected(v.error());
      e.grace = *v;
    }
    for (auto [name, field] : {std::pair{"cacert", &e.cacert}, {"cert", &e.cert}, {"key", &e.key}})
      if (const At* p = ef->get(name)) {
        auto v = as_abs_path(ctx, *p);
        if (!v) return std::unexpected(v.error());
        *field = *v;
      }
    if (e.cert.empty() != e.key.empty())
      return ctx.fail_at(**etcd_at, "cert and key go together (client certificate authentication)");
    cfg.etcd = std::move(e);
  }
  return {};
}

Result<AgentConfig> build(const Ctx& ctx, const YAML::Node& root, const ParseOptions& opts) {
  const At root_at{root, 1, ""};
  if (root.IsNull()) return ctx.fail_at(1, "", "empty config (node and peers are required)");
  auto f = Fields::read(
      ctx, root_at,
      {"node", "peers", "keys", "uplinks", "fail_closed", "encrypt_host", "metrics", "monitor", "bpffs_dir",
       "state_dir", "discovery"});
  if (!f) return std::unexpected(f.error());
  AgentConfig cfg;

  // Peers first: `node` may name one of them.
  std::vector<NodeSrc> peers;
  // With discovery, the peers come from etcd and a static list is optional.
  std::vector<At> peer_items;
  if (const At* p = f->get("peers"); p || !f->get("discovery")) {
    auto peers_at = f->require(ctx, "peers");
    if (!peers_at) return std::unexpected(peers_at.error());
    auto items = as_list(ctx, **peers_at);
    if (!items) return std::unexpected(items.error());
    peer_items = std::move(*items);
  }
  for (const At& p : peer_items) {
    auto n = read_node(ctx, p, true);
    if (!n) return std::unexpected(n.error());
    peers.push_back(std::move(*n));
  }

  std::vector<NodeSrc> nodes;  // this node first, then the peers, in file order
  const At* node_at = f->get("node");
  if (node_at && node_at->node.IsMap()) {
    auto n = read_node(ctx, *node_at, false);
    if (!n) return std::unexpected(n.error());
    if (opts.node_name && *opts.node_name != n->name)
      return ctx.fail_at(n->name_at, n->name + " is this node, but --node asks for " + *opts.node_name);
    nodes.push_back(std::move(*n));
  } else {
    std::string self;
    int line = node_at ? node_at->line : 1;
    if (opts.node_name) {
      self = *opts.node_name;
    } else if (!node_at || node_at->node.IsNull()) {
      return ctx.fail_at(line, "node", "missing (a mapping, or the name of one of peers)");
    } else {
      auto s = as_string(ctx, *node_at);
      if (!s)
        return ctx.fail_at(*node_at, "expected a mapping or a peer name, got " + kind_of(node_at->node));
      self = *s;
    }
    auto it = std::find_if(peers.begin(), peers.end(), [&](const NodeSrc& p) { return p.name == self; });
    if (it == peers.end()) return ctx.fail_at(line, "node", self + " is not the name of any of peers");
    // The shared file's entry says what the others expect of this node; its
    // uplinks and keys are theirs to read, ours come from the devices and key file.
    nodes.push_back(std::move(*it));
    peers.erase(it);
  }
  for (NodeSrc& p : peers) nodes.push_back(std::move(p));

  if (auto ok = read_settings(ctx, *f, cfg); !ok) return std::unexpected(ok.error());
  if (auto ok = check_cluster(ctx, nodes); !ok) return std::unexpected(ok.error());

  const NodeSrc& self = nodes.front();
  cfg.node.name = self.name;
  cfg.node.id = self.id;
  fill_addrs(self, cfg.node.ipv4, cfg.node.ipv6, cfg.node.pod_cidrs);
  for (size_t i = 1; i < nodes.size(); ++i) {
    Peer p;
    p.name = nodes[i].name;
    p.id = nodes[i].id;
    fill_addrs(nodes[i], p.ipv4, p.ipv6, p.pod_cidrs);
    p.uplinks = nodes[i].uplinks;
    p.keys = nodes[i].keys;
    cfg.peers.push_back(std::move(p));
  }

  return cfg;
}

}  // namespace

const Peer* AgentConfig::find_peer(uint16_t id) const {
  for (const Peer& p : peers)
    if (p.id == id) return &p;
  return nullptr;
}

Result<AgentConfig> parse_agent_config(std::string_view text, const std::string& source,
                                       const ParseOptions& opts) {
  const Ctx ctx{source};
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    return ctx.fail_at(e.mark.line < 0 ? 1 : e.mark.line + 1, "", "not YAML or JSON: " + e.msg);
  }
  if (docs.size() > 1)
    return ctx.fail_at(line_of(docs[1], 1), "", "a second YAML document; the config is one document");
  try {
    return build(ctx, docs.empty() ? YAML::Node() : docs.front(), opts);
  } catch (const YAML::Exception& e) {
    // Reading a parsed tree does not throw in yaml-cpp 0.7; stay a value if it ever does.
    return ctx.fail_at(e.mark.line < 0 ? 1 : e.mark.line + 1, "", e.msg);
  }
}

Result<AgentConfig> load_agent_config(const std::string& path, const ParseOptions& opts) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail_errno("open agent config", path);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return fail_errno("read agent config", path);
  return parse_agent_config(text.str(), path, opts);
}

std::string_view embedded_default_config_text() {
  // Keep in step with docs/agent-config.md "The embedded default".
  return R"(# sealnet lab: three nodes, one shared file; each agent picks itself with --node.
node: lab-1
peers:
  - name: lab-1
    id: 1
    addresses: [10.240.0.1, fd00:5ea0::1]
    pod_cidrs: [10.241.1.0/24, fd00:5ea1:1::/64]
  - name: lab-2
    id: 2
    addresses: [10.240.0.2, fd00:5ea0::2]
    pod_cidrs: [10.241.2.0/24, fd00:5ea1:2::/64]
  - name: lab-3
    id: 3
    addresses: [10.240.0.3, fd00:5ea0::3]
    pod_cidrs: [10.241.3.0/24, fd00:5ea1:3::/64]
keys:
  file: /etc/sealnet/keys
  grace_period: 30s
uplinks: []
fail_closed: true
encrypt_host: false
metrics:
  listen: 127.0.0.1:9962
bpffs_dir: /sys/fs/bpf/sealnet
)";
}

}  // namespace sealnet::config
