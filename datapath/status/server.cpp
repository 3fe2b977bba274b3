#include "datapath/status/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

// The Debian library is built with these on (cpp-httplib.pc): the class layouts
// depend on them, so the target adds the same defines. Only plain HTTP is used.
#include <httplib.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>

#include "core/fd.h"
#include "datapath/host_port.h"
#include "datapath/status/health.h"
#include "datapath/status/prometheus.h"
#include "datapath/status/text.h"

namespace sealnet::status {

namespace {

// cpp-httplib's default socket options add SO_REUSEPORT, which would let a
// second agent bind the same port and silently share the scrapes. Keep only
// SO_REUSEADDR (restart while old connections sit in TIME_WAIT).
void socket_options(int sock) {
  const int yes = 1;
  setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
}

// httplib reports a failed bind as "false" only: bind once more the same way to
// learn why (EADDRINUSE, EADDRNOTAVAIL, EACCES).
int bind_errno(const IpAddr& addr, uint16_t port) {
  Fd s(::socket(addr.family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s) return errno;
  socket_options(s.get());
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (addr.family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    std::copy_n(addr.bytes.begin(), 4, reinterpret_cast<uint8_t*>(&sin->sin_addr));
    len = sizeof *sin;
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    std::copy_n(addr.bytes.begin(), 16, sin6->sin6_addr.s6_addr);
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
      const int err = bind_errno(*hp.addr, hp.port);
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
    // Alive: the agent hands out a snapshot (the provider would block if the
    // loop held its state forever), its loop finishes syncs, and reconciles do
    // not keep failing (datapath/status/health.h).
    svr_.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
      auto s = snapshot(res);
      if (!s) return;
      const auto now = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                                 std::chrono::system_clock::now().time_since_epoch())
                                                 .count());
      const Probe p = healthz(*s, now);
      if (!p.ok) res.status = 503;
      res.set_content(p.body, "text/plain");
    });
    svr_.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
      auto s = snapshot(res);
      if (!s) return;
      const Probe p = readyz(*s);
      if (!p.ok) res.status = 503;
      res.set_content(p.body, "text/plain");
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

}  // namespace

Result<std::unique_ptr<Server>> Server::start(const std::string& listen, Provider provider) {
  if (!provider) return fail(EINVAL, kServeOp, listen, "no status provider");
  // A listener binds an address (a name could stand for several); port 0 picks a free one.
  auto hp = parse_host_port(listen, {.names = false, .port_zero = true});
  if (!hp) return fail(EINVAL, kServeOp, listen, std::string("expected ") + kHostPortForm);
  auto server = std::make_unique<HttpServer>(std::move(provider));
  if (auto port = server->bind(*hp, listen); !port) return std::unexpected(port.error());
  if (auto r = server->run(listen); !r) return std::unexpected(r.error());
  return std::unique_ptr<Server>(std::move(server));
}

}  // namespace sealnet::status
