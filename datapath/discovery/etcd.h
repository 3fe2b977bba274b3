// datapath/discovery/etcd: a small etcd v3 client over etcd's JSON gateway
// (grpc-gateway, POST /v3/...): key/value, leases and a list+watch of one prefix.
//
// Why the gateway and not gRPC: Debian ships no etcd C++ client; gRPC C++ would
// need libgrpc++-dev, protobuf-compiler and etcd's .proto files generated at build
// time. The JSON gateway is part of etcd's documented API since 3.4 (served under
// /v3/, and /v3beta/ for older clients), needs only an HTTP(S) client
// (cpp-httplib, linked with OpenSSL) and nlohmann-json, and carries the same
// messages: bytes fields (keys, values) are base64, int64 fields are strings.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace sealnet::discovery {

// Exponential backoff with full jitter: the n-th retry waits a random time in
// [initial * 2^n / 2, initial * 2^n], capped at `max`, so that every node of a
// cluster does not hammer a recovering etcd in step.
struct Backoff {
  std::chrono::milliseconds initial{200};
  std::chrono::milliseconds max{10'000};
  std::chrono::milliseconds delay(unsigned attempt) const;
};

struct EtcdOptions {
  // "http://127.0.0.1:2379", "https://etcd-1:2379"; a bare "host:port" is http.
  // Tried in order; the one that last answered is tried first.
  std::vector<std::string> endpoints;
  // TLS, named after etcdctl's --cacert/--cert/--key. ca_file empty: the system's
  // trust store. cert_file and key_file go together (client certificate auth).
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::chrono::milliseconds connect_timeout{2'000};
  std::chrono::milliseconds request_timeout{5'000};
  // A watch stream that carried nothing for this long is reopened from the last
  // revision seen (nothing is lost: the new stream starts where the old stopped).
  // It is how a silently dead connection is noticed.
  std::chrono::milliseconds watch_idle{30'000};
  Backoff backoff;
};

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  int64_t lease = 0;
};

struct RangeResult {
  std::vector<KeyValue> kvs;
  int64_t revision = 0;  // the store's revision the range was read at
};

struct Lease {
  int64_t id = 0;
  int64_t ttl = 0;  // seconds granted
};

struct WatchEvent {
  enum class Type { Put, Delete } type = Type::Put;
  KeyValue kv;  // for Delete: key and mod_revision only
};

// What a list+watch delivers, on the watch's own thread (one call at a time).
struct WatchCallbacks {
  // The whole prefix as of `revision`: at start when no revision was given, and
  // again whenever the history needed to resume was compacted away (the caller
  // replaces its view with this one: keys absent here are gone).
  std::function<void(const RangeResult& snapshot)> on_snapshot;
  // Changes after the last snapshot or batch, in revision order.
  std::function<void(const std::vector<WatchEvent>& events, int64_t revision)> on_events;
  // The stream went down (error set) or came back (nullopt). Called on every change.
  std::function<void(const std::optional<Error>& error)> on_connection;
};

class EtcdWatch;

class EtcdClient {
 public:
  // Checks the endpoints and that the TLS files exist; connects lazily.
  static Result<std::unique_ptr<EtcdClient>> make(EtcdOptions opts);
  ~EtcdClient();
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  const EtcdOptions& options() const { return opts_; }

  // Each call tries the endpoints in turn until one answers (an etcd error reply
  // is an answer). Errors: op "etcd <path>", object the endpoint, detail etcd's
  // message; err ECONNREFUSED/ETIMEDOUT/EIO for transport failures, ENOENT for
  // "not found" (a lease that expired), EINVAL for a refused request.
  Result<int64_t> put(std::string_view key, std::string_view value, int64_t lease = 0);  // -> revision
  Result<std::optional<KeyValue>> get(std::string_view key);
  Result<RangeResult> get_prefix(std::string_view prefix);
  Result<int64_t> erase(std::string_view key);            // -> how many were deleted (0 or 1)
  Result<int64_t> erase_prefix(std::string_view prefix);  // -> how many were deleted
  Result<Lease> lease_grant(std::chrono::seconds ttl);
  // Refreshes the lease once; returns the TTL it now has. A lease that expired
  // (or was revoked) is ENOENT.
  Result<int64_t> lease_keepalive(int64_t id);
  Status lease_revoke(int64_t id);

  // Lists `prefix` (when from_revision is 0) and watches it from there, or
  // watches from `from_revision` directly; on its own thread until the returned
  // object goes. Reconnects with backoff; a compacted history is re-listed.
  std::unique_ptr<EtcdWatch> watch_prefix(std::string prefix, int64_t from_revision, WatchCallbacks cb);

  // One unary gateway call: POST `path` with `body`, the reply's JSON text.
  Result<std::string> call(std::string_view path, const std::string& body);

 private:
  friend class EtcdWatch;
  explicit EtcdClient(EtcdOptions opts);
  struct Conn;
  std::unique_ptr<Conn> connect(size_t endpoint) const;

  EtcdOptions opts_;
  std::mutex mu_;  // one unary call at a time on the cached connections
  std::vector<std::unique_ptr<Conn>> conns_;
  size_t preferred_ = 0;
};

// The running list+watch; stops and joins its thread when destroyed.
class EtcdWatch {
 public:
  ~EtcdWatch();
  EtcdWatch(const EtcdWatch&) = delete;
  EtcdWatch& operator=(const EtcdWatch&) = delete;
  void stop();

 private:
  friend class EtcdClient;
  struct State;
  explicit EtcdWatch(std::shared_ptr<State> st) : st_(std::move(st)) {}
  std::shared_ptr<State> st_;
};

// Helpers of the gateway's encoding, exposed for tests.
std::string base64_encode(std::string_view bytes);
Result<std::string> base64_decode(std::string_view text);
// The range_end that makes [prefix, end) every key starting with prefix.
std::string prefix_range_end(std::string_view prefix);

}  // namespace sealnet::discovery
