#include "datapath/status.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

// The Debian library is built with these on (cpp-httplib.pc): the class layouts
// depend on them, so the target adds the same defines. Only plain HTTP is used.
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <limits>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>

#include "core/fd.h"
#include "core/ip.h"

namespace sealnet::status {

namespace {

// Insertion order: `--json` reads top-down like the struct (schema first).
using json = nlohmann::ordered_json;

// ---------------------------------------------------------------------------
// JSON

constexpr const char* kJsonOp = "parse agent status";

json counters_json(const SaCounters& c) {
  return {{"packets", c.packets},
          {"bytes", c.bytes},
          {"replay_errors", c.replay_errors},
          {"integrity_errors", c.integrity_errors},
          {"replay_window_errors", c.replay_window_errors}};
}

std::string join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::unexpected<Error> bad(const std::string& path, const std::string& what) {
  return fail(EINVAL, kJsonOp, path, what);
}

std::string kind_of(const json& v) {
  switch (v.type()) {
    case json::value_t::object: return "an object";
    case json::value_t::array: return "a list";
    case json::value_t::string: return "a string";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::number_integer: return "a negative number";
    case json::value_t::number_float: return "a fraction";
    default: return "null";
  }
}

// Each reader fills `out` from one value, or names the path and what is wrong.
// A missing field keeps its default: a writer of the same major may be older.
template <typename T>
  requires std::is_unsigned_v<T> && (!std::is_same_v<T, bool>)
Status read_value(const json& v, const std::string& path, T& out) {
  if (!v.is_number_unsigned())
    return bad(path, "expected an unsigned integer, got " + kind_of(v));
  const auto n = v.get<uint64_t>();
  if (n > std::numeric_limits<T>::max())
    return bad(path, std::to_string(n) + " is out of range (0.." +
                         std::to_string(uint64_t{std::numeric_limits<T>::max()}) + ")");
  out = static_cast<T>(n);
  return {};
}

Status read_value(const json& v, const std::string& path, int& out) {
  if (!v.is_number_integer()) return bad(path, "expected an integer, got " + kind_of(v));
  const auto n = v.get<int64_t>();
  if (n < std::numeric_limits<int>::min() || n > std::numeric_limits<int>::max())
    return bad(path, std::to_string(n) + " is out of range");
  out = static_cast<int>(n);
  return {};
}

Status read_value(const json& v, const std::string& path, bool& out) {
  if (!v.is_boolean()) return bad(path, "expected true or false, got " + kind_of(v));
  out = v.get<bool>();
  return {};
}

Status read_value(const json& v, const std::string& path, std::string& out) {
  if (!v.is_string()) return bad(path, "expected a string, got " + kind_of(v));
  out = v.get<std::string>();
  return {};
}

template <typename T>
Status read_value(const json& v, const std::string& path, std::vector<T>& out);
Status read_value(const json& v, const std::string& path, std::map<std::string, uint64_t>& out);
Status read_value(const json& v, const std::string& path, SaCounters& out);
Status read_value(const json& v, const std::string& path, PeerSa& out);
Status read_value(const json& v, const std::string& path, PeerStatus& out);
Status read_value(const json& v, const std::string& path, DeviceStatus& out);
Status read_value(const json& v, const std::string& path, KeyStatus& out);
Status read_value(const json& v, const std::string& path, DiscoveryStatus& out);

template <typename T>
Status read_value(const json& v, const std::string& path, std::vector<T>& out) {
  if (!v.is_array()) return bad(path, "expected a list, got " + kind_of(v));
  out.clear();
  out.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    T item{};
    if (auto r = read_value(v[i], path + "[" + std::to_string(i) + "]", item); !r) return r;
    out.push_back(std::move(item));
  }
  return {};
}

Status read_value(const json& v, const std::string& path, std::map<std::string, uint64_t>& out) {
  if (!v.is_object()) return bad(path, "expected an object, got " + kind_of(v));
  out.clear();
  for (const auto& [k, item] : v.items()) {
    uint64_t n = 0;
    if (auto r = read_value(item, join(path, k), n); !r) return r;
    out.emplace(k, n);
  }
  return {};
}

// Reads the fields of one object; unknown fields are ignored (a newer agent may
// add some). Stops at the first error.
class Fields {
 public:
  Fields(const json& obj, const std::string& path) : obj_(obj), path_(path) {}

