#include "datapath/status/text.h"

#include <cstdio>

namespace sealnet::status {

std::string printable(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return out;
}

std::string peer_name(const PeerStatus& p) {
  return p.name.empty() ? "node-" + std::to_string(p.id) : p.name;
}

std::string spi_str(uint32_t spi) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", spi);
  return buf;
}

}  // namespace sealnet::status
