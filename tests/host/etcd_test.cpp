// datapath/discovery against a real etcd (Debian's etcd-server, 3.4): each test
// starts its own etcd in its own network namespace, on loopback ports it picks,
// with its data in a temporary directory, and kills it at the end. Skipped
// (exit 77) without the etcd binary.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>

#include "datapath/discovery/etcd.h"
#include "datapath/discovery/registry.h"
#include "tests/host/netns_fixture.h"

namespace sealnet::discovery {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

std::string etcd_binary() {
  const char* e = std::getenv("SEALNET_ETCD");
  return e ? e : "/usr/bin/etcd";
}

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto end = Clock::now() + timeout;
  while (Clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

// One single-member etcd on 127.0.0.1.
class EtcdServer {
 public:
  explicit EtcdServer(bool tls = false) : tls_(tls) {
    char tmpl[] = "/tmp/sealnet-etcd-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    client_port_ = testing::free_loopback_port();
    peer_port_ = testing::free_loopback_port();
    if (tls_) make_certificates();
  }
  ~EtcdServer() {
    kill();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string endpoint() const {
    return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(client_port_);
  }
  EtcdOptions options() const {
    EtcdOptions o;
    o.endpoints = {endpoint()};
    o.connect_timeout = 500ms;
    o.request_timeout = 2s;
    o.backoff = Backoff{50ms, 500ms};
    if (tls_) {
      o.ca_file = dir_ + "/ca.pem";
      o.cert_file = dir_ + "/client.pem";
      o.key_file = dir_ + "/client.key";
    }
    return o;
  }
  std::shared_ptr<EtcdClient> client() const {
    auto c = EtcdClient::make(options());
    EXPECT_TRUE(c.has_value()) << c.error().message();
    return c ? std::shared_ptr<EtcdClient>(std::move(*c)) : nullptr;
  }
  const std::string& dir() const { return dir_; }

  void start() {
    const std::string url = endpoint();
    const std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
    std::vector<std::string> args = {etcd_binary(),
                                     "--name", "t",
                                     "--data-dir", dir_ + "/data",
                                     "--listen-client-urls", url,
                                     "--advertise-client-urls", url,
                                     "--listen-peer-urls", peer,
                                     "--initial-advertise-peer-urls", peer,
                                     "--initial-cluster", "t=" + peer};
    if (tls_) add_tls(args);
    pid_ = testing::spawn_logged(std::move(args), dir_ + "/etcd.log");
    ASSERT_GT(pid_, 0);
    auto c = client();
    ASSERT_TRUE(c);
    ASSERT_TRUE(eventually([&] { return c->get("ready").has_value(); }, 15s))
        << "etcd did not come up; its log:\n" << log();
  }
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  void wipe() { fs::remove_all(dir_ + "/data"); }
  std::string log() const { return testing::shell("tail -n 30 " + dir_ + "/etcd.log").output; }

 private:
  void add_tls(std::vector<std::string>& args) const {
    for (const auto& [flag, file] : {std::pair{"--cert-file", "server.pem"}, {"--key-file", "server.key"},
                                     {"--trusted-ca-file", "ca.pem"}}) {
      args.push_back(flag);
      args.push_back(dir_ + "/" + file);
    }
    args.push_back("--client-cert-auth");
  }
  // A throw-away CA, a server certificate for 127.0.0.1 and a client certificate.
  void make_certificates() {
    const std::string d = dir_;
    const auto r = testing::shell(
        "(set -e; cd " + d +
        "; openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=test-ca"
        " -keyout ca.key -out ca.pem"
        "; openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=etcd -keyout server.key"
        " -out server.csr"
        "; printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth,clientAuth\\n' > server.ext"
        "; openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -extfile server.ext"
        " -out server.pem"
        "; openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=sealnet -keyout client.key"
        " -out client.csr"
        "; printf 'extendedKeyUsage=clientAuth\\n' > client.ext"
        "; openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -extfile client.ext"
        " -out client.pem)");
    ASSERT_EQ(r.status, 0) << r.output;
  }

  bool tls_;
  std::string dir_;
  uint16_t client_port_ = 0, peer_port_ = 0;
  pid_t pid_ = -1;
};

// The test's own network namespace (loopback only), entered by the test's
// thread: etcd is forked from it and every client thread is created from it, so
// all of them live there and nothing touches the host's ports.
struct OwnNetns {
  testing::TestNetns ns;
  NetnsScope in = ns.enter();
};

struct EtcdTest : ::testing::Test {
  void SetUp() override {
    testing::skip_unless_executable(etcd_binary(), "etcd-server");
    netns = std::make_unique<OwnNetns>();
    server = std::make_unique<EtcdServer>();
    server->start();
  }
  void TearDown() override {
    server.reset();
    netns.reset();
  }
  std::unique_ptr<OwnNetns> netns;
  std::unique_ptr<EtcdServer> server;
};

TEST_F(EtcdTest, PutGetDeleteAndLeases) {
  auto c = server->client();
  ASSERT_TRUE(c->put("/t/a/1", "one").has_value());
  ASSERT_TRUE(c->put("/t/a/2", std::string("two\0bytes", 9)).has_value());
  ASSERT_TRUE(c->put("/t/b", "other").has_value());
  auto one = c->get("/t/a/1");
  ASSERT_TRUE(one.has_value()) << one.error().message();
  ASSERT_TRUE(one->has_value());
  EXPECT_EQ((*one)->value, "one");
  auto all = c->get_prefix("/t/a/");
  ASSERT_TRUE(all.has_value());
  ASSERT_EQ(all->kvs.size(), 2u);
  EXPECT_EQ(all->kvs[1].value, std::string("two\0bytes", 9));
  EXPECT_GT(all->revision, 0);
  EXPECT_EQ(*c->erase("/t/a/1"), 1);
  EXPECT_FALSE(c->get("/t/a/1")->has_value());
  EXPECT_EQ(*c->erase_prefix("/t/"), 2);

  auto lease = c->lease_grant(5s);
  ASSERT_TRUE(lease.has_value()) << lease.error().message();
  EXPECT_EQ(lease->ttl, 5);
  ASSERT_TRUE(c->put("/t/leased", "x", lease->id).has_value());
  auto ttl = c->lease_keepalive(lease->id);
  ASSERT_TRUE(ttl.has_value()) << ttl.error().message();
  EXPECT_EQ(*ttl, 5);
  ASSERT_TRUE(c->lease_revoke(lease->id).has_value());
  EXPECT_FALSE(c->get("/t/leased")->has_value());  // went with its lease
  auto gone = c->lease_keepalive(lease->id);
  ASSERT_FALSE(gone.has_value());
  EXPECT_EQ(gone.error().err, ENOENT);
  auto refused = c->put("/t/x", "y", lease->id);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().err, ENOENT) << refused.error().message();
}

TEST_F(EtcdTest, UnreachableEndpointIsSkipped) {
  EtcdOptions o = server->options();
  o.endpoints.insert(o.endpoints.begin(), "http://127.0.0.1:" + std::to_string(testing::free_loopback_port()));
  auto c = EtcdClient::make(o);
  ASSERT_TRUE(c.has_value());
  EXPECT_TRUE((*c)->put("/t/k", "v").has_value());
  EXPECT_FALSE(EtcdClient::make(EtcdOptions{}).has_value());  // no endpoint
}

struct WatchLog {
  std::mutex mu;
  std::vector<RangeResult> snapshots;
  std::vector<WatchEvent> events;
  int ups = 0, downs = 0;
  WatchCallbacks callbacks() {
    return {[this](const RangeResult& s) { std::lock_guard l(mu); snapshots.push_back(s); },
            [this](const std::vector<WatchEvent>& ev, int64_t) {
              std::lock_guard l(mu);
              events.insert(events.end(), ev.begin(), ev.end());
            },
            [this](const std::optional<Error>& e) { std::lock_guard l(mu); ++(e ? downs : ups); }};
  }
  template <typename F>
  auto with(F f) {
    std::lock_guard l(mu);
    return f();
  }
};

TEST_F(EtcdTest, WatchListsThenStreamsAndRelistsAfterCompaction) {
  EtcdOptions o = server->options();
  o.watch_idle = 700ms;  // quiet streams are reopened: nothing may be lost or reported down
  auto made = EtcdClient::make(o);
  ASSERT_TRUE(made.has_value());
  std::shared_ptr<EtcdClient> c = std::move(*made);
  ASSERT_TRUE(c->put("/w/a", "1").has_value());
  ASSERT_TRUE(c->put("/other", "x").has_value());
  WatchLog log;
  auto w = c->watch_prefix("/w/", 0, log.callbacks());
  ASSERT_TRUE(eventually([&] { return log.with([&] { return log.ups == 1 && log.snapshots.size() == 1; }); }, 5s));
  EXPECT_EQ(log.with([&] { return log.snapshots[0].kvs.size(); }), 1u);
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(log.with([&] { return log.downs; }), 0);
  ASSERT_TRUE(c->put("/w/b", "2").has_value());
  ASSERT_TRUE(c->put("/other", "y").has_value());
  ASSERT_TRUE(c->erase("/w/a").has_value());
  ASSERT_TRUE(eventually([&] { return log.with([&] { return log.events.size() == 2; }); }, 5s));
  log.with([&] {
    EXPECT_EQ(log.events[0].type, WatchEvent::Type::Put);
    EXPECT_EQ(log.events[0].kv.key, "/w/b");
    EXPECT_EQ(log.events[0].kv.value, "2");
    EXPECT_EQ(log.events[1].type, WatchEvent::Type::Delete);
    EXPECT_EQ(log.events[1].kv.key, "/w/a");
    return 0;
  });
  w.reset();

  // A watch from a revision that was compacted away lists the prefix again.
  auto rev = c->put("/w/c", "3");
  ASSERT_TRUE(rev.has_value());
  ASSERT_TRUE(c->call("/v3/kv/compaction", "{\"revision\":\"" + std::to_string(*rev) + "\"}").has_value());
  WatchLog log2;
  auto w2 = c->watch_prefix("/w/", 2, log2.callbacks());
  ASSERT_TRUE(eventually([&] { return log2.with([&] { return log2.snapshots.size() == 1; }); }, 5s));
  EXPECT_EQ(log2.with([&] { return log2.snapshots[0].kvs.size(); }), 2u);  // /w/b and /w/c
  ASSERT_TRUE(c->put("/w/d", "4").has_value());
  ASSERT_TRUE(eventually([&] { return log2.with([&] { return log2.events.size() == 1; }); }, 5s));
}

// ---------------------------------------------------------------- registry

NodeRecord node(const std::string& name, uint16_t id) {
  NodeRecord r;
  r.name = name;
  r.id = id;
  r.ipv4 = *IpAddr::parse("192.168.77." + std::to_string(id));
  r.pod_cidrs = {*IpPrefix::parse("10.77." + std::to_string(id) + ".0/24")};
  return r;
}

// What one registry reported, with the time of each callback.
struct PeerLog {
  std::mutex mu;
  std::vector<std::pair<Clock::time_point, NodeRecord>> upserts;
  std::vector<std::pair<Clock::time_point, std::string>> removes;
  RegistryCallbacks callbacks() {
    return {[this](const NodeRecord& r) { std::lock_guard l(mu); upserts.emplace_back(Clock::now(), r); },
            [this](const std::string& n) { std::lock_guard l(mu); removes.emplace_back(Clock::now(), n); }};
  }
  size_t removed(const std::string& name) {
    std::lock_guard l(mu);
    return std::count_if(removes.begin(), removes.end(), [&](const auto& r) { return r.second == name; });
  }
  std::optional<Clock::time_point> removed_at(const std::string& name) {
    std::lock_guard l(mu);
    for (const auto& [t, n] : removes)
      if (n == name) return t;
    return std::nullopt;
  }
};

RegistryOptions fast(std::chrono::seconds ttl, std::chrono::milliseconds grace) {
  RegistryOptions o;
  o.prefix = "/sealnet-test";
  o.ttl = ttl;
  o.grace = grace;
  o.backoff = Backoff{50ms, 500ms};
  return o;
}

std::unique_ptr<Registry> start_registry(EtcdServer& s, const NodeRecord& self, RegistryOptions o, PeerLog& log) {
  auto r = Registry::start(s.client(), self, std::move(o), log.callbacks());
  EXPECT_TRUE(r.has_value()) << r.error().message();
  return r ? std::move(*r) : nullptr;
}

TEST_F(EtcdTest, TwoRegistriesSeeEachOtherAndAThirdNodeComesAndGoes) {
  PeerLog la, lb;
  auto a = start_registry(*server, node("node-a", 1), fast(5s, 500ms), la);
  auto b = start_registry(*server, node("node-b", 2), fast(5s, 500ms), lb);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(eventually([&] { return a->peers().contains("node-b") && b->peers().contains("node-a"); }, 10s));
  EXPECT_EQ(a->peers().at("node-b"), node("node-b", 2));
  EXPECT_TRUE(a->wait_synced(1s));
  ASSERT_TRUE(eventually([&] { return a->status().connected && b->status().connected; }, 5s));
  auto st = a->status();
  EXPECT_EQ(st.backend, "etcd");
  EXPECT_EQ(st.peers, 1u);
  EXPECT_EQ(st.last_error, "");

  // A third node, written by hand under its own lease; then its key goes.
  auto c = server->client();
  auto lease = c->lease_grant(10s);
  ASSERT_TRUE(lease.has_value());
  NodeRecord n3 = node("node-c", 3);
  ASSERT_TRUE(c->put("/sealnet-test/nodes/node-c", record_to_json(n3), lease->id).has_value());
  ASSERT_TRUE(eventually([&] { return a->peers().contains("node-c") && b->peers().contains("node-c"); }, 5s));
  {
    std::lock_guard l(la.mu);
    ASSERT_FALSE(la.upserts.empty());
    EXPECT_EQ(la.upserts.back().second, n3);
  }
  // An update is an upsert with the new record.
  n3.keys = {2};
  ASSERT_TRUE(c->put("/sealnet-test/nodes/node-c", record_to_json(n3), lease->id).has_value());
  ASSERT_TRUE(eventually([&] { return a->peers().at("node-c").keys == std::vector<uint8_t>{2}; }, 5s));
  // A malformed record from somebody else changes nothing.
  ASSERT_TRUE(c->put("/sealnet-test/nodes/node-x", R"({"name":"node-x","id":99999})").has_value());
  ASSERT_TRUE(c->lease_revoke(lease->id).has_value());
  ASSERT_TRUE(eventually([&] { return la.removed("node-c") == 1 && lb.removed("node-c") == 1; }, 5s));
  EXPECT_FALSE(a->peers().contains("node-c"));
  EXPECT_FALSE(a->peers().contains("node-x"));
  EXPECT_EQ(la.removed("node-b"), 0u);

  // Publishing a change of our own record reaches the other node.
  NodeRecord a2 = node("node-a", 1);
  a2.device_modes = {{"eth0", "crypto"}};
  ASSERT_TRUE(a->update_self(a2).has_value());
  ASSERT_TRUE(eventually([&] { return b->peers().at("node-a") == a2; }, 5s));

  // A clean leave: the key goes at once, the other node drops it after the grace.
  ASSERT_TRUE(a->deregister().has_value());
  ASSERT_TRUE(eventually([&] { return lb.removed("node-a") == 1; }, 5s));
}

TEST_F(EtcdTest, ExpiredLeaseRemovesThePeerAfterTheGraceNotBefore) {
  constexpr auto kGrace = 2000ms;
  PeerLog la, lb;
  auto a = start_registry(*server, node("node-a", 1), fast(5s, kGrace), la);
  auto b = start_registry(*server, node("node-b", 2), fast(2s, kGrace), lb);
  ASSERT_TRUE(eventually([&] { return a->peers().contains("node-b"); }, 10s));
  b->stop();  // no more keep-alives: its 2 s lease lapses, its key goes with it
  auto c = server->client();
  const auto stopped = Clock::now();
  ASSERT_TRUE(eventually([&] { return !c->get("/sealnet-test/nodes/node-b")->has_value(); }, 10s));
  const auto key_gone = Clock::now();
  EXPECT_GE(key_gone - stopped, 1s);  // the lease ran its course first
  EXPECT_TRUE(a->peers().contains("node-b"));  // in force during the grace
  EXPECT_EQ(a->status().peers, 1u);
  ASSERT_TRUE(eventually([&] { return la.removed("node-b") == 1; }, kGrace + 5s));
  const auto removed = *la.removed_at("node-b");
  EXPECT_GE(removed - key_gone, kGrace - 250ms);
  EXPECT_LE(removed - key_gone, kGrace + 2s);
  EXPECT_FALSE(a->peers().contains("node-b"));
}

TEST_F(EtcdTest, LostLeaseIsRegisteredAgainAndTheReturnCancelsTheRemoval) {
  PeerLog la, lb;
  auto a = start_registry(*server, node("node-a", 1), fast(5s, 3000ms), la);
  auto b = start_registry(*server, node("node-b", 2), fast(3s, 3000ms), lb);
  ASSERT_TRUE(eventually([&] { return a->peers().contains("node-b") && b->lease_id() != 0; }, 10s));
  const int64_t old_lease = b->lease_id();
  auto c = server->client();
  ASSERT_TRUE(c->lease_revoke(old_lease).has_value());  // as if etcd had expired it
  ASSERT_TRUE(eventually(
      [&] { return b->lease_id() != old_lease && c->get("/sealnet-test/nodes/node-b")->has_value(); }, 5s));
  std::this_thread::sleep_for(3500ms);  // past the grace
  EXPECT_EQ(la.removed("node-b"), 0u);
  EXPECT_TRUE(a->peers().contains("node-b"));
}

TEST_F(EtcdTest, EtcdRestartKeepsPeersReconnectsAndRegistersAgain) {
  PeerLog la, lb;
  auto a = start_registry(*server, node("node-a", 1), fast(3s, 30s), la);
  auto b = start_registry(*server, node("node-b", 2), fast(3s, 30s), lb);
  ASSERT_TRUE(eventually([&] {
    return a->peers().contains("node-b") && b->peers().contains("node-a") && a->status().connected &&
           b->status().connected;
  }, 10s));

  server->kill();
  ASSERT_TRUE(eventually([&] { return !a->status().connected && !b->status().connected; }, 5s));
  EXPECT_NE(a->status().last_error, "");
  std::this_thread::sleep_for(1s);
  EXPECT_TRUE(a->peers().contains("node-b"));  // the last known peers stay
  EXPECT_EQ(a->status().peers, 1u);

  // The worst case: etcd comes back empty (data lost). Both register again.
  server->wipe();
  server->start();
  auto c = server->client();
  ASSERT_TRUE(eventually([&] {
    return a->status().connected && b->status().connected &&
           c->get("/sealnet-test/nodes/node-a")->has_value() && c->get("/sealnet-test/nodes/node-b")->has_value();
  }, 20s)) << a->status().last_error;
  EXPECT_EQ(a->status().last_error, "");
  EXPECT_EQ(la.removed("node-b"), 0u);
  EXPECT_EQ(lb.removed("node-a"), 0u);
  // And the watch follows the new store: a third node is seen.
  ASSERT_TRUE(c->put("/sealnet-test/nodes/node-c", record_to_json(node("node-c", 3))).has_value());
  ASSERT_TRUE(eventually([&] { return a->peers().contains("node-c"); }, 5s));
}

TEST(EtcdTls, ClientCertificateAuth) {
  testing::skip_unless_executable(etcd_binary(), "etcd-server");
  if (::access("/usr/bin/openssl", X_OK) != 0) GTEST_SKIP() << "no openssl CLI";
  OwnNetns netns;
  EtcdServer server(/*tls=*/true);
  server.start();
  auto c = server.client();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->put("/tls/k", "v").has_value());
  EXPECT_EQ((*c->get("/tls/k"))->value, "v");

  // Without a client certificate the server refuses us.
  EtcdOptions no_cert = server.options();
  no_cert.cert_file.clear();
  no_cert.key_file.clear();
  auto anon = EtcdClient::make(no_cert);
  ASSERT_TRUE(anon.has_value());
  EXPECT_FALSE((*anon)->put("/tls/k", "w").has_value());
  // A CA that did not sign the server's certificate fails verification.
  EtcdOptions wrong_ca = server.options();
  wrong_ca.ca_file = "/etc/ssl/certs/ca-certificates.crt";
  if (::access(wrong_ca.ca_file.c_str(), R_OK) == 0) {
    auto other = EtcdClient::make(wrong_ca);
    ASSERT_TRUE(other.has_value());
    auto r = (*other)->get("/tls/k");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().err, EPROTO) << r.error().message();
  }
}

}  // namespace
}  // namespace sealnet::discovery
