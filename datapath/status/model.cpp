#include "datapath/status/model.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <concepts>
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

// Each part's fields, listed once in the JSON's order: to_json and from_json
// below both walk this list, so the writer and the reader cannot drift apart.
template <typename S, typename T>
concept Part = std::same_as<std::remove_const_t<S>, T>;

template <Part<SaCounters> S, typename F>
void fields(S& c, F&& f) {
  f("packets", c.packets);
  f("bytes", c.bytes);
  f("replay_errors", c.replay_errors);
  f("integrity_errors", c.integrity_errors);
  f("replay_window_errors", c.replay_window_errors);
}

template <Part<PeerSa> S, typename F>
void fields(S& sa, F&& f) {
  f("spi", sa.spi);
  f("dir", sa.dir);
  f("key", sa.key);
  f("slot", sa.slot);
  f("generation", sa.generation);
  f("mode", sa.mode);
  f("device", sa.device);
  f("counters", sa.counters);
}

template <Part<PeerStatus> S, typename F>
void fields(S& p, F&& f) {
  f("id", p.id);
  f("name", p.name);
  f("address", p.address);
  f("pod_cidrs", p.pod_cidrs);
  f("device", p.device);
  f("slot", p.slot);
  f("mode", p.mode);
  f("mode_reason", p.mode_reason);
  f("tx_key", p.tx_key);
  f("peer_keys", p.peer_keys);
  f("keys_source", p.keys_source);
  f("sas", p.sas);
  f("out_total", p.out_total);
  f("in_total", p.in_total);
  f("out_since_start", p.out_since_start);
  f("in_since_start", p.in_since_start);
}

template <Part<DeviceStatus> S, typename F>
void fields(S& d, F&& f) {
  f("name", d.name);
  f("ifindex", d.ifindex);
  f("slot", d.slot);
  f("up", d.up);
  f("verdict", d.verdict);
  f("reason", d.reason);
  f("mode", d.mode);
  f("generation", d.generation);
  f("offloaded_states", d.offloaded_states);
}

template <Part<TrafficStatus> S, typename F>
void fields(S& t, F&& f) {
  f("device", t.device);
  f("mode", t.mode);
  f("dir", t.dir);
  f("states", t.states);
  f("since_start", t.since_start);
}

template <Part<KeyStatus> S, typename F>
void fields(S& k, F&& f) {
  f("id", k.id);
  f("algorithm", k.algorithm);
  f("key_bits", k.key_bits);
  f("icv_bits", k.icv_bits);
  f("per_pair", k.per_pair);
  f("age_seconds", k.age_seconds);
}

template <Part<DiscoveryStatus> S, typename F>
void fields(S& d, F&& f) {
  f("backend", d.backend);
  f("connected", d.connected);
  f("last_error", d.last_error);
  f("peers", d.peers);
}

template <Part<EventsStatus> S, typename F>
void fields(S& e, F&& f) {
  f("drops", e.drops);
  f("flows", e.flows);
  f("sent", e.sent);
  f("lost", e.lost);
  f("rate_limited", e.rate_limited);
}

template <Part<CounterSample> S, typename F>
void fields(S& c, F&& f) {
  f("at", c.at);
  f("bpf_packets", c.bpf_packets);
  f("fallback_counts", c.fallback_counts);
  f("sa_out_packets", c.sa_out_packets);
}

template <Part<AgentStatus> S, typename F>
void fields(S& s, F&& f) {
  f("schema", s.schema);
  f("node_name", s.node_name);
  f("node_id", s.node_id);
  f("node_addresses", s.node_addresses);
  f("pod_cidrs", s.pod_cidrs);
  f("started_at", s.started_at);
  f("now", s.now);
  f("ready", s.ready);
  f("fail_closed", s.fail_closed);
  f("last_error", s.last_error);
  f("reconciles", s.reconciles);
  f("reconcile_failures", s.reconcile_failures);
  f("tx_key", s.tx_key);
  f("keys", s.keys);
  f("peers", s.peers);
  f("devices", s.devices);
  f("pod_devices", s.pod_devices);
  f("bpf_packets", s.bpf_packets);
  f("bpf_bytes", s.bpf_bytes);
  f("bpf_drop_reasons", s.bpf_drop_reasons);
  f("traffic", s.traffic);
  f("xfrm_stat", s.xfrm_stat);
  f("fallback_counts", s.fallback_counts);
  f("decisions", s.decisions);
  f("discovery", s.discovery);
  f("history", s.history);
  f("events", s.events);
}

template <typename T>
concept Model = requires(T& v) { fields(v, [](const char*, auto&) {}); };

}  // namespace

// nlohmann's (de)serialisation of every part, found by argument-dependent lookup
// (so in this namespace, not the anonymous one).

template <Model T>
void to_json(json& j, const T& v) {
  j = json::object();
  fields(v, [&](const char* key, const auto& x) { j[key] = x; });
}

template <Model T>
void from_json(const json& j, T& v) {
  expect_object(j);
  // `schema` first and required: a document of another major is refused before
  // any of its fields is read as ours.
  if constexpr (std::is_same_v<T, AgentStatus>) {
    const auto schema = j.find("schema");
    if (schema == j.end()) within("schema", [] { bad("missing: not a sealnet agent status"); });
    within("schema", [&] {
      read(*schema, v.schema);
      if (v.schema != kSchemaMajor)
        bad("major version " + std::to_string(v.schema) + " is not the one this sealnet reads (" +
            std::to_string(kSchemaMajor) + "); use a matching sealnet");
    });
  }
  fields(v, [&](const char* key, auto& x) { field(j, key, x); });
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

void sample_history(std::vector<CounterSample>& history, CounterSample now) {
  if (!history.empty() && now.at < history.back().at + kHistoryEvery) return;
  history.push_back(std::move(now));
  if (history.size() > kHistoryMax) history.erase(history.begin() + 1);
}

CounterSample counter_sample(const AgentStatus& s) {
  // Zeros are left out (a missing counter reads 0): 61 samples of every reason
  // would make /status ten times larger.
  CounterSample c{.at = s.now, .bpf_packets = {}, .fallback_counts = {}, .sa_out_packets = {}};
  for (const auto& [k, v] : s.bpf_packets)
    if (v) c.bpf_packets.emplace(k, v);
  for (const auto& [k, v] : s.fallback_counts)
    if (v) c.fallback_counts.emplace(k, v);
  for (const auto& p : s.peers)
    for (const auto& sa : p.sas)
      if (sa.dir == "out")
        c.sa_out_packets[sa.device.empty() ? std::string("software") : sa.device + " " + sa.mode] +=
            sa.counters.packets;
  return c;
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