  Status object_check() const {
    if (!obj_.is_object()) return bad(path_.empty() ? "(document)" : path_, "expected an object, got " + kind_of(obj_));
    return {};
  }
  template <typename T>
  Fields& get(const char* key, T& out) {
    if (!status_) return *this;
    const auto it = obj_.find(key);
    if (it == obj_.end() || it->is_null()) return *this;
    status_ = read_value(*it, join(path_, key), out);
    return *this;
  }
  Status done() const { return status_; }

 private:
  const json& obj_;
  const std::string& path_;
  Status status_;
};

Status read_value(const json& v, const std::string& path, SaCounters& out) {
  Fields f(v, path);
  if (auto r = f.object_check(); !r) return r;
  return f.get("packets", out.packets)
      .get("bytes", out.bytes)
      .get("replay_errors", out.replay_errors)
      .get("integrity_errors", out.integrity_errors)
      .get("replay_window_errors", out.replay_window_errors)
      .done();
}

Status read_value(const json& v, const std::string& path, PeerSa& out) {
  Fields f(v, path);
  if (auto r = f.object_check(); !r) return r;
  return f.get("spi", out.spi)
      .get("dir", out.dir)
      .get("key", out.key)
      .get("slot", out.slot)
      .get("generation", out.generation)
      .get("mode", out.mode)
      .get("device", out.device)
      .get("counters", out.counters)
      .done();
}

Status read_value(const json& v, const std::string& path, PeerStatus& out) {
  Fields f(v, path);
  if (auto r = f.object_check(); !r) return r;
  return f.get("id", out.id)
      .get("name", out.name)
      .get("address", out.address)
      .get("pod_cidrs", out.pod_cidrs)
      .get("device", out.device)
      .get("slot", out.slot)
      .get("mode", out.mode)
      .get("mode_reason", out.mode_reason)
      .get("tx_key", out.tx_key)
      .get("peer_keys", out.peer_keys)
      .get("keys_source", out.keys_source)
      .get("sas", out.sas)
      .get("out_total", out.out_total)
      .get("in_total", out.in_total)
      .done();
}

Status read_value(const json& v, const std::string& path, DeviceStatus& out) {
  Fields f(v, path);
  if (auto r = f.object_check(); !r) return r;
  return f.get("name", out.name)
      .get("ifindex", out.ifindex)
      .get("slot", out.slot)
      .get("up", out.up)
      .get("verdict", out.verdict)
      .get("reason", out.reason)
      .get("mode", out.mode)
      .get("generation", out.generation)
      .get("offloaded_states", out.offloaded_states)
      .done();
}

Status read_value(const json& v, const std::string& path, KeyStatus& out) {
  Fields f(v, path);
  if (auto r = f.object_check(); !r) return r;
  return f.get("id", out.id)
      .get("algorithm", out.algorithm)
      .get("key_bits", out.key_bits)
      .get("icv_bits", out.icv_bits)
      .get("per_pair", out.per_pair)
      .get("age_seconds", out.age_seconds)
      .done();
}

Status read_value(const json& v, const std::string& path, DiscoveryStatus& out) {
  Fields f(v, path);
  if (auto r = f.object_check(); !r) return r;
  return f.get("backend", out.backend)
      .get("connected", out.connected)
      .get("last_error", out.last_error)
      .get("peers", out.peers)
      .done();
}

// ---------------------------------------------------------------------------
// Text helpers

// Names and reasons come from the kernel, the config and peers: a control
// character must not break the table or reach the terminal.
std::string printable(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return out;
}

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

std::string spi_str(uint32_t spi) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", spi);
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

std::string peer_name(const PeerStatus& p) {
  return p.name.empty() ? "node-" + std::to_string(p.id) : p.name;
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

// ---------------------------------------------------------------------------
// Prometheus text exposition 0.0.4

std::string escape_label(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

using Labels = std::vector<std::pair<std::string, std::string>>;

class Exposition {
 public:
  // Every family gets HELP and TYPE, with or without samples, so the set of
  // names a scraper sees does not depend on the state.
  Exposition& family(std::string name, const char* type, const char* help) {
    name_ = std::move(name);
    out_ += "# HELP " + name_ + " " + help + "\n# TYPE " + name_ + " " + type + "\n";
    return *this;
  }
  Exposition& sample(const Labels& labels, uint64_t value) {
    out_ += name_;
    if (!labels.empty()) {
      out_ += "{";
      for (size_t i = 0; i < labels.size(); ++i) {
        if (i) out_ += ",";
        out_ += labels[i].first + "=\"" + escape_label(labels[i].second) + "\"";
      }
      out_ += "}";
    }
    out_ += " " + std::to_string(value) + "\n";
    return *this;
  }
  Exposition& sample(uint64_t value) { return sample({}, value); }
  std::string take() { return std::move(out_); }

 private:
  std::string name_;
  std::string out_;
};

// ---------------------------------------------------------------------------
// Listen address and endpoint

struct HostPort {
  IpAddr addr;
  std::string host;  // without brackets
  uint16_t port = 0;
};

enum class Side { Listen, Connect };

// "ADDRESS:PORT" or "[v6]:PORT". Listening takes an address and port 0 (a free
// port); connecting takes a host name too ("localhost:9962") but not port 0.
Result<HostPort> parse_host_port(const std::string& text, const char* op, Side side) {
  auto bad_addr = [&] {
    return fail(EINVAL, op, text, "expected ADDRESS:PORT (IPv6 as [ADDRESS]:PORT)");
  };
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) return bad_addr();
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  else if (host.find(':') != std::string::npos)
    return bad_addr();  // IPv6 needs brackets, or the port is ambiguous
  const std::string_view port(text.data() + colon + 1, text.size() - colon - 1);
  unsigned p = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || p > 65535 ||
      (p == 0 && side == Side::Connect))
    return bad_addr();
  auto addr = IpAddr::parse(host);
  const bool name = side == Side::Connect && !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.';
  });
  if (!addr && !name) return bad_addr();
  return HostPort{addr ? *addr : IpAddr{}, host, static_cast<uint16_t>(p)};
}

