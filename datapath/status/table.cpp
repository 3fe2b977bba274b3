#include "datapath/status/table.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <utility>
#include <vector>

#include "datapath/status/text.h"

namespace sealnet::status {

namespace {

// Display width: UTF-8 continuation bytes take no column.
size_t width(std::string_view s) {
  return static_cast<size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xc0) != 0x80; }));
}

enum class Align { Left, Right };
struct Column {
  std::string title;
  Align align = Align::Left;
};

// Plain aligned columns separated by two spaces; the last column is not padded
// so long free text (reasons) only widens its own line.
class Table {
 public:
  explicit Table(std::vector<Column> cols) : cols_(std::move(cols)) {}
  void add(std::vector<std::string> row) {
    row.resize(cols_.size());
    for (auto& cell : row) cell = printable(cell);
    rows_.push_back(std::move(row));
  }
  bool empty() const { return rows_.empty(); }
  std::string render(std::string_view indent = "  ") const {
    std::vector<size_t> w(cols_.size());
    for (size_t i = 0; i < cols_.size(); ++i) {
      w[i] = width(cols_[i].title);
      for (const auto& r : rows_) w[i] = std::max(w[i], width(r[i]));
    }
    std::string out;
    auto line = [&](const auto& cell_of) {
      std::string l(indent);
      for (size_t i = 0; i < cols_.size(); ++i) {
        const std::string& c = cell_of(i);
        const size_t pad = w[i] - width(c);
        const bool last = i + 1 == cols_.size();
        if (cols_[i].align == Align::Right) l.append(pad, ' ');
        l += c;
        if (cols_[i].align == Align::Left && !last) l.append(pad, ' ');
        if (!last) l += "  ";
      }
      while (!l.empty() && l.back() == ' ') l.pop_back();
      out += l + "\n";
    };
    line([&](size_t i) -> const std::string& { return cols_[i].title; });
    for (const auto& r : rows_) line([&](size_t i) -> const std::string& { return r[i]; });
    return out;
  }

 private:
  std::vector<Column> cols_;
  std::vector<std::vector<std::string>> rows_;
};

// 1.5M, 12M, 123M: two or three significant digits are enough to read a rate.
std::string one_decimal(double v, const char* unit) {
  char buf[32];
  std::snprintf(buf, sizeof buf, v < 9.95 ? "%.1f%s" : "%.0f%s", v, unit);
  return buf;
}

// Packet counts: exact below 10000, then k/M/G/T (SI).
std::string count_str(uint64_t n) {
  if (n < 10000) return std::to_string(n);
  static constexpr const char* kUnits[] = {"k", "M", "G", "T", "P", "E"};
  double v = static_cast<double>(n) / 1000;
  size_t u = 0;
  while (v >= 999.5 && u + 1 < std::size(kUnits)) v /= 1000, ++u;
  return one_decimal(v, kUnits[u]);
}

// Bytes: B, then KiB/MiB/... (IEC).
std::string bytes_str(uint64_t n) {
  if (n < 1024) return std::to_string(n) + "B";
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(n) / 1024;
  size_t u = 0;
  while (v >= 1023.5 && u + 1 < std::size(kUnits)) v /= 1024, ++u;
  return one_decimal(v, kUnits[u]);
}

// 42s, 5m07s, 3h04m, 2d03h.
std::string age_str(uint64_t s) {
  char buf[48];
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%llus", static_cast<unsigned long long>(s));
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%llum%02llus", static_cast<unsigned long long>(s / 60),
                  static_cast<unsigned long long>(s % 60));
  else if (s < 86400)
    std::snprintf(buf, sizeof buf, "%lluh%02llum", static_cast<unsigned long long>(s / 3600),
                  static_cast<unsigned long long>(s / 60 % 60));
  else
    std::snprintf(buf, sizeof buf, "%llud%02lluh", static_cast<unsigned long long>(s / 86400),
                  static_cast<unsigned long long>(s / 3600 % 24));
  return buf;
}

