// The cluster's nodes as a passive observer of its wire needs them: each
// node's id (the top 16 bits of every SPI it sends, docs/xfrm-design.md
// "SPIs", offload::make_spi) and node address (the outer source of what it
// sends, and the address its per-pair keys are derived for,
// keys::derive_pair_key). From `--node ID=ADDR` flags or the agent's config.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/ip.h"
#include "datapath/config.h"
#include "offload/binding.h"

namespace sealnet::wire {

struct WireNode {
  uint16_t id = 0;
  IpAddr addr;         // IPv4: the harness opens IPv4 tunnels only
  uint8_t slots = 16;  // uplink slots it sends from: the SPI's sender slot is below this
};

// "--node 1=192.168.0.1": any slot.
Result<WireNode> parse_node_flag(std::string_view text);

class NodeTable {
 public:
  NodeTable() = default;
  // Ids 1..0xFFFE and IPv4 addresses, each given once.
  static Result<NodeTable> make(std::vector<WireNode> nodes);
  // The config's node and its static peers, by their IPv4 addresses (a node
  // with none tunnels over IPv6 and is left out): a peer sends from `uplinks`
  // slots (default 1), the node from as many as its `uplinks` names (any
  // when it names none: every device the FIB uses).
  static Result<NodeTable> from_config(const config::AgentConfig& c);

  bool empty() const { return nodes_.empty(); }
  const std::vector<WireNode>& nodes() const { return nodes_; }
  const WireNode* by_id(uint16_t id) const;
  const WireNode* by_addr(const IpAddr& a) const;

  // Who sent an ESP frame under `spi` from `src` to `dst`: the SPI's parts
  // (offload::split_spi), when its sender node is the node at `src`, its
  // slot one that node sends from, and `dst` another node of the table.
  Result<offload::SpiParts> sender_of(uint32_t spi, const IpAddr& src, const IpAddr& dst) const;

 private:
  std::vector<WireNode> nodes_;
};

// "spi 0x00011000 (node 1 key 1 slot 0 generation 0)".
std::string describe_spi(uint32_t spi);

}  // namespace sealnet::wire