// cpp-httplib's default socket options add SO_REUSEPORT, which would let a
// second agent bind the same port and silently share the scrapes. Keep only
// SO_REUSEADDR (restart while old connections sit in TIME_WAIT).
void socket_options(int sock) {
  const int yes = 1;
  setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
}

// httplib reports a failed bind as "false" only: bind once more the same way to
// learn why (EADDRINUSE, EADDRNOTAVAIL, EACCES).
int bind_errno(const HostPort& hp) {
  Fd s(::socket(hp.addr.family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s) return errno;
  socket_options(s.get());
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (hp.addr.family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(hp.port);
    std::copy_n(hp.addr.bytes.begin(), 4, reinterpret_cast<uint8_t*>(&sin->sin_addr));
    len = sizeof *sin;
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(hp.port);
    std::copy_n(hp.addr.bytes.begin(), 16, sin6->sin6_addr.s6_addr);
    len = sizeof *sin6;
    const int no = 0;  // as httplib does
    setsockopt(s.get(), IPPROTO_IPV6, IPV6_V6ONLY, &no, sizeof no);
  }
  if (::bind(s.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) return errno;
  if (::listen(s.get(), 1) != 0) return errno;
  return 0;
}

std::string bind_hint(int err) {
  switch (err) {
    case EADDRINUSE: return "another process listens there; stop it or change metrics.listen";
    case EADDRNOTAVAIL: return "no interface of this node has that address";
    case EACCES: return "ports below 1024 need CAP_NET_BIND_SERVICE";
    default: return {};
  }
}

constexpr const char* kServeOp = "serve agent status on";

class HttpServer final : public Server {
 public:
  explicit HttpServer(Provider provider) : provider_(std::move(provider)) {}
  ~HttpServer() override { stop(); }

  Result<int> bind(const HostPort& hp, const std::string& listen) {
    // Two workers: a slow or idle client cannot starve a scrape, and the agent
    // sees at most one provider call at a time (provider_mutex_).
    svr_.new_task_queue = [] { return new httplib::ThreadPool(2); };
    svr_.set_socket_options(socket_options);
    svr_.set_keep_alive_timeout(1);  // stop() waits for idle keep-alive connections
    svr_.set_read_timeout(2, 0);
    svr_.set_write_timeout(2, 0);
    svr_.set_payload_max_length(64 * 1024);
    routes();
    const int port = hp.port == 0 ? svr_.bind_to_any_port(hp.host) : (svr_.bind_to_port(hp.host, hp.port) ? hp.port : -1);
    if (port <= 0) {
      const int err = bind_errno(hp);
      return fail(err != 0 ? err : EADDRNOTAVAIL, kServeOp, listen,
                  err != 0 ? bind_hint(err) : "cannot bind (cpp-httplib gave no reason)");
    }
    port_ = port;
    return port;
  }

  Status run(const std::string& listen) {
    try {
      thread_ = std::thread([this] { svr_.listen_after_bind(); });
    } catch (const std::system_error& e) {
      return fail(e.code().value(), kServeOp, listen, "cannot start the server thread");
    }
    // stop() before the thread enters its accept loop would be lost (httplib
    // only stops a running server): wait until it runs.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!svr_.is_running()) {
      if (std::chrono::steady_clock::now() > deadline) {
        stop();
        return fail(ETIMEDOUT, kServeOp, listen, "the server thread did not start");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return {};
  }

  int port() const override { return port_; }

  void stop() override {
    std::lock_guard lock(stop_mutex_);
    if (!thread_.joinable()) return;
    // The thread may not yet have set is_running when it failed (listen
    // returned): then stop() is a no-op and join returns at once.
    svr_.stop();
    thread_.join();
  }

 private:
  std::optional<AgentStatus> snapshot(httplib::Response& res) {
    try {
      std::lock_guard lock(provider_mutex_);
      return provider_();
    } catch (const std::exception& e) {
      res.status = 500;
      res.set_content(std::string("status provider failed: ") + e.what() + "\n", "text/plain");
      return std::nullopt;
    }
  }

  void routes() {
    static constexpr std::string_view kPaths[] = {"/metrics", "/status", "/healthz", "/readyz"};
    // Read-only endpoint: any other method on a known path is 405, unknown paths 404.
    svr_.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
      if (req.method == "GET" || req.method == "HEAD") return httplib::Server::HandlerResponse::Unhandled;
      const bool known = std::find(std::begin(kPaths), std::end(kPaths), req.path) != std::end(kPaths);
      res.status = known ? 405 : 404;
      if (known) res.set_header("Allow", "GET, HEAD");
      res.set_content(known ? "method not allowed\n" : "not found\n", "text/plain");
      return httplib::Server::HandlerResponse::Handled;
    });
    svr_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      if (auto s = snapshot(res))
        res.set_content(render_prometheus(*s), "text/plain; version=0.0.4; charset=utf-8");
    });
    svr_.Get("/status", [this](const httplib::Request&, httplib::Response& res) {
      if (auto s = snapshot(res)) res.set_content(to_json(*s) + "\n", "application/json");
    });
    // Alive: the server answers and the agent hands out a snapshot (the
    // provider would block if the agent's loop held its state forever).
    svr_.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
      if (snapshot(res)) res.set_content("ok\n", "text/plain");
    });
    svr_.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
      auto s = snapshot(res);
      if (!s) return;
      if (s->ready) {
        res.set_content("ready\n", "text/plain");
      } else {
        res.status = 503;
        res.set_content("not ready: " +
                            (s->last_error.empty() ? std::string("first reconcile not complete")
                                                   : printable(s->last_error)) +
                            "\n",
                        "text/plain");
      }
    });
    svr_.Get(".*", [](const httplib::Request&, httplib::Response& res) {
      res.status = 404;
      res.set_content("not found\n", "text/plain");
    });
  }

  Provider provider_;
  std::mutex provider_mutex_;
  std::mutex stop_mutex_;
  httplib::Server svr_;
  std::thread thread_;
  int port_ = 0;
};

