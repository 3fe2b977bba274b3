// Errors as values: Result<T> = std::expected<T, Error>, where an Error names
// the operation, the object and the errno (and the kernel's extack when any).
#pragma once

#include <expected>
#include <string>
#include <utility>

namespace sealnet {

// An error a user can act on: what was being done, to what, and why it failed.
// `err` is a positive errno, or 0 when the failure is not a system error
// (bad input, a kernel reply that says no without an errno).
struct Error {
  int err = 0;
  std::string op;      // "XFRM_MSG_NEWSA", "open", "parse key file"
  std::string object;  // "spi 0x100 on eth0", "/etc/sealnet/keys:3"
  std::string detail;  // extack text, the field that is wrong, ...

  std::string message() const;
};

template <typename T>
using Result = std::expected<T, Error>;
using Status = std::expected<void, Error>;

inline std::unexpected<Error> fail(int err, std::string op, std::string object = {},
                                   std::string detail = {}) {
  return std::unexpected(Error{err, std::move(op), std::move(object), std::move(detail)});
}

// The same, reading errno.
std::unexpected<Error> fail_errno(std::string op, std::string object = {});

}  // namespace sealnet