std::string joined(const std::vector<std::string>& v, std::string_view sep = ", ") {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

std::string key_list(const std::vector<uint8_t>& keys) {
  std::string out;
  for (uint8_t k : keys) out += (out.empty() ? "" : ",") + std::to_string(k);
  return out.empty() ? "-" : out;
}

std::string or_dash(const std::string& s) { return s.empty() ? "-" : s; }

// "-" when clean, else the non-zero kinds, short: "r3 i1" (replay, integrity
// (ICV), replay window); the table prints the legend when one shows.
std::string errors_str(const SaCounters& a, const SaCounters& b = {}) {
  std::string out;
  auto add = [&](char what, uint64_t n) {
    if (n == 0) return;
    out += (out.empty() ? "" : " ") + std::string(1, what) + count_str(n);
  };
  add('r', a.replay_errors + b.replay_errors);
  add('i', a.integrity_errors + b.integrity_errors);
  add('w', a.replay_window_errors + b.replay_window_errors);
  return out.empty() ? "-" : out;
}

constexpr const char* kErrorLegend = "  errors: r replay, i integrity (ICV), w replay window\n";

std::string traffic_str(const SaCounters& c) { return count_str(c.packets) + "/" + bytes_str(c.bytes); }

bool has_errors(const PeerStatus& p) { return errors_str(p.out_total, p.in_total) != "-"; }
bool sends_nothing(const PeerStatus& p) { return p.tx_key == 0; }
// A peer whose line a user must see first at 5,000 peers.
bool is_problem(const PeerStatus& p) {
  return p.mode.empty() || p.mode == "none" || sends_nothing(p) || has_errors(p);
}

// "5000: 4000 packet, 990 software, 10 none; 10 sending nothing (no key), 3 with errors"
std::string peers_summary(const AgentStatus& s) {
  std::map<std::string, size_t> modes;
  size_t nothing = 0, errors = 0;
  for (const auto& p : s.peers) {
    ++modes[p.mode.empty() ? "none" : p.mode];
    nothing += sends_nothing(p);
    errors += has_errors(p);
  }
  std::string out = std::to_string(s.peers.size());
  std::string by;
  for (const char* m : {"packet", "crypto", "software", "none"}) {
    if (auto it = modes.find(m); it != modes.end()) by += (by.empty() ? "" : ", ") + std::to_string(it->second) + " " + m;
    modes.erase(m);
  }
  for (const auto& [m, n] : modes) by += (by.empty() ? "" : ", ") + std::to_string(n) + " " + m;
  if (!by.empty()) out += ": " + by;
  std::string problems;
  if (nothing) problems += std::to_string(nothing) + " sending nothing (no key)";
  if (errors) problems += (problems.empty() ? "" : ", ") + std::to_string(errors) + " with errors";
  if (!problems.empty()) out += "; " + problems;
  return out;
}

}  // namespace

const PeerStatus* find_peer(const AgentStatus& s, std::string_view want) {
  for (const auto& p : s.peers)
    if (peer_name(p) == want) return &p;
  for (const auto& p : s.peers)
    if (!p.address.empty() && p.address == want) return &p;
  return nullptr;
}