constexpr const char* kFetchOp = "fetch agent status from";

Result<std::string> fetch_text(const std::string& endpoint) {
  std::string ep = endpoint;
  if (ep.starts_with("http://")) ep.erase(0, 7);
  while (!ep.empty() && ep.back() == '/') ep.pop_back();
  auto hp = parse_host_port(ep, kFetchOp, Side::Connect);
  if (!hp) return std::unexpected(hp.error());
  const std::string url = "http://" + ep + "/status";
  httplib::Client cli(hp->host, hp->port);
  cli.set_connection_timeout(2, 0);
  cli.set_read_timeout(5, 0);
  cli.set_write_timeout(2, 0);
  auto res = cli.Get("/status");
  if (!res) {
    const auto e = res.error();
    std::string why = e == httplib::Error::Connection || e == httplib::Error::ConnectionTimeout
                          ? "cannot connect"
                          : e == httplib::Error::Read ? "no complete reply within 5s" : httplib::to_string(e);
    return fail(0, kFetchOp, url, why + "; is the sealnet agent running and is metrics.listen this address?");
  }
  if (res->status != 200)
    return fail(0, kFetchOp, url,
                "HTTP " + std::to_string(res->status) + "; is this the sealnet agent's metrics.listen address?");
  return std::move(res->body);
}

}  // namespace

