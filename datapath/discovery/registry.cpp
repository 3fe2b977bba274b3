#include "datapath/discovery/registry.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>
#include <sys/socket.h>

namespace sealnet::discovery {

using json = nlohmann::json;

namespace {

constexpr size_t kMaxRecordBytes = 64 * 1024;  // a record is a few hundred bytes
constexpr size_t kMaxNameLength = 253;         // a DNS name, as Kubernetes node names are
constexpr size_t kIfNameMax = 15;              // IFNAMSIZ - 1
constexpr size_t kMaxSlots = 16;               // device slots are 4 bits of the mark
constexpr unsigned kMaxKeyId = 15;             // key ids are 4 bits of the mark

std::unexpected<Error> bad(const std::string& field, const std::string& what) {
  return fail(EINVAL, "node record", field, what);
}

// Names end up in an etcd key (<prefix>/nodes/<name>) and in logs.
bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > kMaxNameLength) return false;
  return std::none_of(s.begin(), s.end(), [](char c) {
    return c == '/' || c == ' ' || c == '\t' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
}

// The config's rule for device names (datapath/config.cpp as_ifname).
bool valid_ifname(std::string_view s) {
  const bool bad_char = std::any_of(s.begin(), s.end(), [](char c) {
    return c == '/' || c == ':' || c == ' ' || c == '\t' || static_cast<unsigned char>(c) < 0x20;
  });
  return !s.empty() && s.size() <= kIfNameMax && !bad_char && s != "." && s != "..";
}

// A JSON integer in [min, max]; bools, floats and strings are refused (as the
// config refuses a quoted "5").
Result<uint64_t> as_uint(const json& v, const std::string& field, uint64_t min, uint64_t max) {
  if (!v.is_number_integer()) return fail(EINVAL, "node record", field, "expected an integer");
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u >= min && u <= max) return u;
  }
  return fail(EINVAL, "node record", field,
              "out of range (" + std::to_string(min) + ".." + std::to_string(max) + ")");
}

Result<std::string> as_string(const json& v, const std::string& field) {
  if (!v.is_string()) return fail(EINVAL, "node record", field, "expected a string");
  return v.get<std::string>();
}

Result<const json*> as_array(const json& obj, const char* field, bool required) {
  static const json kEmpty = json::array();
  auto it = obj.find(field);
  if (it == obj.end()) {
    if (required) return fail(EINVAL, "node record", field, "missing");
    return &kEmpty;
  }
  if (!it->is_array()) return fail(EINVAL, "node record", field, "expected a list");
  return &*it;
}

Result<IpPrefix> as_cidr(const std::string& s, const std::string& field) {
  const auto slash = s.find('/');
  if (slash == std::string::npos) return fail(EINVAL, "node record", field, s + " is not a CIDR (address/length)");
  auto p = IpPrefix::parse(s);
  if (!p) return fail(EINVAL, "node record", field, s + " is not a CIDR");
  // IpPrefix::parse clears host bits; in a record they are a bug of the writer.
  auto a = IpAddr::parse(std::string_view(s).substr(0, slash));
  if (a && *a != p->addr) return fail(EINVAL, "node record", field, s + " has host bits set");
  return *p;
}

std::vector<IpAddr> addrs_of(const NodeRecord& r) {
  std::vector<IpAddr> v;
  if (r.ipv4) v.push_back(*r.ipv4);
  if (r.ipv6) v.push_back(*r.ipv6);
  return v;
}

}  // namespace

// ---------------------------------------------------------------- records

std::string record_to_json(const NodeRecord& r) {
  json j;
  j["name"] = r.name;
  j["id"] = r.id;
  json addrs = json::array();
  for (const auto& a : addrs_of(r)) addrs.push_back(a.str());
  j["addresses"] = addrs;
  json cidrs = json::array();
  for (const auto& c : r.pod_cidrs) cidrs.push_back(c.str());
  j["pod_cidrs"] = cidrs;
  j["keys"] = r.keys;
  j["uplinks"] = r.uplinks;
  j["device_modes"] = r.device_modes;
  j["generations"] = r.generations;
  return j.dump();
}

