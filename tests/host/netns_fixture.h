// Host tests' private network namespace (TestNetns): made per test, entered for
// the test's body, deleted afterwards, so the host's own network is never touched.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/netns.h"

namespace sealnet::testing {

struct CommandResult {
  int status = -1;     // exit status, or -1 when it did not exit normally
  std::string output;  // stdout and stderr
};

// Runs a shell command on the host (not in any test namespace).
CommandResult shell(const std::string& cmd);

// A network namespace of one test: created empty (loopback up), removed with
// everything in it when the object goes. Names carry the test process's pid,
// so the next run can remove what a crashed run left behind.
class TestNetns {
 public:
  TestNetns();
  ~TestNetns();
  TestNetns(const TestNetns&) = delete;
  TestNetns& operator=(const TestNetns&) = delete;

  const std::string& name() const { return name_; }
  // Runs a shell command inside the namespace.
  CommandResult sh(const std::string& cmd) const;
  // Like sh(), but a non-zero exit fails the current test with the output.
  std::string must(const std::string& cmd) const;
  // Moves the calling thread into the namespace until the scope ends.
  NetnsScope enter() const;

 private:
  std::string name_;
};

// Removes namespaces named by earlier test runs whose process is gone.
void remove_stale_test_namespaces();

// A TCP port free on 127.0.0.1 of the calling thread's namespace (the kernel's
// pick; a test that binds it later may race another process, which fails loudly).
uint16_t free_loopback_port();

// Starts `args` (args[0] a path) as a child that dies with the test process
// (PR_SET_PDEATHSIG), its stdout and stderr appended to `log`; returns its pid
// (-1 when fork failed).
int spawn_logged(std::vector<std::string> args, const std::string& log);

// The tier's way to skip: when `path` is not executable, exit 77 with the
// reason (the Debian package to install), which ctest reports as skipped.
void skip_unless_executable(const std::string& path, const char* package);

}  // namespace sealnet::testing
