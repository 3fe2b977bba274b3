#include "datapath/status/model.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <limits>
#include <type_traits>

namespace sealnet::status {

// Insertion order: `--json` reads top-down like the struct (schema first).
using json = nlohmann::ordered_json;

namespace {

constexpr const char* kJsonOp = "parse agent status";

// A value the reader cannot take: the field path to it and what is wrong. The
// from_json overloads throw it; from_json(text) turns it into an Error, so no
// exception leaves this file.
struct BadField {
  std::vector<std::string> path;  // outermost first; "[i]" for a list item
  std::string why;

  std::string where() const {
    std::string out;
    for (const auto& p : path) out += (out.empty() || p.starts_with('[') ? "" : ".") + p;
    return out;
  }
};

std::string kind_of(const json& v) {
  switch (v.type()) {
    case json::value_t::object: return "an object";
    case json::value_t::array: return "a list";
    case json::value_t::string: return "a string";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::number_unsigned: return "a number";
    case json::value_t::number_integer: return "a negative number";
    case json::value_t::number_float: return "a fraction";
    default: return "null";
  }
}

[[noreturn]] void bad(std::string why) { throw BadField{{}, std::move(why)}; }

// Runs `read` for the part `name` of the value being read, so that an error
// deeper down names its whole path.
template <typename F>
void within(std::string name, F&& read) {
  try {
    read();
  } catch (BadField& e) {
    e.path.insert(e.path.begin(), std::move(name));
    throw;
  }
}

// One value into one field. nlohmann's own conversions would take 300 into a
// uint8_t or 1.5 into a counter; these refuse, naming the value.
template <typename T>
  requires std::is_unsigned_v<T> && (!std::is_same_v<T, bool>)
void read(const json& v, T& out) {
  if (!v.is_number_unsigned()) bad("expected an unsigned integer, got " + kind_of(v));
  const auto n = v.get<uint64_t>();
  if (n > std::numeric_limits<T>::max())
    bad(std::to_string(n) + " is out of range (0.." + std::to_string(uint64_t{std::numeric_limits<T>::max()}) + ")");
  out = static_cast<T>(n);
}

void read(const json& v, int& out) {
  if (!v.is_number_integer()) bad("expected an integer, got " + kind_of(v));
  const auto n = v.get<int64_t>();
  if (n < std::numeric_limits<int>::min() || n > std::numeric_limits<int>::max())
    bad(std::to_string(n) + " is out of range");
  out = static_cast<int>(n);
}

void read(const json& v, bool& out) {
  if (!v.is_boolean()) bad("expected true or false, got " + kind_of(v));
  out = v.get<bool>();
}

void read(const json& v, std::string& out) {
  if (!v.is_string()) bad("expected a string, got " + kind_of(v));
  out = v.get<std::string>();
}

void read(const json& v, std::map<std::string, uint64_t>& out) {
  if (!v.is_object()) bad("expected an object, got " + kind_of(v));
  out.clear();
  for (const auto& [k, item] : v.items()) within(k, [&] { read(item, out[k]); });
}

template <typename T>
void read(const json& v, std::vector<T>& out);

// The model's structs: nlohmann calls their from_json below.
template <typename T>
  requires std::is_class_v<T>
void read(const json& v, T& out) {
  v.get_to(out);
}

template <typename T>
void read(const json& v, std::vector<T>& out) {
  if (!v.is_array()) bad("expected a list, got " + kind_of(v));
  out.assign(v.size(), T{});
  for (size_t i = 0; i < v.size(); ++i) within("[" + std::to_string(i) + "]", [&] { read(v[i], out[i]); });
}

void expect_object(const json& v) {
  if (!v.is_object()) bad("expected an object, got " + kind_of(v));
}

// Missing or null keeps the default (an older writer of the same major); fields
// not asked for are never looked at (a newer one may add some).
template <typename T>
void field(const json& obj, const char* key, T& out) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return;
  within(key, [&] { read(*it, out); });
}

}  // namespace

// nlohmann's (de)serialisation of each part, found by argument-dependent lookup,
// so they live in this namespace. Field order is the JSON's order.