Status validate_record(const NodeRecord& r) {
  if (!valid_name(r.name))
    return bad("name", "not a node name (1.." + std::to_string(kMaxNameLength) + " characters, no '/' or blanks)");
  if (r.id < config::kNodeIdMin || r.id > config::kNodeIdMax) return bad("id", "out of range (1..65534)");
  if (r.ipv4 && r.ipv4->family != AF_INET) return bad("addresses", "ipv4 holds a non-IPv4 address");
  if (r.ipv6 && r.ipv6->family != AF_INET6) return bad("addresses", "ipv6 holds a non-IPv6 address");
  if (!r.ipv4 && !r.ipv6) return bad("addresses", "no node address");
  for (size_t i = 0; i < r.pod_cidrs.size(); ++i) {
    for (size_t k = 0; k < i; ++k)
      if (r.pod_cidrs[k].overlaps(r.pod_cidrs[i]))
        return bad("pod_cidrs[" + std::to_string(i) + "]",
                   r.pod_cidrs[i].str() + " overlaps pod_cidrs[" + std::to_string(k) + "]");
    for (const auto& a : addrs_of(r))
      if (r.pod_cidrs[i].contains(a))
        return bad("addresses", a.str() + " is inside pod_cidrs[" + std::to_string(i) + "] " + r.pod_cidrs[i].str());
  }
  std::set<uint8_t> seen;
  for (uint8_t k : r.keys) {
    if (k < 1 || k > kMaxKeyId) return bad("keys", std::to_string(k) + " is not a key id (1..15)");
    if (!seen.insert(k).second) return bad("keys", std::to_string(k) + " listed twice");
  }
  if (r.uplinks < 1 || r.uplinks > kMaxSlots) return bad("uplinks", "out of range (1..16)");
  if (r.device_modes.size() > kMaxSlots) return bad("device_modes", "more than 16 devices");
  for (const auto& [dev, mode] : r.device_modes) {
    if (!valid_ifname(dev)) return bad("device_modes", "\"" + dev + "\" is not a network device name");
    if (mode != "packet" && mode != "crypto" && mode != "software")
      return bad("device_modes." + dev, "\"" + mode + "\" is not packet, crypto or software");
  }
  if (r.generations.size() > kMaxSlots) return bad("generations", "more than 16 slots");
  return {};
}

