#include "tests/host/netns_fixture.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

namespace sealnet::testing {

namespace {

constexpr const char* kPrefix = "sealnet-t";

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += (c == '\'') ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

}  // namespace

CommandResult shell(const std::string& cmd) {
  CommandResult r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  const int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

TestNetns::TestNetns() {
  static std::atomic<int> counter{0};
  name_ = std::string(kPrefix) + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  if (auto r = shell("ip netns add " + name_); r.status != 0) {
    ADD_FAILURE() << "ip netns add " << name_ << ": " << r.output;
    return;
  }
  must("ip link set lo up");
}

TestNetns::~TestNetns() {
  // Devices in the namespace go with it; veth peers outside go too.
  shell("ip netns pids " + name_ + " | xargs -r kill -9");
  shell("ip netns del " + name_);
}

CommandResult TestNetns::sh(const std::string& cmd) const {
  return shell("ip netns exec " + name_ + " sh -c " + quote(cmd));
}

std::string TestNetns::must(const std::string& cmd) const {
  auto r = sh(cmd);
  EXPECT_EQ(r.status, 0) << "in netns " << name_ << ": " << cmd << "\n" << r.output;
  return r.output;
}

NetnsScope TestNetns::enter() const {
  auto s = NetnsScope::enter(name_);
  if (!s) {
    ADD_FAILURE() << s.error().message();
    std::abort();
  }
  return std::move(*s);
}

void remove_stale_test_namespaces() {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/run/netns", ec)) {
    const std::string n = e.path().filename();
    if (n.rfind(kPrefix, 0) != 0) continue;
    const pid_t pid = std::atoi(n.c_str() + std::string(kPrefix).size());
    if (pid > 0 && pid != ::getpid() && ::kill(pid, 0) != 0) shell("ip netns del " + n);
  }
}

uint16_t free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    ADD_FAILURE() << "cannot pick a free port";
  if (fd >= 0) ::close(fd);
  return ntohs(a.sin_port);
}

int spawn_logged(std::vector<std::string> args, const std::string& log) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    ::dup2(out, 1);
    ::dup2(out, 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

void skip_unless_executable(const std::string& path, const char* package) {
  if (::access(path.c_str(), X_OK) == 0) return;
  std::printf("SKIPPED: %s is not installed (Debian package %s)\n", path.c_str(), package);
  std::fflush(stdout);
  std::_Exit(77);
}

}  // namespace sealnet::testing
