// datapath/host_port: the one reading of "ADDRESS:PORT", "[IPv6]:PORT" and, where
// a name may stand, "HOST:PORT" (metrics.listen, the status server and client, etcd).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/ip.h"

namespace sealnet {

struct HostPort {
  std::string host;            // without brackets
  std::optional<IpAddr> addr;  // set when host is an address, not a name
  uint16_t port = 0;
};

struct HostPortRules {
  bool names = false;      // a host name may stand for the address ("localhost:9962")
  bool port_zero = false;  // port 0: a listener lets the kernel pick a free port
};

// The form, for the caller's error message (each words its own).
inline constexpr const char* kHostPortForm = "ADDRESS:PORT (IPv6 as [ADDRESS]:PORT)";

// nullopt when `text` is not one of the forms the rules allow. IPv6 needs
// brackets, or the port would be ambiguous.
std::optional<HostPort> parse_host_port(std::string_view text, HostPortRules rules);

}  // namespace sealnet