Result<NodeRecord> record_from_json(std::string_view text) {
  if (text.size() > kMaxRecordBytes) return fail(EINVAL, "node record", {}, "larger than 64 KiB");
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return fail(EINVAL, "node record", {}, "not JSON");
  if (!j.is_object()) return fail(EINVAL, "node record", {}, "expected a JSON object");
  NodeRecord r;

  auto name_it = j.find("name");
  if (name_it == j.end()) return bad("name", "missing");
  auto name = as_string(*name_it, "name");
  if (!name) return std::unexpected(name.error());
  r.name = *name;

  auto id_it = j.find("id");
  if (id_it == j.end()) return bad("id", "missing");
  auto id = as_uint(*id_it, "id", config::kNodeIdMin, config::kNodeIdMax);
  if (!id) return std::unexpected(id.error());
  r.id = static_cast<uint16_t>(*id);

  auto addrs = as_array(j, "addresses", true);
  if (!addrs) return std::unexpected(addrs.error());
  if ((*addrs)->empty() || (*addrs)->size() > 2) return bad("addresses", "expected 1 or 2 addresses");
  for (size_t i = 0; i < (*addrs)->size(); ++i) {
    const std::string field = "addresses[" + std::to_string(i) + "]";
    auto s = as_string((**addrs)[i], field);
    if (!s) return std::unexpected(s.error());
    auto a = IpAddr::parse(*s);
    if (!a) return bad(field, *s + " is not an IPv4 or IPv6 address");
    auto& slot = a->family == AF_INET ? r.ipv4 : r.ipv6;
    if (slot) return bad(field, "a second address of the same family");
    slot = *a;
  }

  auto cidrs = as_array(j, "pod_cidrs", false);
  if (!cidrs) return std::unexpected(cidrs.error());
  for (size_t i = 0; i < (*cidrs)->size(); ++i) {
    const std::string field = "pod_cidrs[" + std::to_string(i) + "]";
    auto s = as_string((**cidrs)[i], field);
    if (!s) return std::unexpected(s.error());
    auto p = as_cidr(*s, field);
    if (!p) return std::unexpected(p.error());
    r.pod_cidrs.push_back(*p);
  }

  auto keys = as_array(j, "keys", false);
  if (!keys) return std::unexpected(keys.error());
  for (size_t i = 0; i < (*keys)->size(); ++i) {
    auto k = as_uint((**keys)[i], "keys[" + std::to_string(i) + "]", 1, kMaxKeyId);
    if (!k) return std::unexpected(k.error());
    r.keys.push_back(static_cast<uint8_t>(*k));
  }

  if (auto it = j.find("uplinks"); it != j.end()) {
    auto u = as_uint(*it, "uplinks", 1, kMaxSlots);
    if (!u) return std::unexpected(u.error());
    r.uplinks = static_cast<uint8_t>(*u);
  }

  if (auto it = j.find("device_modes"); it != j.end()) {
    if (!it->is_object()) return bad("device_modes", "expected a mapping of device to mode");
    for (const auto& [dev, mode] : it->items()) {
      auto m = as_string(mode, "device_modes." + dev);
      if (!m) return std::unexpected(m.error());
      r.device_modes[dev] = *m;
    }
  }

  auto gens = as_array(j, "generations", false);
  if (!gens) return std::unexpected(gens.error());
  for (size_t i = 0; i < (*gens)->size(); ++i) {
    auto g = as_uint((**gens)[i], "generations[" + std::to_string(i) + "]", 0, 255);
    if (!g) return std::unexpected(g.error());
    r.generations.push_back(static_cast<uint8_t>(*g));
  }

  if (auto st = validate_record(r); !st) return std::unexpected(st.error());
  return r;
}

NodeRecord record_of(const config::LocalNode& node, uint8_t uplinks) {
  NodeRecord r;
  r.name = node.name;
  r.id = node.id;
  r.ipv4 = node.ipv4;
  r.ipv6 = node.ipv6;
  r.pod_cidrs = node.pod_cidrs;
  r.uplinks = std::clamp<uint8_t>(uplinks, 1, kMaxSlots);
  return r;
}

config::Peer peer_of(const NodeRecord& r) {
  config::Peer p;
  p.name = r.name;
  p.id = r.id;
  p.ipv4 = r.ipv4;
  p.ipv6 = r.ipv6;
  p.pod_cidrs = r.pod_cidrs;
  p.uplinks = r.uplinks;
  p.keys = r.keys;
  return p;
}

// ---------------------------------------------------------------- peer set

PeerSet::PeerSet(std::string nodes_prefix, NodeRecord self, std::chrono::milliseconds grace, Logger log)
    : prefix_(std::move(nodes_prefix)), self_(std::move(self)), grace_(grace), log_(std::move(log)) {
  if (!log_) log_ = [](const std::string&) {};
}

// Why `r` cannot join the set as it is: the checks the config makes across
// nodes (datapath/config.cpp check_cluster), against this node and every peer
// in force. The first writer wins; the later one is refused until it is fixed.
namespace {
IpPrefix masked(const IpAddr& a, uint8_t len) {
  IpPrefix p{a, len};
  for (size_t i = 0; i < a.size(); ++i) {
    const int keep = std::clamp(static_cast<int>(len) - static_cast<int>(i) * 8, 0, 8);
    p.addr.bytes[i] &= static_cast<uint8_t>(0xFF00u >> keep);
  }
  return p;
}
}  // namespace

void PeerSet::Index::add(const std::string& name, const NodeRecord& r) {
  ids[r.id] = name;
  for (const auto& a : addrs_of(r)) addrs[a] = name;
  for (const auto& c : r.pod_cidrs) {
    cidrs[c] = name;
    ++lens[{c.addr.family, c.len}];
  }
}

