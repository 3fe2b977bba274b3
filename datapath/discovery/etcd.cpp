#include "datapath/discovery/etcd.h"

#include <httplib.h>
#include <openssl/evp.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

namespace sealnet::discovery {

using json = nlohmann::json;

// ---------------------------------------------------------------- encoding

// etcd's JSON gateway speaks standard base64 with padding (RFC 4648 section 4).
std::string base64_encode(std::string_view in) {
  std::string out((in.size() + 2) / 3 * 4 + 1, '\0');  // EVP_EncodeBlock writes a NUL after
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

Result<std::string> base64_decode(std::string_view in) {
  const auto bad = [] { return fail(EINVAL, "base64 decode", {}, "not base64"); };
  // EVP_DecodeBlock skips white space around the text and decodes '=' as zero
  // bits: it checks neither, so this does. Padding: at most two '=', only at the end.
  if (in.size() % 4 != 0) return bad();
  const size_t pad = in.ends_with("==") ? 2 : in.ends_with('=') ? 1 : 0;
  for (size_t i = 0; i < in.size() - pad; ++i) {
    const char c = in[i];
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/') return bad();
  }
  std::string out(in.size() / 4 * 3, '\0');
  const int n =
      EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  if (n != static_cast<int>(out.size())) return bad();
  // EVP_DecodeBlock counts the bytes the padding stands for (zeros): drop them.
  out.resize(out.size() - pad);
  return out;
}

std::string prefix_range_end(std::string_view prefix) {
  // The smallest key greater than every key with this prefix: the prefix with its
  // last byte below 0xff incremented; all 0xff (or empty) means "to the end",
  // which etcd spells as the single byte 0.
  std::string end(prefix);
  while (!end.empty()) {
    if (static_cast<unsigned char>(end.back()) < 0xff) {
      end.back() = char(static_cast<unsigned char>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

std::chrono::milliseconds Backoff::delay(unsigned attempt) const {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  auto d = initial;
  for (unsigned i = 0; i < attempt && d < max; ++i) d *= 2;
  d = std::min(d, max);
  std::uniform_int_distribution<int64_t> pick(d.count() / 2, std::max<int64_t>(d.count(), 1));
  return std::chrono::milliseconds(pick(rng));
}

namespace {

// int64 fields are JSON strings in the gateway's encoding; absent means 0.
int64_t i64(const json& j, const char* field) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) return 0;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    int64_t v = 0;
    std::from_chars(s.data(), s.data() + s.size(), v);
    return v;
  }
  return 0;
}

std::string b64_field(const json& j, const char* field) {
  auto it = j.find(field);
  if (it == j.end() || !it->is_string()) return {};
  auto d = base64_decode(it->get_ref<const std::string&>());
  return d ? *d : std::string{};
}

KeyValue read_kv(const json& j) {
  return KeyValue{b64_field(j, "key"), b64_field(j, "value"), i64(j, "create_revision"),
                  i64(j, "mod_revision"), i64(j, "version"), i64(j, "lease")};
}

// gRPC status codes (etcd's errors travel as these) as errno values.
int errno_of_grpc(int64_t code) {
  switch (code) {
    case 3: return EINVAL;        // INVALID_ARGUMENT
    case 4: return ETIMEDOUT;     // DEADLINE_EXCEEDED
    case 5: return ENOENT;        // NOT_FOUND (lease not found)
    case 7: return EPERM;         // PERMISSION_DENIED
    case 8: return ENOSPC;        // RESOURCE_EXHAUSTED (quota)
    case 9: return EAGAIN;        // FAILED_PRECONDITION
    case 11: return ERANGE;       // OUT_OF_RANGE (compacted revision)
    case 14: return EAGAIN;       // UNAVAILABLE (no leader)
    case 16: return EACCES;       // UNAUTHENTICATED
    default: return EIO;
  }
}

int errno_of_http(httplib::Error e) {
  switch (e) {
    case httplib::Error::Connection: return ECONNREFUSED;
    case httplib::Error::ConnectionTimeout: return ETIMEDOUT;
    case httplib::Error::Read: return ETIMEDOUT;  // read timeout or peer gone mid-reply
    case httplib::Error::Canceled: return ECANCELED;
    case httplib::Error::SSLConnection:
    case httplib::Error::SSLLoadingCerts:
    case httplib::Error::SSLServerVerification: return EPROTO;
    default: return EIO;
  }
}

std::string op_of(std::string_view path) { return "etcd " + std::string(path); }

// An etcd error reply ({"error": ..., "code": N}) as an Error value.
Error reply_error(std::string_view path, const std::string& endpoint, int status, const std::string& body) {
  auto j = json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("error")) {
    const std::string msg = j.value("message", j["error"].is_string() ? j["error"].get<std::string>() : "");
    return Error{errno_of_grpc(i64(j, "code")), op_of(path), endpoint, msg};
  }
  return Error{EIO, op_of(path), endpoint, "HTTP " + std::to_string(status)};
}

std::string normalise_endpoint(const std::string& e) {
  return e.find("://") == std::string::npos ? "http://" + e : e;
}

}  // namespace

// ---------------------------------------------------------------- connections

struct EtcdClient::Conn {
  std::string endpoint;
  httplib::Client http;
  Conn(const std::string& ep, const EtcdOptions& o)
      : endpoint(ep),
        http(o.cert_file.empty() ? httplib::Client(ep) : httplib::Client(ep, o.cert_file, o.key_file)) {
    http.set_connection_timeout(o.connect_timeout);
    http.set_read_timeout(o.request_timeout);
    http.set_write_timeout(o.request_timeout);
    http.set_keep_alive(true);
    if (ep.starts_with("https://")) {
      if (!o.ca_file.empty()) http.set_ca_cert_path(o.ca_file);
      http.enable_server_certificate_verification(true);
    }
  }
};

std::unique_ptr<EtcdClient::Conn> EtcdClient::connect(size_t endpoint) const {
  return std::make_unique<Conn>(opts_.endpoints[endpoint], opts_);
}

namespace {

// One POST. etcd 3.4's gateway ends its error replies with an HTTP trailer
// (Grpc-Trailer-Content-Type), which cpp-httplib 0.11 cannot parse: the request
// then fails with a read error although the whole body arrived. So the body is
// collected as it comes, and a read error after a complete JSON reply counts as
// that reply (the connection is dropped all the same).
struct Reply {
  int status = 0;
  std::string body;
  httplib::Error error = httplib::Error::Success;
  bool reuse = true;  // the connection is fit for the next request
};

Reply post(httplib::Client& http, std::string_view path, const std::string& body) {
  Reply r;
  httplib::Request req;
  req.method = "POST";
  req.path = std::string(path);
  req.body = body;
  req.set_header("Content-Type", "application/json");
  req.response_handler = [&](const httplib::Response& res) {
    r.status = res.status;
    return true;
  };
  req.content_receiver = [&](const char* data, size_t len, uint64_t, uint64_t) {
    r.body.append(data, len);
    return true;
  };
  auto res = http.send(req);
  if (res) {
    r.status = res->status;
    return r;
  }
  r.reuse = false;
  if (r.status != 0 && res.error() == httplib::Error::Read && json::accept(r.body)) return r;
  r.error = res.error();
  return r;
}

}  // namespace

Result<std::unique_ptr<EtcdClient>> EtcdClient::make(EtcdOptions opts) {
  if (opts.endpoints.empty()) return fail(EINVAL, "etcd client", "endpoints", "no endpoint given");
  for (auto& e : opts.endpoints) {
    e = normalise_endpoint(e);
    if (!e.starts_with("http://") && !e.starts_with("https://"))
      return fail(EINVAL, "etcd client", e, "endpoints: expected http://HOST:PORT or https://HOST:PORT");
    if (!httplib::Client(e).is_valid()) return fail(EINVAL, "etcd client", e, "endpoints: not a valid URL");
  }
  if (opts.cert_file.empty() != opts.key_file.empty())
    return fail(EINVAL, "etcd client", "cert_file/key_file", "a client certificate needs both");
  for (const std::string* f : {&opts.ca_file, &opts.cert_file, &opts.key_file})
    if (!f->empty() && ::access(f->c_str(), R_OK) != 0) return fail_errno("etcd client: open", *f);
  // OpenSSL writes to the socket with write(2), not send(MSG_NOSIGNAL): a TLS
  // peer that hangs up (etcd refusing a client certificate, etcd restarting)
  // would kill the process with SIGPIPE. A daemon never wants that signal; a
  // process that installed its own handler keeps it.
  struct sigaction old{};
  if (::sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) ::signal(SIGPIPE, SIG_IGN);
  auto c = std::unique_ptr<EtcdClient>(new EtcdClient(std::move(opts)));
  c->conns_.resize(c->opts_.endpoints.size());
  return c;
}

EtcdClient::EtcdClient(EtcdOptions opts) : opts_(std::move(opts)) {}
EtcdClient::~EtcdClient() = default;

Result<std::string> EtcdClient::call(std::string_view path, const std::string& body) {
  std::lock_guard lock(mu_);
  Error last;
  const size_t n = conns_.size();
  for (size_t i = 0; i < n; ++i) {
    const size_t idx = (preferred_ + i) % n;
    if (!conns_[idx]) conns_[idx] = connect(idx);
    Conn& c = *conns_[idx];
    Reply res = post(c.http, path, body);
    if (res.error != httplib::Error::Success) {
      last = Error{errno_of_http(res.error), op_of(path), c.endpoint, httplib::to_string(res.error)};
      conns_[idx].reset();  // a fresh connection next time
      continue;
    }
    preferred_ = idx;
    const std::string endpoint = c.endpoint;
    if (!res.reuse) conns_[idx].reset();
    if (res.status != 200) return std::unexpected(reply_error(path, endpoint, res.status, res.body));
    return std::move(res.body);
  }
  return std::unexpected(last);
}

namespace {

Result<json> parse_reply(std::string_view path, const Result<std::string>& body) {
  if (!body) return std::unexpected(body.error());
  auto j = json::parse(*body, nullptr, false);
  if (!j.is_object()) return fail(EIO, op_of(path), {}, "the reply is not a JSON object");
  return j;
}

json range_request(std::string_view prefix) {
  return {{"key", base64_encode(prefix)}, {"range_end", base64_encode(prefix_range_end(prefix))}};
}

RangeResult read_range(const json& j) {
  RangeResult r;
  r.revision = i64(j.value("header", json::object()), "revision");
  if (auto it = j.find("kvs"); it != j.end() && it->is_array())
    for (const auto& kv : *it) r.kvs.push_back(read_kv(kv));
  return r;
}

}  // namespace

Result<int64_t> EtcdClient::put(std::string_view key, std::string_view value, int64_t lease) {
  json req = {{"key", base64_encode(key)}, {"value", base64_encode(value)}};
  if (lease != 0) req["lease"] = std::to_string(lease);
  auto j = parse_reply("/v3/kv/put", call("/v3/kv/put", req.dump()));
  if (!j) return std::unexpected(j.error());
  return i64(j->value("header", json::object()), "revision");
}

Result<std::optional<KeyValue>> EtcdClient::get(std::string_view key) {
  json req = {{"key", base64_encode(key)}};
  auto j = parse_reply("/v3/kv/range", call("/v3/kv/range", req.dump()));
  if (!j) return std::unexpected(j.error());
  auto r = read_range(*j);
  if (r.kvs.empty()) return std::optional<KeyValue>{};
  return std::optional<KeyValue>{std::move(r.kvs.front())};
}

Result<RangeResult> EtcdClient::get_prefix(std::string_view prefix) {
  auto j = parse_reply("/v3/kv/range", call("/v3/kv/range", range_request(prefix).dump()));
  if (!j) return std::unexpected(j.error());
  return read_range(*j);
}

Result<int64_t> EtcdClient::erase(std::string_view key) {
  json req = {{"key", base64_encode(key)}};
  auto j = parse_reply("/v3/kv/deleterange", call("/v3/kv/deleterange", req.dump()));
  if (!j) return std::unexpected(j.error());
  return i64(*j, "deleted");
}

Result<int64_t> EtcdClient::erase_prefix(std::string_view prefix) {
  auto j = parse_reply("/v3/kv/deleterange", call("/v3/kv/deleterange", range_request(prefix).dump()));
  if (!j) return std::unexpected(j.error());
  return i64(*j, "deleted");
}

Result<Lease> EtcdClient::lease_grant(std::chrono::seconds ttl) {
  json req = {{"TTL", std::to_string(ttl.count())}};
  auto j = parse_reply("/v3/lease/grant", call("/v3/lease/grant", req.dump()));
  if (!j) return std::unexpected(j.error());
  if (auto err = j->value("error", std::string{}); !err.empty())
    return fail(EIO, "etcd /v3/lease/grant", {}, err);
  return Lease{i64(*j, "ID"), i64(*j, "TTL")};
}

Result<int64_t> EtcdClient::lease_keepalive(int64_t id) {
  // The gateway maps this bidirectional stream to one request and one reply
  // ({"result": {...}}); an unknown lease comes back with no TTL (0).
  json req = {{"ID", std::to_string(id)}};
  auto j = parse_reply("/v3/lease/keepalive", call("/v3/lease/keepalive", req.dump()));
  if (!j) return std::unexpected(j.error());
  if (j->contains("error")) {
    const auto& e = (*j)["error"];
    return fail(errno_of_grpc(i64(e, "code")), "etcd /v3/lease/keepalive", "lease " + std::to_string(id),
                e.value("message", std::string{}));
  }
  const int64_t ttl = i64(j->value("result", json::object()), "TTL");
  if (ttl <= 0) return fail(ENOENT, "etcd /v3/lease/keepalive", "lease " + std::to_string(id), "lease expired");
  return ttl;
}

Status EtcdClient::lease_revoke(int64_t id) {
  json req = {{"ID", std::to_string(id)}};
  auto j = parse_reply("/v3/lease/revoke", call("/v3/lease/revoke", req.dump()));
  if (!j) return std::unexpected(j.error());
  return {};
}

// ---------------------------------------------------------------- watch

struct EtcdWatch::State {
  EtcdOptions opts;
  std::string prefix;
  int64_t next_revision = 0;  // 0: list first
  WatchCallbacks cb;

  std::atomic<bool> stopping{false};
  std::mutex mu;  // guards `current` and the backoff sleep
  std::condition_variable cv;
  httplib::Client* current = nullptr;  // the stream in flight, for stop()
  std::thread thread;

  bool up = false;  // what on_connection said last
  unsigned attempt = 0;
  size_t endpoint = 0;

  void report_down(const Error& e) {
    up = false;
    if (cb.on_connection) cb.on_connection(e);
  }
  void report_up() {
    attempt = 0;
    if (up) return;
    up = true;
    if (cb.on_connection) cb.on_connection(std::nullopt);
  }
  void sleep_backoff() {
    std::unique_lock lock(mu);
    cv.wait_for(lock, opts.backoff.delay(attempt++), [&] { return stopping.load(); });
  }

  // Lists the prefix through any endpoint; delivers the snapshot.
  Status list() {
    Error last;
    for (size_t i = 0; i < opts.endpoints.size() && !stopping; ++i) {
      const size_t idx = (endpoint + i) % opts.endpoints.size();
      EtcdClient::Conn c(opts.endpoints[idx], opts);
      Reply res = post(c.http, "/v3/kv/range", range_request(prefix).dump());
      if (res.error != httplib::Error::Success) {
        last = Error{errno_of_http(res.error), "etcd /v3/kv/range", c.endpoint, httplib::to_string(res.error)};
        continue;
      }
      if (res.status != 200) return std::unexpected(reply_error("/v3/kv/range", c.endpoint, res.status, res.body));
      auto j = json::parse(res.body, nullptr, false);
      if (!j.is_object()) return fail(EIO, "etcd /v3/kv/range", c.endpoint, "the reply is not a JSON object");
      endpoint = idx;
      RangeResult r = read_range(j);
      next_revision = r.revision + 1;
      if (cb.on_snapshot) cb.on_snapshot(r);
      return {};
    }
    return std::unexpected(last);
  }

  enum class StreamEnd { Stopped, Compacted, Idle, Failed };

  // One watch stream from next_revision until it ends.
  StreamEnd stream(Error& error) {
    EtcdClient::Conn c(opts.endpoints[endpoint], opts);
    c.http.set_read_timeout(opts.watch_idle);
    c.http.set_keep_alive(false);
    {
      std::lock_guard lock(mu);
      if (stopping) return StreamEnd::Stopped;
      current = &c.http;
    }
    const std::string path = "/v3/watch";
    json create = range_request(prefix);
    create["start_revision"] = std::to_string(next_revision);
    httplib::Request req;
    req.method = "POST";
    req.path = path;
    req.body = json{{"create_request", create}}.dump();
    req.set_header("Content-Type", "application/json");

    std::string buf;
    bool compacted = false;
    std::optional<Error> stream_error;
    int http_status = 0;
    req.response_handler = [&](const httplib::Response& r) {
      http_status = r.status;
      return true;
    };
    auto last_data = std::chrono::steady_clock::now();
    req.content_receiver = [&](const char* data, size_t len, uint64_t, uint64_t) {
      if (stopping) return false;
      last_data = std::chrono::steady_clock::now();
      buf.append(data, len);
      for (size_t nl; (nl = buf.find('\n')) != std::string::npos;) {
        const std::string line = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        if (!handle_line(line, c.endpoint, compacted, stream_error)) return false;
      }
      return true;
    };
    auto res = c.http.send(req);
    {
      std::lock_guard lock(mu);
      current = nullptr;
    }
    if (stopping) return StreamEnd::Stopped;
    if (compacted) return StreamEnd::Compacted;
    if (stream_error) {
      error = *stream_error;
      return StreamEnd::Failed;
    }
    // A stream that was up and went quiet for watch_idle: reopen, nothing lost.
    if (up && res.error() == httplib::Error::Read &&
        std::chrono::steady_clock::now() - last_data >= opts.watch_idle * 9 / 10)
      return StreamEnd::Idle;
    if (!res) {
      error = Error{errno_of_http(res.error()), op_of(path), c.endpoint, httplib::to_string(res.error())};
    } else if (http_status != 200) {
      error = reply_error(path, c.endpoint, http_status, buf);
    } else {
      error = Error{ECONNRESET, op_of(path), c.endpoint, "the watch stream ended"};
    }
    return StreamEnd::Failed;
  }

  // One JSON line of the stream: {"result": WatchResponse} or {"error": ...}.
  bool handle_line(const std::string& line, const std::string& endpoint_name, bool& compacted,
                   std::optional<Error>& err) {
    if (line.find_first_not_of(" \r\t") == std::string::npos) return true;
    auto j = json::parse(line, nullptr, false);
    if (!j.is_object()) {
      err = Error{EIO, "etcd /v3/watch", endpoint_name, "a stream line is not JSON"};
      return false;
    }
    if (auto e = j.find("error"); e != j.end()) {
      const json& ej = e->is_object() ? *e : j;
      err = Error{errno_of_grpc(i64(ej, "code")), "etcd /v3/watch", endpoint_name,
                  ej.value("message", std::string{"watch error"})};
      return false;
    }
    const json r = j.value("result", json::object());
    if (r.value("created", false)) {
      // A store older than what we have seen (etcd restored from a backup or
      // rebuilt empty) would let a watch from our revision wait silently for a
      // revision it may never reach: list again instead.
      const int64_t store = i64(r.value("header", json::object()), "revision");
      if (store > 0 && store + 1 < next_revision) {
        compacted = true;
        return false;
      }
      report_up();
    }
    if (r.value("canceled", false)) {
      if (i64(r, "compact_revision") > 0) {
        compacted = true;  // the history we need is gone: list again
      } else {
        err = Error{EIO, "etcd /v3/watch", endpoint_name,
                    "canceled by the server: " + r.value("cancel_reason", std::string{"no reason given"})};
      }
      return false;
    }
    auto ev = r.find("events");
    if (ev == r.end() || !ev->is_array() || ev->empty()) return true;
    std::vector<WatchEvent> events;
    for (const auto& e : *ev) {
      WatchEvent w;
      w.type = e.value("type", std::string{"PUT"}) == "DELETE" ? WatchEvent::Type::Delete : WatchEvent::Type::Put;
      w.kv = read_kv(e.value("kv", json::object()));
      next_revision = std::max(next_revision, w.kv.mod_revision + 1);
      events.push_back(std::move(w));
    }
    if (cb.on_events) cb.on_events(events, i64(r.value("header", json::object()), "revision"));
    return !stopping;
  }

  void run() {
    bool need_list = next_revision == 0;
    while (!stopping) {
      if (need_list) {
        if (auto st = list(); !st) {
          if (stopping) break;
          report_down(st.error());
          endpoint = (endpoint + 1) % opts.endpoints.size();
          sleep_backoff();
          continue;
        }
        need_list = false;
      }
      Error error;
      switch (stream(error)) {
        case StreamEnd::Stopped: return;
        case StreamEnd::Compacted: need_list = true; continue;
        case StreamEnd::Idle: continue;
        case StreamEnd::Failed:
          report_down(error);
          endpoint = (endpoint + 1) % opts.endpoints.size();
          sleep_backoff();
          continue;
      }
    }
  }
};

std::unique_ptr<EtcdWatch> EtcdClient::watch_prefix(std::string prefix, int64_t from_revision, WatchCallbacks cb) {
  auto st = std::make_shared<EtcdWatch::State>();
  st->opts = opts_;
  st->prefix = std::move(prefix);
  st->next_revision = from_revision;
  st->cb = std::move(cb);
  {
    std::lock_guard lock(mu_);
    st->endpoint = preferred_;
  }
  st->thread = std::thread([s = st.get()] { s->run(); });
  return std::unique_ptr<EtcdWatch>(new EtcdWatch(std::move(st)));
}

void EtcdWatch::stop() {
  if (!st_) return;
  {
    std::lock_guard lock(st_->mu);
    st_->stopping = true;
    if (st_->current) st_->current->stop();
  }
  st_->cv.notify_all();
  if (st_->thread.joinable()) st_->thread.join();
}

EtcdWatch::~EtcdWatch() { stop(); }

}  // namespace sealnet::discovery
