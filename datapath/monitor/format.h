// datapath/monitor/format: one datapath event (bpf/shared.h, docs/events.md) as
// the line or the JSON object `sealnet monitor` prints. Pure: the names come in
// as data, the time as a number.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "bpf/shared.h"

namespace sealnet::monitor {

// What the reader knows to name things with, from the pinned maps and the
// agent's /status (any of it may be missing: numbers are printed then).
struct Names {
  uint32_t local_node_id = 0;                   // 0: unknown (no SPI then)
  std::map<uint32_t, std::string> devices;      // ifindex -> device name
  std::map<uint8_t, uint32_t> slot_ifindex;     // device slot -> ifindex
  std::map<uint8_t, uint8_t> slot_generation;   // device slot -> its current SPI generation
  std::map<uint32_t, std::string> peers;        // node id -> name
};

struct Filter {
  bool drops = true;  // DROP and PLAINTEXT records
  bool flows = true;
  std::optional<uint32_t> peer;  // only records whose peer_node_id is this
};

bool wanted(const sealnet_event& e, const Filter& f);

// "10:02:03.123" (UTC) from unix nanoseconds.
std::string clock_text(uint64_t unix_ns);
// "crypto-offload", "packet-offload", "software", or "" for SEALNET_EV_NONE.
std::string mode_text(uint8_t mode);
// The SPI the mark's SA has, when the local node and the slot's generation are known.
std::optional<uint32_t> spi_of(const sealnet_event& e, const Names& n);

// 10:02:03.123 pod 10.241.1.2:5353 -> 10.241.2.3:53 udp ENCRYPTED crypto-offload nsim0 spi 0x00011100 key 1 peer node-b
// 10:02:03.200 pod 10.241.1.2:5353 -> 10.241.9.3:53 udp DROP no-key lxc1 peer node-c key 0
std::string format_line(const sealnet_event& e, const Names& n, uint64_t unix_ns);
// One JSON object on one line (docs/events.md lists its fields).
std::string format_json(const sealnet_event& e, const Names& n, uint64_t unix_ns);

}  // namespace sealnet::monitor
