#include "core/netns.h"

#include <fcntl.h>
#include <sched.h>

#include <cstdio>
#include <cstdlib>

namespace sealnet {

std::string netns_path(const std::string& name_or_path) {
  if (name_or_path.find('/') != std::string::npos) return name_or_path;
  return "/run/netns/" + name_or_path;
}

Result<NetnsScope> NetnsScope::enter(const std::string& name_or_path) {
  Fd home(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!home) return fail_errno("open", "/proc/thread-self/ns/net");
  const std::string path = netns_path(name_or_path);
  Fd target(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!target) return fail_errno("open network namespace", path);
  if (::setns(target.get(), CLONE_NEWNET) != 0) return fail_errno("setns", path);
  return NetnsScope(std::move(home));
}

NetnsScope::~NetnsScope() {
  // A thread that cannot return to its namespace must not go on working in the
  // wrong one.
  if (home_ && ::setns(home_.get(), CLONE_NEWNET) != 0) {
    std::perror("sealnet: setns back to the original network namespace");
    std::abort();
  }
}

}  // namespace sealnet