void to_json(json& j, const SaCounters& c) {
  j = {{"packets", c.packets},
       {"bytes", c.bytes},
       {"replay_errors", c.replay_errors},
       {"integrity_errors", c.integrity_errors},
       {"replay_window_errors", c.replay_window_errors}};
}

void from_json(const json& j, SaCounters& c) {
  expect_object(j);
  field(j, "packets", c.packets);
  field(j, "bytes", c.bytes);
  field(j, "replay_errors", c.replay_errors);
  field(j, "integrity_errors", c.integrity_errors);
  field(j, "replay_window_errors", c.replay_window_errors);
}

void to_json(json& j, const PeerSa& sa) {
  j = {{"spi", sa.spi},   {"dir", sa.dir},   {"key", sa.key},       {"slot", sa.slot},
       {"generation", sa.generation}, {"mode", sa.mode}, {"device", sa.device}, {"counters", sa.counters}};
}

void from_json(const json& j, PeerSa& sa) {
  expect_object(j);
  field(j, "spi", sa.spi);
  field(j, "dir", sa.dir);
  field(j, "key", sa.key);
  field(j, "slot", sa.slot);
  field(j, "generation", sa.generation);
  field(j, "mode", sa.mode);
  field(j, "device", sa.device);
  field(j, "counters", sa.counters);
}

void to_json(json& j, const PeerStatus& p) {
  j = {{"id", p.id},
       {"name", p.name},
       {"address", p.address},
       {"pod_cidrs", p.pod_cidrs},
       {"device", p.device},
       {"slot", p.slot},
       {"mode", p.mode},
       {"mode_reason", p.mode_reason},
       {"tx_key", p.tx_key},
       {"peer_keys", p.peer_keys},
       {"keys_source", p.keys_source},
       {"sas", p.sas},
       {"out_total", p.out_total},
       {"in_total", p.in_total}};
}

void from_json(const json& j, PeerStatus& p) {
  expect_object(j);
  field(j, "id", p.id);
  field(j, "name", p.name);
  field(j, "address", p.address);
  field(j, "pod_cidrs", p.pod_cidrs);
  field(j, "device", p.device);
  field(j, "slot", p.slot);
  field(j, "mode", p.mode);
  field(j, "mode_reason", p.mode_reason);
  field(j, "tx_key", p.tx_key);
  field(j, "peer_keys", p.peer_keys);
  field(j, "keys_source", p.keys_source);
  field(j, "sas", p.sas);
  field(j, "out_total", p.out_total);
  field(j, "in_total", p.in_total);
}

void to_json(json& j, const DeviceStatus& d) {
  j = {{"name", d.name},
       {"ifindex", d.ifindex},
       {"slot", d.slot},
       {"up", d.up},
       {"verdict", d.verdict},
       {"reason", d.reason},
       {"mode", d.mode},
       {"generation", d.generation},
       {"offloaded_states", d.offloaded_states}};
}

void from_json(const json& j, DeviceStatus& d) {
  expect_object(j);
  field(j, "name", d.name);
  field(j, "ifindex", d.ifindex);
  field(j, "slot", d.slot);
  field(j, "up", d.up);
  field(j, "verdict", d.verdict);
  field(j, "reason", d.reason);
  field(j, "mode", d.mode);
  field(j, "generation", d.generation);
  field(j, "offloaded_states", d.offloaded_states);
}

void to_json(json& j, const KeyStatus& k) {
  j = {{"id", k.id},
       {"algorithm", k.algorithm},
       {"key_bits", k.key_bits},
       {"icv_bits", k.icv_bits},
       {"per_pair", k.per_pair},
       {"age_seconds", k.age_seconds}};
}

void from_json(const json& j, KeyStatus& k) {
  expect_object(j);
  field(j, "id", k.id);
  field(j, "algorithm", k.algorithm);
  field(j, "key_bits", k.key_bits);
  field(j, "icv_bits", k.icv_bits);
  field(j, "per_pair", k.per_pair);
  field(j, "age_seconds", k.age_seconds);
}

void to_json(json& j, const DiscoveryStatus& d) {
  j = {{"backend", d.backend}, {"connected", d.connected}, {"last_error", d.last_error}, {"peers", d.peers}};
}