void PeerSet::Index::remove(const NodeRecord& r) {
  ids.erase(r.id);
  for (const auto& a : addrs_of(r)) addrs.erase(a);
  for (const auto& c : r.pod_cidrs) {
    cidrs.erase(c);
    if (auto it = lens.find({c.addr.family, c.len}); it != lens.end() && --it->second == 0) lens.erase(it);
  }
}

std::optional<std::string> PeerSet::clash(const NodeRecord& r) const {
  const auto against = [&](const NodeRecord& o, const std::string& who) -> std::optional<std::string> {
    if (o.id == r.id) return "id " + std::to_string(r.id) + " is also " + who + "'s";
    const auto ra = addrs_of(r), oa = addrs_of(o);
    for (const auto& a : ra)
      for (const auto& b : oa)
        if (a == b) return "address " + a.str() + " is also " + who + "'s";
    for (const auto& c : r.pod_cidrs) {
      for (const auto& d : o.pod_cidrs)
        if (c.overlaps(d)) return "pod CIDR " + c.str() + " overlaps " + who + "'s " + d.str();
      for (const auto& b : oa)
        if (c.contains(b)) return "pod CIDR " + c.str() + " holds " + who + "'s address " + b.str();
    }
    for (const auto& d : o.pod_cidrs)
      for (const auto& a : ra)
        if (d.contains(a)) return "address " + a.str() + " is inside " + who + "'s pod CIDR " + d.str();
    return std::nullopt;
  };
  if (auto why = against(self_, "this node (" + self_.name + ")")) return why;

  // Against the known peers, through the index (a peer's own entries do not count).
  const auto other = [&](const std::string& owner) { return owner != r.name; };
  if (auto it = index_.ids.find(r.id); it != index_.ids.end() && other(it->second))
    return "id " + std::to_string(r.id) + " is also peer " + it->second + "'s";
  const auto ra = addrs_of(r);
  for (const auto& a : ra)
    if (auto it = index_.addrs.find(a); it != index_.addrs.end() && other(it->second))
      return "address " + a.str() + " is also peer " + it->second + "'s";
  // A known CIDR that holds `a` (or c's network address, for c no longer than it).
  const auto holder = [&](const IpAddr& a, uint8_t max_len) -> const std::pair<const IpPrefix, std::string>* {
    for (const auto& [fl, n] : index_.lens) {
      if (fl.first != a.family || fl.second > max_len) continue;
      if (auto it = index_.cidrs.find(masked(a, fl.second)); it != index_.cidrs.end() && other(it->second))
        return &*it;
    }
    return nullptr;
  };
  for (const auto& c : r.pod_cidrs) {
    if (const auto* d = holder(c.addr, c.len))
      return "pod CIDR " + c.str() + " overlaps peer " + d->second + "'s " + d->first.str();
    for (auto it = index_.cidrs.lower_bound(IpPrefix{c.addr, 0});
         it != index_.cidrs.end() && it->first.addr.family == c.addr.family && c.contains(it->first.addr); ++it)
      if (other(it->second)) return "pod CIDR " + c.str() + " overlaps peer " + it->second + "'s " + it->first.str();
    for (auto it = index_.addrs.lower_bound(c.addr);
         it != index_.addrs.end() && it->first.family == c.addr.family && c.contains(it->first); ++it)
      if (other(it->second))
        return "pod CIDR " + c.str() + " holds peer " + it->second + "'s address " + it->first.str();
  }
  for (const auto& a : ra)
    if (const auto* d = holder(a, static_cast<uint8_t>(a.size() * 8)))
      return "address " + a.str() + " is inside peer " + d->second + "'s pod CIDR " + d->first.str();
  return std::nullopt;
}

