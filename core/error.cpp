#include "core/error.h"

#include <cerrno>
#include <cstring>

namespace sealnet {

std::string Error::message() const {
  std::string m = op;
  if (!object.empty()) m += " " + object;
  m += ": ";
  if (err != 0) m += std::strerror(err);
  if (!detail.empty()) m += (err != 0 ? " (" + detail + ")" : detail);
  if (err == 0 && detail.empty()) m += "failed";
  return m;
}

std::unexpected<Error> fail_errno(std::string op, std::string object) {
  return fail(errno, std::move(op), std::move(object));
}

}  // namespace sealnet