// ---------------------------------------------------------------------------

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

std::string to_json(const AgentStatus& s) {
  json keys = json::array();
  for (const auto& k : s.keys)
    keys.push_back({{"id", k.id},
                    {"algorithm", k.algorithm},
                    {"key_bits", k.key_bits},
                    {"icv_bits", k.icv_bits},
                    {"per_pair", k.per_pair},
                    {"age_seconds", k.age_seconds}});
  json peers = json::array();
  for (const auto& p : s.peers) {
    json sas = json::array();
    for (const auto& sa : p.sas)
      sas.push_back({{"spi", sa.spi},
                     {"dir", sa.dir},
                     {"key", sa.key},
                     {"slot", sa.slot},
                     {"generation", sa.generation},
                     {"mode", sa.mode},
                     {"device", sa.device},
                     {"counters", counters_json(sa.counters)}});
    peers.push_back({{"id", p.id},
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
                     {"sas", std::move(sas)},
                     {"out_total", counters_json(p.out_total)},
                     {"in_total", counters_json(p.in_total)}});
  }
  json devices = json::array();
  for (const auto& d : s.devices)
    devices.push_back({{"name", d.name},
                       {"ifindex", d.ifindex},
                       {"slot", d.slot},
                       {"up", d.up},
                       {"verdict", d.verdict},
                       {"reason", d.reason},
                       {"mode", d.mode},
                       {"generation", d.generation},
                       {"offloaded_states", d.offloaded_states}});
  json j = {{"schema", s.schema},
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
            {"keys", std::move(keys)},
            {"peers", std::move(peers)},
            {"devices", std::move(devices)},
            {"pod_devices", s.pod_devices},
            {"bpf_packets", s.bpf_packets},
            {"bpf_bytes", s.bpf_bytes},
            {"xfrm_stat", s.xfrm_stat},
            {"fallback_counts", s.fallback_counts},
            {"decisions", s.decisions},
            {"discovery",
             {{"backend", s.discovery.backend},
              {"connected", s.discovery.connected},
              {"last_error", s.discovery.last_error},
              {"peers", s.discovery.peers}}}};
  // Invalid UTF-8 (a device or peer name is bytes) is replaced, not thrown on.
  return j.dump(2, ' ', false, json::error_handler_t::replace);
}

