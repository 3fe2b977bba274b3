// main() of every host-tier test binary: the tier needs root, iproute2 and
// network namespaces on the host kernel. Without them the binary exits 77 with
// the reason, which ctest reports as skipped.
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "tests/host/netns_fixture.h"

namespace {

constexpr int kSkip = 77;

std::string why_not_runnable() {
  if (::geteuid() != 0) return "the host tier needs root (euid " + std::to_string(::geteuid()) + ")";
  if (::access("/usr/sbin/ip", X_OK) != 0 && ::access("/sbin/ip", X_OK) != 0 &&
      ::access("/usr/bin/ip", X_OK) != 0)
    return "iproute2's `ip` is not installed";
  const pid_t pid = ::fork();
  if (pid == 0) _exit(::unshare(CLONE_NEWNET) == 0 ? 0 : 1);
  int st = 0;
  if (pid < 0 || ::waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
    return "cannot create a network namespace here (unshare(CLONE_NEWNET) failed)";
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (::testing::GTEST_FLAG(list_tests)) return RUN_ALL_TESTS();
  if (auto why = why_not_runnable(); !why.empty()) {
    std::printf("SKIPPED: %s\n", why.c_str());
    return kSkip;
  }
  sealnet::testing::remove_stale_test_namespaces();
  return RUN_ALL_TESTS();
}
