// Network namespaces: open one by name or path, enter it for a scope and come
// back (NetnsScope), so tests and tools never change the caller's namespace.
#pragma once

#include <string>

#include "core/error.h"
#include "core/fd.h"

namespace sealnet {

// Switches the calling thread into a network namespace for its lifetime and
// back on destruction. Namespaces are named as iproute2 names them
// (/run/netns/NAME) or given as a path.
class NetnsScope {
 public:
  static Result<NetnsScope> enter(const std::string& name_or_path);
  NetnsScope(NetnsScope&&) noexcept = default;
  NetnsScope& operator=(NetnsScope&&) = delete;
  ~NetnsScope();

 private:
  explicit NetnsScope(Fd home) : home_(std::move(home)) {}
  Fd home_;
};

std::string netns_path(const std::string& name_or_path);

}  // namespace sealnet
