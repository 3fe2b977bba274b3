// A real Prometheus server (Debian's package, 2.42 here) scrapes a real status
// endpoint and answers for the encrypted-bytes series through its HTTP API.
// The host kernel has no ESP, so no agent runs here: the endpoint is the
// agent's status server (datapath/status/server.h) fed by a realistic model
// (tests/unit/status_fixture.h: 200 peers, packet and crypto offload and
// software, a rotation half done). Prometheus runs in the test's own network namespace on a
// free loopback port, with its TSDB in a temporary directory, scraping every
// second; it is killed at the end. Exit 77 (skipped) without prometheus.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "datapath/status/prometheus.h"
#include "datapath/status/server.h"
#include "tests/host/netns_fixture.h"
#include "tests/unit/status_fixture.h"

namespace sealnet::status {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string prometheus_binary() {
  const char* e = std::getenv("SEALNET_PROMETHEUS");
  return e ? e : "/usr/bin/prometheus";
}

// One Prometheus scraping 127.0.0.1:<target> every second.
class PrometheusServer {
 public:
  explicit PrometheusServer(int target) {
    char tmpl[] = "/tmp/sealnet-prometheus-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    port_ = ::sealnet::testing::free_loopback_port();
    std::ofstream(dir_ + "/prometheus.yml") << "global:\n"
                                               "  scrape_interval: 1s\n"
                                               "  scrape_timeout: 1s\n"
                                               "scrape_configs:\n"
                                               "  - job_name: sealnet\n"
                                               "    static_configs:\n"
                                               "      - targets: ['127.0.0.1:"
                                            << target << "']\n";
    std::vector<std::string> args = {prometheus_binary(), "--config.file=" + dir_ + "/prometheus.yml",
                                     "--storage.tsdb.path=" + dir_ + "/data",
                                     "--web.listen-address=127.0.0.1:" + std::to_string(port_),
                                     "--log.level=warn"};
    pid_ = ::sealnet::testing::spawn_logged(std::move(args), dir_ + "/prometheus.log");
  }
  ~PrometheusServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  bool running() const { return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0; }

  // /api/v1/query: the instant vector's samples (empty until scraped).
  nlohmann::json query(const std::string& promql) const {
    httplib::Client c("127.0.0.1", port_);
    c.set_connection_timeout(1, 0);
    c.set_read_timeout(5, 0);
    auto res = c.Get("/api/v1/query", httplib::Params{{"query", promql}}, httplib::Headers{});
    if (!res || res->status != 200) return nlohmann::json::array();
    auto j = nlohmann::json::parse(res->body, nullptr, false);
    if (j.is_discarded() || j.value("status", "") != "success") return nlohmann::json::array();
    return j["data"]["result"];
  }
  // The API's status and error for a query ("success", or "error: <why>").
  std::string check(const std::string& promql) const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(5, 0);
    auto res = c.Get("/api/v1/query", httplib::Params{{"query", promql}}, httplib::Headers{});
    if (!res) return "no reply";
    auto j = nlohmann::json::parse(res->body, nullptr, false);
    if (j.is_discarded()) return "not JSON: " + res->body;
    return j.value("status", "") == "success" ? "success" : "error: " + j.value("error", res->body);
  }
  std::string log() const {
    return ::sealnet::testing::shell("tail -n 30 " + dir_ + "/prometheus.log").output;
  }

 private:
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

TEST(PrometheusScrape, ARealPrometheusReadsTheEncryptedBytesPerDeviceAndMode) {
  ::sealnet::testing::skip_unless_executable(prometheus_binary(), "prometheus");
  ::sealnet::testing::TestNetns ns;
  auto in = ns.enter();
  constexpr size_t kPeers = 200;
  const AgentStatus model = testing::realistic_status(kPeers);
  auto srv = Server::start("127.0.0.1:0", [&] { return model; });
  ASSERT_TRUE(srv.has_value()) << srv.error().message();
  PrometheusServer prom((*srv)->port());

  const std::string q = R"(sealnet_encrypted_bytes_total{job="sealnet",device="eth1",mode="crypto"})";
  nlohmann::json r;
  for (auto end = std::chrono::steady_clock::now() + 60s; std::chrono::steady_clock::now() < end;) {
    ASSERT_TRUE(prom.running()) << "prometheus exited; its log:\n" << prom.log();
    r = prom.query(q);
    if (!r.empty()) break;
    std::this_thread::sleep_for(250ms);
  }
  ASSERT_EQ(r.size(), 1u) << "no sample for " << q << " within 60 s; prometheus' log:\n" << prom.log();
  EXPECT_EQ(r[0]["value"][1].get<std::string>(),
            std::to_string(testing::realistic_encrypted_bytes(kPeers, "eth1", "crypto")));
  EXPECT_EQ(r[0]["metric"]["instance"], "127.0.0.1:" + std::to_string((*srv)->port()));

  // The software uplink's series, and every series of the exposition was taken
  // (a sample Prometheus refused would be missing from the count).
  for (const auto& [dev, mode] : {std::pair{"eth0", "software"}, {"eth2", "packet"}}) {
    auto r2 = prom.query("sealnet_encrypted_bytes_total{device=\"" + std::string(dev) + "\",mode=\"" + mode +
                         "\"}");
    ASSERT_EQ(r2.size(), 1u) << dev;
    EXPECT_EQ(r2[0]["value"][1].get<std::string>(),
              std::to_string(testing::realistic_encrypted_bytes(kPeers, dev, mode)));
  }
  size_t exposed = 0;
  {
    std::istringstream lines(render_prometheus(model));
    for (std::string l; std::getline(lines, l);) exposed += !l.empty() && l[0] != '#';
  }
  auto count = prom.query(R"(count({job="sealnet",__name__=~"sealnet_.*"}))");
  ASSERT_EQ(count.size(), 1u);
  EXPECT_EQ(count[0]["value"][1].get<std::string>(), std::to_string(exposed));
  // What a dashboard asks: a rate over the counter works (0 here: the model is still).
  // (Two scrapes are needed: a few seconds at most.)
  nlohmann::json rate;
  for (int i = 0; i < 40 && rate.empty(); ++i) {
    rate = prom.query(R"(sum by (device, mode) (rate(sealnet_encrypted_bytes_total[5s])))");
    if (rate.empty()) std::this_thread::sleep_for(250ms);
  }
  ASSERT_EQ(rate.size(), 4u) << rate.dump();  // eth1/crypto, eth2/packet, eth0/software, none/software
  for (const auto& v : rate) EXPECT_EQ(v["value"][1].get<std::string>(), "0") << v.dump();

  // Every query of the Grafana dashboard is PromQL this Prometheus accepts, and
  // those on counters of the model return series (Grafana's $variables filled in).
  std::ifstream f(std::string(SEALNET_SOURCE_DIR) + "/deploy/grafana/sealnet-dashboard.json");
  const auto dash = nlohmann::json::parse(f, nullptr, false);
  ASSERT_FALSE(dash.is_discarded());
  size_t queries = 0;
  for (const auto& p : dash.at("panels"))
    for (const auto& target : p.value("targets", nlohmann::json::array())) {
      std::string e = target.at("expr");
      for (auto [from, to] : {std::pair{"$__rate_interval", "5s"}, {"$instance", ".*"}})
        for (size_t at; (at = e.find(from)) != std::string::npos;)
          e.replace(at, std::string(from).size(), to);
      EXPECT_EQ(prom.check(e), "success") << p.at("title") << ": " << e;
      ++queries;
    }
  EXPECT_GT(queries, 10u);
  (*srv)->stop();
}

}  // namespace
}  // namespace sealnet::status
