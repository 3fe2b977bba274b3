#include "datapath/host_port.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace sealnet {

std::optional<HostPort> parse_host_port(std::string_view text, HostPortRules rules) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  else if (host.find(':') != std::string_view::npos)
    return std::nullopt;
  const std::string_view port = text.substr(colon + 1);
  unsigned p = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || p > 65535 ||
      (p == 0 && !rules.port_zero))
    return std::nullopt;
  auto addr = IpAddr::parse(host);
  // Names as getaddrinfo takes them; '_' for container and compose service names.
  const bool name = rules.names && !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
  });
  if (!addr && !name) return std::nullopt;
  HostPort hp{std::string(host), std::nullopt, static_cast<uint16_t>(p)};
  if (addr) hp.addr = *addr;
  return hp;
}

}  // namespace sealnet