Result<AgentStatus> from_json(std::string_view text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    return fail(EINVAL, kJsonOp, "(document)", std::string("not JSON: ") + e.what());
  }
  if (!j.is_object()) return bad("(document)", "expected an object, got " + kind_of(j));
  const auto schema = j.find("schema");
  if (schema == j.end()) return bad("schema", "missing: not a sealnet agent status");
  AgentStatus s;
  if (auto r = read_value(*schema, "schema", s.schema); !r) return std::unexpected(r.error());
  if (s.schema != kSchemaMajor)
    return bad("schema", "major version " + std::to_string(s.schema) + " is not the one this sealnet reads (" +
                             std::to_string(kSchemaMajor) + "); use a matching sealnet");
  const std::string root;
  Fields f(j, root);
  auto r = f.get("node_name", s.node_name)
               .get("node_id", s.node_id)
               .get("node_addresses", s.node_addresses)
               .get("pod_cidrs", s.pod_cidrs)
               .get("started_at", s.started_at)
               .get("now", s.now)
               .get("ready", s.ready)
               .get("fail_closed", s.fail_closed)
               .get("last_error", s.last_error)
               .get("reconciles", s.reconciles)
               .get("reconcile_failures", s.reconcile_failures)
               .get("tx_key", s.tx_key)
               .get("keys", s.keys)
               .get("peers", s.peers)
               .get("devices", s.devices)
               .get("pod_devices", s.pod_devices)
               .get("bpf_packets", s.bpf_packets)
               .get("bpf_bytes", s.bpf_bytes)
               .get("xfrm_stat", s.xfrm_stat)
               .get("fallback_counts", s.fallback_counts)
               .get("decisions", s.decisions)
               .get("discovery", s.discovery)
               .done();
  if (!r) return std::unexpected(r.error());
  return s;
}

