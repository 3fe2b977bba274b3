// `promtool check metrics` (Debian package prometheus) on the exposition of a
// realistic model: 2,000 peers over packet-offload, crypto-offload and software uplinks,
// half-way through a key rotation. Exit 77 (skipped) without promtool.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "datapath/status/prometheus.h"
#include "tests/unit/status_fixture.h"

namespace sealnet::status {
namespace {

std::string promtool() {
  const char* e = std::getenv("SEALNET_PROMTOOL");
  return e ? e : "/usr/bin/promtool";
}

TEST(StatusPromtool, CheckMetricsPassesOnARealisticExposition) {
  if (::access(promtool().c_str(), X_OK) != 0) {
    std::printf("SKIPPED: %s is not installed (Debian package prometheus)\n", promtool().c_str());
    std::fflush(stdout);
    std::_Exit(77);
  }
  char dir[] = "/tmp/sealnet-promtool-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string in = std::string(dir) + "/metrics.txt", out = std::string(dir) + "/out.txt";
  const std::string text = render_prometheus(testing::realistic_status(2000));
  std::ofstream(in) << text;
  // promtool reads the exposition on stdin; it prints lint problems and exits 1
  // on any of them (and 3 on a line it cannot parse).
  const std::string cmd = promtool() + " check metrics < " + in + " > " + out + " 2>&1";
  const int st = std::system(cmd.c_str());
  std::ifstream o(out);
  const std::string said((std::istreambuf_iterator<char>(o)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "promtool: " << said;
  EXPECT_EQ(said, "") << said;
  std::remove(in.c_str());
  std::remove(out.c_str());
  ::rmdir(dir);
}

}  // namespace
}  // namespace sealnet::status