std::optional<PeerSet::Change> PeerSet::put(const KeyValue& kv) {
  if (!kv.key.starts_with(prefix_)) return std::nullopt;
  const std::string name = kv.key.substr(prefix_.size());
  if (name == self_.name) return std::nullopt;  // our own record
  auto rec = record_from_json(kv.value);
  if (!rec) {
    log_("ignoring " + kv.key + " (revision " + std::to_string(kv.mod_revision) + "): " + rec.error().message());
    return std::nullopt;
  }
  if (rec->name != name) {
    log_("ignoring " + kv.key + ": its record names " + rec->name);
    return std::nullopt;
  }
  if (auto why = clash(*rec)) {
    log_("ignoring " + kv.key + ": " + *why);
    return std::nullopt;
  }
  auto it = peers_.find(name);
  if (it != peers_.end()) {
    Entry& e = it->second;
    if (e.remove_at) log_("peer " + name + " is back: its removal is cancelled");
    e.remove_at.reset();
    e.mod_revision = kv.mod_revision;
    if (e.record == *rec) return std::nullopt;
    index_.remove(e.record);
    e.record = *rec;
    index_.add(name, e.record);
  } else {
    peers_.emplace(name, Entry{*rec, kv.mod_revision, std::nullopt});
    index_.add(name, *rec);
  }
  return Change{Change::Kind::Upsert, name, std::move(*rec)};
}

void PeerSet::gone(const std::string& name, Clock::time_point now) {
  auto it = peers_.find(name);
  if (it == peers_.end() || it->second.remove_at) return;
  it->second.remove_at = now + grace_;
  log_("peer " + name + "'s key is gone; it stays in force for " + std::to_string(grace_.count()) +
       " ms unless it comes back");
}

std::vector<PeerSet::Change> PeerSet::snapshot(const std::vector<KeyValue>& kvs, Clock::time_point now) {
  std::vector<Change> out;
  std::set<std::string> present;
  for (const auto& kv : kvs) {
    if (!kv.key.starts_with(prefix_)) continue;
    // A key that is there but unreadable keeps its peer as last seen: only a
    // key that is gone starts the grace period.
    present.insert(kv.key.substr(prefix_.size()));
    if (auto c = put(kv)) out.push_back(std::move(*c));
  }
  for (const auto& [name, e] : peers_)
    if (!present.contains(name)) gone(name, now);
  return out;
}

std::vector<PeerSet::Change> PeerSet::apply(const std::vector<WatchEvent>& events, Clock::time_point now) {
  std::vector<Change> out;
  for (const auto& ev : events) {
    if (ev.type == WatchEvent::Type::Put) {
      if (auto c = put(ev.kv)) out.push_back(std::move(*c));
    } else if (ev.kv.key.starts_with(prefix_)) {
      gone(ev.kv.key.substr(prefix_.size()), now);
    }
  }
  return out;
}