std::string render_table(const AgentStatus& s) {
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

  out += "\npeers (" + std::to_string(s.peers.size()) + ")\n";
  if (s.peers.empty()) {
    out += "  none\n";
  } else {
    // Fixed-width facts first, the free-text reason last: a long reason widens
    // only its own line. Peer ids are in --json.
    Table t({{"PEER"}, {"ADDRESS"}, {"DEVICE"}, {"MODE"}, {"TX", Align::Right}, {"KEYS"},
             {"OUT PKT/B", Align::Right}, {"IN PKT/B", Align::Right}, {"ERRORS"}, {"WHY"}});
    bool errors = false;
    for (const auto& p : s.peers) {
      const std::string e = errors_str(p.out_total, p.in_total);
      errors |= e != "-";
      t.add({peer_name(p), or_dash(p.address), or_dash(p.device), or_dash(p.mode),
             p.tx_key ? std::to_string(p.tx_key) : "-",
             key_list(p.peer_keys) + (p.keys_source.empty() ? "" : " " + p.keys_source), traffic_str(p.out_total),
             traffic_str(p.in_total), e, or_dash(p.mode_reason)});
    }
    out += t.render();
    if (errors) out += kErrorLegend;
  }

  size_t n_sas = 0;
  for (const auto& p : s.peers) n_sas += p.sas.size();
  if (n_sas != 0) {
    out += "\nstates (" + std::to_string(n_sas) + ")\n";
    Table t({{"PEER"}, {"DIR"}, {"SPI"}, {"KEY", Align::Right}, {"SLOT", Align::Right}, {"GEN", Align::Right},
             {"MODE"}, {"DEVICE"}, {"PACKETS", Align::Right}, {"BYTES", Align::Right}, {"ERRORS"}});
    bool errors = false;
    for (const auto& p : s.peers)
      for (const auto& sa : p.sas) {
        const std::string e = errors_str(sa.counters);
        errors |= e != "-";
        t.add({peer_name(p), sa.dir, spi_str(sa.spi), std::to_string(sa.key), std::to_string(sa.slot),
               std::to_string(sa.generation), or_dash(sa.mode), or_dash(sa.device), count_str(sa.counters.packets),
               bytes_str(sa.counters.bytes), e});
      }
    out += t.render();
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

std::string render_prometheus(const AgentStatus& s) {
  Exposition e;
  e.family("sealnet_up", "gauge", "1 while the agent serves this endpoint.").sample(1);
  e.family("sealnet_node_info", "gauge", "This node's name and id; the value is always 1.")
      .sample({{"node", s.node_name}, {"id", std::to_string(s.node_id)}}, 1);
  e.family("sealnet_start_time_seconds", "gauge", "Unix time the agent started.").sample(s.started_at);
  e.family("sealnet_ready", "gauge", "1 once the first reconcile completed.").sample(s.ready ? 1 : 0);
  e.family("sealnet_fail_closed", "gauge", "1 when traffic without a usable state is dropped rather than sent in clear.")
      .sample(s.fail_closed ? 1 : 0);
  e.family("sealnet_last_reconcile_failed", "gauge", "1 when the last reconcile failed (see last_error in /status).")
      .sample(s.last_error.empty() ? 0 : 1);
  e.family("sealnet_reconciles_total", "counter", "Reconciles run since start.").sample(s.reconciles);
  e.family("sealnet_reconcile_failures_total", "counter", "Reconciles that failed since start.")
      .sample(s.reconcile_failures);

  e.family("sealnet_tx_key", "gauge", "Id of this node's newest key (0: none).").sample(s.tx_key);
  e.family("sealnet_key_info", "gauge", "Keys loaded from the key file (never key material); the value is always 1.");
  for (const auto& k : s.keys)
    e.sample({{"key", std::to_string(k.id)},
              {"algorithm", k.algorithm},
              {"key_bits", std::to_string(k.key_bits)},
              {"icv_bits", std::to_string(k.icv_bits)},
              {"per_pair", k.per_pair ? "true" : "false"}},
             1);
  e.family("sealnet_key_age_seconds", "gauge", "Seconds since each key was loaded.");
  for (const auto& k : s.keys) e.sample({{"key", std::to_string(k.id)}}, k.age_seconds);

  e.family("sealnet_peers", "gauge", "Peers the agent knows.").sample(s.peers.size());
  e.family("sealnet_peer_info", "gauge", "Each peer's address, uplink and the mode of its outbound state; the value is always 1.");
  for (const auto& p : s.peers)
    e.sample({{"peer", peer_name(p)},
              {"id", std::to_string(p.id)},
              {"address", p.address},
              {"device", p.device},
              {"mode", p.mode.empty() ? "none" : p.mode}},
             1);
  e.family("sealnet_peer_tx_key", "gauge", "Key id the datapath sends to each peer with (0: none).");
  for (const auto& p : s.peers) e.sample({{"peer", peer_name(p)}}, p.tx_key);

  auto sa_labels = [](const PeerStatus& p, const PeerSa& sa) {
    return Labels{{"peer", peer_name(p)},
                  {"dir", sa.dir},
                  {"spi", spi_str(sa.spi)},
                  {"key", std::to_string(sa.key)},
                  {"mode", sa.mode}};
  };
  e.family("sealnet_peer_sa_packets_total", "counter", "Packets through each XFRM state (resets with a new SPI).");
  for (const auto& p : s.peers)
    for (const auto& sa : p.sas) e.sample(sa_labels(p, sa), sa.counters.packets);
  e.family("sealnet_peer_sa_bytes_total", "counter", "Bytes through each XFRM state (resets with a new SPI).");
  for (const auto& p : s.peers)
    for (const auto& sa : p.sas) e.sample(sa_labels(p, sa), sa.counters.bytes);
  e.family("sealnet_peer_sa_errors_total", "counter",
           "Errors the kernel counted on each XFRM state, by kind (replay, integrity, replay_window).");
  for (const auto& p : s.peers)
    for (const auto& sa : p.sas) {
      const std::pair<const char*, uint64_t> kinds[] = {{"replay", sa.counters.replay_errors},
                                                        {"integrity", sa.counters.integrity_errors},
                                                        {"replay_window", sa.counters.replay_window_errors}};
      for (const auto& [kind, n] : kinds) {
        Labels l = {{"peer", peer_name(p)}, {"dir", sa.dir}, {"spi", spi_str(sa.spi)}, {"kind", kind}};
        e.sample(l, n);
      }
    }

  e.family("sealnet_device_info", "gauge", "Each uplink's slot, probe verdict and the mode new states ask for; the value is always 1.");
  for (const auto& d : s.devices)
    e.sample({{"device", d.name}, {"slot", std::to_string(d.slot)}, {"verdict", d.verdict}, {"mode", d.mode}}, 1);
  e.family("sealnet_device_up", "gauge", "1 when the uplink is up.");
  for (const auto& d : s.devices) e.sample({{"device", d.name}}, d.up ? 1 : 0);
  e.family("sealnet_device_generation", "gauge", "Offload generation of each uplink (bumps when its states are rebuilt).");
  for (const auto& d : s.devices) e.sample({{"device", d.name}}, d.generation);
  e.family("sealnet_device_offloaded_states", "gauge", "XFRM states offloaded to each uplink.");
  for (const auto& d : s.devices) e.sample({{"device", d.name}}, d.offloaded_states);

  e.family("sealnet_bpf_packets_total", "counter", "Packets the BPF programs counted, by reason (summed over CPUs).");
  for (const auto& [reason, n] : s.bpf_packets) e.sample({{"reason", reason}}, n);
  e.family("sealnet_bpf_bytes_total", "counter", "Bytes the BPF programs counted, by reason (summed over CPUs).");
  for (const auto& [reason, n] : s.bpf_bytes) e.sample({{"reason", reason}}, n);

  e.family("sealnet_xfrm_stat_total", "counter",
           "The kernel's /proc/net/xfrm_stat counters of the agent's namespace, by counter name.");
  for (const auto& [counter, n] : s.xfrm_stat) e.sample({{"counter", counter}}, n);

  e.family("sealnet_fallback_decisions_total", "counter", "Offload fallback decisions since start, by reason.");
  for (const auto& [reason, n] : s.fallback_counts) e.sample({{"reason", reason}}, n);

  e.family("sealnet_discovery_connected", "gauge", "1 while the discovery backend is reachable.")
      .sample({{"backend", s.discovery.backend}}, s.discovery.connected ? 1 : 0);
  e.family("sealnet_discovery_peers", "gauge", "Peers the discovery backend last reported.")
      .sample({{"backend", s.discovery.backend}}, s.discovery.peers);
  return e.take();
}

Result<std::unique_ptr<Server>> Server::start(const std::string& listen, Provider provider) {
  if (!provider) return fail(EINVAL, kServeOp, listen, "no status provider");
  auto hp = parse_host_port(listen, kServeOp, Side::Listen);
  if (!hp) return std::unexpected(hp.error());
  auto server = std::make_unique<HttpServer>(std::move(provider));
  if (auto port = server->bind(*hp, listen); !port) return std::unexpected(port.error());
  if (auto r = server->run(listen); !r) return std::unexpected(r.error());
  return std::unique_ptr<Server>(std::move(server));
}

Result<AgentStatus> fetch(const std::string& endpoint) {
  auto text = fetch_text(endpoint);
  if (!text) return std::unexpected(text.error());
  return from_json(*text);
}

int status_main(const std::string& endpoint, bool json) {
  auto text = fetch_text(endpoint);
  if (!text) {
    std::cerr << "sealnet status: " << text.error().message() << "\n";
    return 1;
  }
  // --json prints what the agent served (fields this sealnet does not know
  // included), once it is known to be an agent status this sealnet can read.
  auto s = from_json(*text);
  if (!s) {
    std::cerr << "sealnet status: " << s.error().message() << "\n";
    return 1;
  }
  if (json) {
    std::cout << *text;
    if (!text->empty() && text->back() != '\n') std::cout << "\n";
  } else {
    std::cout << render_table(*s);
  }
  std::cout.flush();
  return std::cout ? 0 : 1;
}

}  // namespace sealnet::status
