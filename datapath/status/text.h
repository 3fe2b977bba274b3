// datapath/status/text: how status values print wherever they are shown (the
// table, the metrics' labels, /readyz): peer names, SPIs, untrusted text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "datapath/status/model.h"

namespace sealnet::status {

// Names and reasons come from the kernel, the config and peers: a control
// character must not break the table or reach the terminal; it prints as '?'.
std::string printable(std::string_view s);

// The peer's name, or node-<id> when it has none.
std::string peer_name(const PeerStatus& p);

// 0x%08x, as `ip xfrm state` prints SPIs.
std::string spi_str(uint32_t spi);

}  // namespace sealnet::status