std::vector<PeerSet::Change> PeerSet::expire(Clock::time_point now) {
  std::vector<Change> out;
  for (auto it = peers_.begin(); it != peers_.end();) {
    if (it->second.remove_at && *it->second.remove_at <= now) {
      log_("peer " + it->first + " removed: its key stayed gone for the grace period");
      out.push_back(Change{Change::Kind::Remove, it->first, {}});
      index_.remove(it->second.record);
      it = peers_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

std::optional<PeerSet::Clock::time_point> PeerSet::next_deadline() const {
  std::optional<Clock::time_point> t;
  for (const auto& [name, e] : peers_)
    if (e.remove_at && (!t || *e.remove_at < *t)) t = e.remove_at;
  return t;
}

// ---------------------------------------------------------------- registry

struct Registry::Input {
  enum class Kind { Snapshot, Events, Up, Down } kind;
  std::vector<KeyValue> kvs;
  std::vector<WatchEvent> events;
  std::optional<Error> error;
};

namespace {
std::string strip_slashes(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}
}  // namespace

Registry::Registry(std::shared_ptr<EtcdClient> etcd, NodeRecord self, RegistryOptions opts, RegistryCallbacks cb,
                   Logger log)
    : etcd_(std::move(etcd)),
      opts_(std::move(opts)),
      cb_(std::move(cb)),
      log_(log ? std::move(log) : [](const std::string& m) { std::fprintf(stderr, "sealnet discovery: %s\n", m.c_str()); }),
      key_(strip_slashes(opts_.prefix) + "/nodes/" + self.name),
      self_(self),
      set_(strip_slashes(opts_.prefix) + "/nodes/", std::move(self), opts_.grace, log_) {}

Result<std::unique_ptr<Registry>> Registry::start(std::shared_ptr<EtcdClient> etcd, NodeRecord self,
                                                  RegistryOptions opts, RegistryCallbacks cb, Logger log) {
  if (!etcd) return fail(EINVAL, "discovery registry", "etcd", "no client");
  if (auto st = validate_record(self); !st) return std::unexpected(st.error());
  if (opts.ttl < std::chrono::seconds(2)) return fail(EINVAL, "discovery registry", "ttl", "at least 2 s");
  if (opts.grace < std::chrono::milliseconds(0)) return fail(EINVAL, "discovery registry", "grace", "negative");
  if (opts.prefix.empty()) return fail(EINVAL, "discovery registry", "prefix", "empty");
  auto r = std::unique_ptr<Registry>(
      new Registry(std::move(etcd), std::move(self), std::move(opts), std::move(cb), std::move(log)));
  Registry* self_ptr = r.get();
  const auto push = [self_ptr](Input in) {
    std::lock_guard lock(self_ptr->mu_);
    self_ptr->inbox_.push_back(std::move(in));
    self_ptr->cv_.notify_all();
  };
  WatchCallbacks wcb;
  wcb.on_snapshot = [push](const RangeResult& s) { push(Input{Input::Kind::Snapshot, s.kvs, {}, {}}); };
  wcb.on_events = [push](const std::vector<WatchEvent>& ev, int64_t) {
    push(Input{Input::Kind::Events, {}, ev, {}});
  };
  wcb.on_connection = [push](const std::optional<Error>& e) {
    push(Input{e ? Input::Kind::Down : Input::Kind::Up, {}, {}, e});
  };
  r->thread_ = std::thread([self_ptr] { self_ptr->run(); });
  r->watch_ = r->etcd_->watch_prefix(strip_slashes(r->opts_.prefix) + "/nodes/", 0, std::move(wcb));
  return r;
}

Registry::~Registry() { stop(); }

void Registry::stop() {
  watch_.reset();  // joins the watch thread: nothing is pushed after this
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status Registry::deregister() {
  stop();
  int64_t lease;
  {
    std::lock_guard lock(mu_);
    lease = lease_;
    lease_ = 0;
    lease_ok_ = false;
  }
  if (lease == 0) return {};
  return etcd_->lease_revoke(lease);
}

Status Registry::update_self(NodeRecord self) {
  if (auto st = validate_record(self); !st) return st;
  std::lock_guard lock(mu_);
  if (self.name != self_.name) return fail(EINVAL, "discovery registry", "name", "a node cannot change its name");
  if (self == self_) return {};
  self_ = self;
  set_.set_self(std::move(self));
  self_dirty_ = true;
  cv_.notify_all();
  return {};
}

std::map<std::string, NodeRecord> Registry::peers() const {
  std::lock_guard lock(mu_);
  std::map<std::string, NodeRecord> out;
  for (const auto& [name, e] : set_.peers()) out.emplace(name, e.record);
  return out;
}

status::DiscoveryStatus Registry::status() const {
  std::lock_guard lock(mu_);
  status::DiscoveryStatus s;
  s.backend = "etcd";
  s.connected = watch_up_ && lease_ok_;
  s.last_error = last_error_;
  s.peers = set_.peers().size();
  return s;
}

bool Registry::synced() const {
  std::lock_guard lock(mu_);
  return synced_;
}

bool Registry::wait_synced(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return synced_ || stopping_; }) && synced_;
}

int64_t Registry::lease_id() const {
  std::lock_guard lock(mu_);
  return lease_;
}

void Registry::note_error(const Error& e) {
  // mu_ held by the caller.
  const std::string msg = e.message();
  if (msg != last_error_) log_(msg);
  last_error_ = msg;
}

void Registry::deliver(const std::vector<PeerSet::Change>& changes) {
  for (const auto& c : changes) {
    if (c.kind == PeerSet::Change::Kind::Upsert) {
      if (cb_.on_peer_upsert) cb_.on_peer_upsert(c.record);
    } else if (cb_.on_peer_remove) {
      cb_.on_peer_remove(c.name);
    }
  }
}

void Registry::run() {
  using Clock = PeerSet::Clock;
  const auto keepalive_every = std::chrono::duration_cast<Clock::duration>(opts_.ttl) / 3;
  Clock::time_point next_action = Clock::now();
  unsigned attempt = 0;
  std::unique_lock lock(mu_);
  while (!stopping_) {
    // 1. What the watch saw, and grace timers: peer changes, delivered unlocked.
    std::vector<PeerSet::Change> changes;
    while (!inbox_.empty()) {
      Input in = std::move(inbox_.front());
      inbox_.pop_front();
      const auto now = Clock::now();
      std::vector<PeerSet::Change> c;
      switch (in.kind) {
        case Input::Kind::Snapshot: {
          c = set_.snapshot(in.kvs, now);
          const bool mine = std::any_of(in.kvs.begin(), in.kvs.end(), [&](const KeyValue& kv) { return kv.key == key_; });
          if (!mine && lease_ != 0) self_dirty_ = true;  // our key is gone (etcd lost it): put it back
          synced_ = true;
          cv_.notify_all();
          break;
        }
        case Input::Kind::Events:
          c = set_.apply(in.events, now);
          for (const auto& ev : in.events)
            if (ev.kv.key == key_ && ev.type == WatchEvent::Type::Delete) self_dirty_ = true;
          break;
        case Input::Kind::Up:
          watch_up_ = true;
          if (lease_ok_) last_error_.clear();
          break;
        case Input::Kind::Down:
          watch_up_ = false;
          if (in.error) note_error(*in.error);
          break;
      }
      std::move(c.begin(), c.end(), std::back_inserter(changes));
    }
    auto expired = set_.expire(Clock::now());
    std::move(expired.begin(), expired.end(), std::back_inserter(changes));
    if (!changes.empty()) {
      lock.unlock();
      deliver(changes);
      lock.lock();
      continue;
    }

    // 2. Our own record: register, re-put, or keep the lease alive.
    if (self_dirty_ && lease_ok_) next_action = std::min(next_action, Clock::now());
    if (Clock::now() >= next_action) {
      const int64_t lease = lease_;
      const bool dirty = self_dirty_;
      const std::string value = record_to_json(self_);
      lock.unlock();
      Status st;
      int64_t new_lease = lease;
      bool keepalive_only = false;
      if (lease == 0) {
        auto g = etcd_->lease_grant(opts_.ttl);
        if (g) {
          new_lease = g->id;
          auto p = etcd_->put(key_, value, new_lease);
          if (!p) st = std::unexpected(p.error());
        } else {
          st = std::unexpected(g.error());
        }
      } else if (dirty) {
        auto p = etcd_->put(key_, value, lease);
        if (!p) st = std::unexpected(p.error());
      } else {
        keepalive_only = true;
        auto k = etcd_->lease_keepalive(lease);
        if (!k) st = std::unexpected(k.error());
      }
      lock.lock();
      const auto now = Clock::now();
      if (st) {
        if (lease == 0) log_("registered " + key_ + " with lease " + std::to_string(new_lease));
        lease_ = new_lease;
        lease_ok_ = true;
        if (!keepalive_only) self_dirty_ = false;
        if (watch_up_) last_error_.clear();
        attempt = 0;
        next_action = now + keepalive_every;
      } else if (st.error().err == ENOENT && lease != 0) {
        // The lease expired (etcd was away longer than the TTL, or lost its
        // data): our key went with it. Register again at once.
        log_("lease " + std::to_string(lease) + " is gone; registering again");
        lease_ = 0;
        lease_ok_ = false;
        next_action = now;
      } else {
        lease_ok_ = false;
        if (lease == 0 && new_lease != 0) {
          // Granted but the put failed: let that lease lapse, start over.
          lease_ = 0;
        }
        note_error(st.error());
        next_action = now + std::min<Clock::duration>(opts_.backoff.delay(attempt++), keepalive_every);
      }
      continue;
    }

    auto wake = next_action;
    if (auto d = set_.next_deadline(); d && *d < wake) wake = *d;
    cv_.wait_until(lock, wake, [&] { return stopping_ || !inbox_.empty() || (self_dirty_ && lease_ok_); });
  }
}

}  // namespace sealnet::discovery