void from_json(const json& j, DiscoveryStatus& d) {
  expect_object(j);
  field(j, "backend", d.backend);
  field(j, "connected", d.connected);
  field(j, "last_error", d.last_error);
  field(j, "peers", d.peers);
}

void to_json(json& j, const AgentStatus& s) {
  j = {{"schema", s.schema},
       {"node_name", s.node_name},
       {"node_id", s.node_id},
       {"node_addresses", s.node_addresses},
       {"pod_cidrs", s.pod_cidrs},
       {"started_at", s.started_at},
       {"now", s.now},
       {"ready", s.ready},
       {"fail_closed", s.fail_closed},
       {"last_error", s.last_error},
       {"reconciles", s.reconciles},
       {"reconcile_failures", s.reconcile_failures},
       {"tx_key", s.tx_key},
       {"keys", s.keys},
       {"peers", s.peers},
       {"devices", s.devices},
       {"pod_devices", s.pod_devices},
       {"bpf_packets", s.bpf_packets},
       {"bpf_bytes", s.bpf_bytes},
       {"xfrm_stat", s.xfrm_stat},
       {"fallback_counts", s.fallback_counts},
       {"decisions", s.decisions},
       {"discovery", s.discovery}};
}

// `schema` first and required: a document of another major is refused before
// any of its fields is read as ours.
void from_json(const json& j, AgentStatus& s) {
  expect_object(j);
  const auto schema = j.find("schema");
  if (schema == j.end()) within("schema", [] { bad("missing: not a sealnet agent status"); });
  within("schema", [&] {
    read(*schema, s.schema);
    if (s.schema != kSchemaMajor)
      bad("major version " + std::to_string(s.schema) + " is not the one this sealnet reads (" +
          std::to_string(kSchemaMajor) + "); use a matching sealnet");
  });
  field(j, "node_name", s.node_name);
  field(j, "node_id", s.node_id);
  field(j, "node_addresses", s.node_addresses);
  field(j, "pod_cidrs", s.pod_cidrs);
  field(j, "started_at", s.started_at);
  field(j, "now", s.now);
  field(j, "ready", s.ready);
  field(j, "fail_closed", s.fail_closed);
  field(j, "last_error", s.last_error);
  field(j, "reconciles", s.reconciles);
  field(j, "reconcile_failures", s.reconcile_failures);
  field(j, "tx_key", s.tx_key);
  field(j, "keys", s.keys);
  field(j, "peers", s.peers);
  field(j, "devices", s.devices);
  field(j, "pod_devices", s.pod_devices);
  field(j, "bpf_packets", s.bpf_packets);
  field(j, "bpf_bytes", s.bpf_bytes);
  field(j, "xfrm_stat", s.xfrm_stat);
  field(j, "fallback_counts", s.fallback_counts);
  field(j, "decisions", s.decisions);
  field(j, "discovery", s.discovery);
}

std::string to_json(const AgentStatus& s) {
  // Invalid UTF-8 (a device or peer name is bytes) is replaced, not thrown on.
  return json(s).dump(2, ' ', false, json::error_handler_t::replace);
}

Result<AgentStatus> from_json(std::string_view text) {
  try {
    return json::parse(text).get<AgentStatus>();
  } catch (const json::parse_error& e) {
    return fail(EINVAL, kJsonOp, "(document)", std::string("not JSON: ") + e.what());
  } catch (const BadField& e) {
    const std::string where = e.where();
    return fail(EINVAL, kJsonOp, where.empty() ? "(document)" : where, e.why);
  }
}

std::map<std::string, uint64_t> parse_xfrm_stat(std::string_view text) {
  std::map<std::string, uint64_t> out;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
    auto name_end = std::find_if(line.begin(), line.end(), is_space);
    const std::string_view name(line.begin(), name_end);
    auto value_begin = std::find_if_not(name_end, line.end(), is_space);
    auto value_end = std::find_if(value_begin, line.end(), is_space);
    uint64_t v = 0;
    auto [ptr, ec] = std::from_chars(value_begin, value_end, v);
    // A line that is not "Name <number>" is skipped: the kernel only ever adds counters.
    if (name.empty() || value_begin == value_end || ec != std::errc() || ptr != value_end) continue;
    out[std::string(name)] = v;
  }
  return out;
}

}  // namespace sealnet::status