std::string render_table(const AgentStatus& s, const TableOptions& options) {
  std::string out;
  auto field = [&](std::string_view name, const std::string& value) {
    std::string n(name);
    n.resize(std::max<size_t>(n.size() + 1, 12), ' ');
    out += n + printable(value) + "\n";
  };
  std::string node = or_dash(s.node_name) + " (id " + std::to_string(s.node_id) + ")";
  if (s.started_at != 0 && s.now >= s.started_at) node += ", up " + age_str(s.now - s.started_at);
  field("node", node);
  field("addresses", s.node_addresses.empty() ? "-" : joined(s.node_addresses));
  field("pod cidrs", s.pod_cidrs.empty() ? "-" : joined(s.pod_cidrs));
  field("state", std::string(s.ready ? "ready" : "NOT READY") + ", " +
                     (s.fail_closed ? "fail-closed" : "fail-open") + ", " + std::to_string(s.reconciles) +
                     " reconciles, " + std::to_string(s.reconcile_failures) + " failed");
  field("last error", s.last_error.empty() ? "none" : s.last_error);
  field("peers", peers_summary(s));
  {
    size_t out_n = 0, in_n = 0;
    for (const auto& p : s.peers)
      for (const auto& sa : p.sas) (sa.dir == "out" ? out_n : in_n) += 1;
    field("states", std::to_string(out_n + in_n) + " (" + std::to_string(out_n) + " out, " + std::to_string(in_n) +
                        " in)");
  }
  // AEAD keys without "+" (auth+enc keys name two algorithms joined by "+"):
  // the config allowed them, and every node pair shares one key.
  std::vector<std::string> shared;
  for (const auto& k : s.keys)
    if (!k.per_pair && k.algorithm.find('+') == std::string::npos) shared.push_back(std::to_string(k.id));
  if (!shared.empty())
    field("WARNING", "shared AEAD key " + joined(shared) + ": nonce reuse across pairs (CVE-2024-28860); use \"<id>+\"");
  std::string disc = or_dash(s.discovery.backend) + ", " +
                     (s.discovery.connected ? "connected" : "DISCONNECTED") + ", " +
                     std::to_string(s.discovery.peers) + " peers";
  if (!s.discovery.last_error.empty()) disc += ", last error: " + s.discovery.last_error;
  field("discovery", disc);
  field("from_pod on", s.pod_devices.empty() ? "-" : joined(s.pod_devices));

  out += "\nkeys (tx " + (s.tx_key ? std::to_string(s.tx_key) : std::string("none")) + ")\n";
  if (s.keys.empty()) {
    out += "  none\n";
  } else {
    Table t({{"ID"}, {"ALGORITHM"}, {"BITS/ICV", Align::Right}, {"AGE", Align::Right}});
    for (const auto& k : s.keys)
      t.add({std::to_string(k.id) + (k.per_pair ? "+" : "") + (k.id == s.tx_key ? " tx" : ""), k.algorithm,
             std::to_string(k.key_bits) + "/" + std::to_string(k.icv_bits), age_str(k.age_seconds)});
    out += t.render();
  }

  // The peers shown: the one asked for, or problems first, then the others, up
  // to the limit.
  std::vector<const PeerStatus*> shown;
  if (!options.peer.empty()) {
    if (const auto* p = find_peer(s, options.peer)) shown.push_back(p);
  } else {
    for (int pass = 0; pass < 2; ++pass)
      for (const auto& p : s.peers)
        if (is_problem(p) == (pass == 0) && shown.size() < options.limit) shown.push_back(&p);
  }
  const size_t hidden = s.peers.size() - shown.size();
  out += "\npeers (" + std::to_string(s.peers.size());
  if (!options.peer.empty())
    out += ", " + std::to_string(shown.size()) + " shown: --peer " + printable(options.peer);
  else if (hidden != 0)
    out += ", " + std::to_string(shown.size()) + " shown: problems first; --peer NAME, --limit N or --all for more";
  out += ")\n";
  if (s.peers.empty()) {
    out += "  none\n";
  } else {
    // Fixed-width facts first, the free-text reason last: a long reason widens
    // only its own line. Peer ids are in --json.
    Table t({{"PEER"}, {"ADDRESS"}, {"DEVICE"}, {"MODE"}, {"TX", Align::Right}, {"KEYS"},
             {"OUT PKT/B", Align::Right}, {"IN PKT/B", Align::Right}, {"ERRORS"}, {"WHY"}});
    bool errors = false;
    for (const auto* pp : shown) {
      const auto& p = *pp;
      const std::string e = errors_str(p.out_total, p.in_total);
      errors |= e != "-";
      t.add({peer_name(p), or_dash(p.address), or_dash(p.device), or_dash(p.mode),
             p.tx_key ? std::to_string(p.tx_key) : "-",
             key_list(p.peer_keys) + (p.keys_source.empty() ? "" : " " + p.keys_source), traffic_str(p.out_total),
             traffic_str(p.in_total), e, or_dash(p.mode_reason)});
    }
    if (!shown.empty()) out += t.render();
    if (errors) out += kErrorLegend;
    if (options.peer.empty() && hidden != 0) out += "  ... " + std::to_string(hidden) + " more peers not shown\n";
  }

  size_t n_sas = 0, shown_sas = 0;
  for (const auto& p : s.peers) n_sas += p.sas.size();
  for (const auto* p : shown) shown_sas += p->sas.size();
  if (n_sas != 0) {
    out += "\nstates (" + std::to_string(n_sas);
    if (shown_sas != n_sas) out += ", " + std::to_string(shown_sas) + " shown: those of the peers shown";
    out += ")\n";
    Table t({{"PEER"}, {"DIR"}, {"SPI"}, {"KEY", Align::Right}, {"SLOT", Align::Right}, {"GEN", Align::Right},
             {"MODE"}, {"DEVICE"}, {"PACKETS", Align::Right}, {"BYTES", Align::Right}, {"ERRORS"}});
    bool errors = false;
    for (const auto* pp : shown)
      for (const auto& sa : pp->sas) {
        const auto& p = *pp;
        const std::string e = errors_str(sa.counters);
        errors |= e != "-";
        t.add({peer_name(p), sa.dir, spi_str(sa.spi), std::to_string(sa.key), std::to_string(sa.slot),
               std::to_string(sa.generation), or_dash(sa.mode), or_dash(sa.device), count_str(sa.counters.packets),
               bytes_str(sa.counters.bytes), e});
      }
    out += t.empty() ? "  none\n" : t.render();
    if (errors) out += kErrorLegend;
  }

  out += "\ndevices (" + std::to_string(s.devices.size()) + ")\n";
  if (s.devices.empty()) {
    out += "  none\n";
  } else {
    Table t({{"DEVICE"}, {"SLOT", Align::Right}, {"UP"}, {"VERDICT"}, {"MODE"}, {"GEN", Align::Right},
             {"OFFLOADED", Align::Right}, {"REASON"}});
    for (const auto& d : s.devices)
      t.add({d.name, std::to_string(d.slot), d.up ? "up" : "DOWN", or_dash(d.verdict), or_dash(d.mode),
             std::to_string(d.generation), std::to_string(d.offloaded_states), or_dash(d.reason)});
    out += t.render();
  }

  out += "\nbpf counters\n";
  {
    Table t({{"REASON"}, {"PACKETS", Align::Right}, {"BYTES", Align::Right}});
    std::map<std::string, std::pair<uint64_t, uint64_t>> rows;
    for (const auto& [name, n] : s.bpf_packets) rows[name].first = n;
    for (const auto& [name, n] : s.bpf_bytes) rows[name].second = n;
    for (const auto& [name, v] : rows)
      if (v.first != 0 || v.second != 0) t.add({name, std::to_string(v.first), std::to_string(v.second)});
    out += t.empty() ? "  none\n" : t.render();
  }

  out += "\nxfrm errors (/proc/net/xfrm_stat)\n";
  {
    Table t({{"COUNTER"}, {"COUNT", Align::Right}});
    for (const auto& [name, n] : s.xfrm_stat)
      if (n != 0) t.add({name, std::to_string(n)});
    out += t.empty() ? "  none\n" : t.render();
  }

  out += "\nfallback decisions\n";
  {
    Table t({{"REASON"}, {"COUNT", Align::Right}});
    for (const auto& [name, n] : s.fallback_counts)
      if (n != 0) t.add({name, std::to_string(n)});
    out += t.empty() ? "  none\n" : t.render();
  }
  if (!s.decisions.empty()) {
    // The agent keeps the last few; print the newest ten at most.
    constexpr size_t kShown = 10;
    const size_t from = s.decisions.size() > kShown ? s.decisions.size() - kShown : 0;
    out += "\nlast decisions";
    if (from != 0) out += " (" + std::to_string(from) + " older not shown)";
    out += "\n";
    for (size_t i = from; i < s.decisions.size(); ++i) out += "  " + printable(s.decisions[i]) + "\n";
  }
  return out;
}

}  // namespace sealnet::status
