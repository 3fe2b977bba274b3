#include "bench/wire/nodes.h"

#include <netinet/in.h>

#include <cstdio>
#include <string>

#include "core/text.h"

namespace sealnet::wire {

namespace {

std::string spi_hex(uint32_t spi) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", spi);
  return buf;
}

}  // namespace

std::string describe_spi(uint32_t spi) {
  const auto p = offload::split_spi(spi);
  return "spi " + spi_hex(spi) + " (node " + std::to_string(p.node) + " key " + std::to_string(p.key) +
         " slot " + std::to_string(p.slot) + " generation " + std::to_string(p.generation) + ")";
}

Result<WireNode> parse_node_flag(std::string_view text) {
  const std::string what(text);
  const auto eq = text.find('=');
  if (eq == std::string_view::npos)
    return fail(0, "parse --node", what, "expected ID=IPV4, e.g. 1=192.168.0.1");
  const auto id = parse_unsigned(text.substr(0, eq), config::kNodeIdMax);
  if (!id || *id < config::kNodeIdMin)
    return fail(0, "parse --node", what, "node id is not 1.." + std::to_string(config::kNodeIdMax));
  auto addr = IpAddr::parse(text.substr(eq + 1));
  if (!addr) return fail(0, "parse --node", what, "not an IPv4 address after '='");
  return WireNode{static_cast<uint16_t>(*id), *addr, 16};
}

Result<NodeTable> NodeTable::make(std::vector<WireNode> nodes) {
  NodeTable t;
  for (const auto& n : nodes) {
    const std::string what = "node " + std::to_string(n.id) + " " + n.addr.str();
    if (n.id < config::kNodeIdMin || n.id > config::kNodeIdMax)
      return fail(0, "make node table", what, "node id is not 1.." + std::to_string(config::kNodeIdMax));
    if (n.addr.family != AF_INET)
      return fail(0, "make node table", what, "the wire harness handles IPv4 tunnels only");
    if (t.by_id(n.id)) return fail(0, "make node table", what, "node id given twice");
    if (t.by_addr(n.addr)) return fail(0, "make node table", what, "address given twice");
    t.nodes_.push_back(n);
  }
  return t;
}

Result<NodeTable> NodeTable::from_config(const config::AgentConfig& c) {
  // A node without an IPv4 address tunnels over IPv6, which the harness does
  // not open: it is left out (its frames are then unknown SAs).
  std::vector<WireNode> nodes;
  const size_t own = c.uplinks.empty() ? 16 : c.uplinks.size();
  if (c.node.ipv4) nodes.push_back({c.node.id, *c.node.ipv4, static_cast<uint8_t>(own)});
  for (const auto& p : c.peers)
    if (p.ipv4) nodes.push_back({p.id, *p.ipv4, p.uplinks});
  return make(std::move(nodes));
}

const WireNode* NodeTable::by_id(uint16_t id) const {
  for (const auto& n : nodes_)
    if (n.id == id) return &n;
  return nullptr;
}

const WireNode* NodeTable::by_addr(const IpAddr& a) const {
  for (const auto& n : nodes_)
    if (n.addr == a) return &n;
  return nullptr;
}

Result<offload::SpiParts> NodeTable::sender_of(uint32_t spi, const IpAddr& src, const IpAddr& dst) const {
  const auto p = offload::split_spi(spi);
  const std::string what = describe_spi(spi) + " " + src.str() + "->" + dst.str();
  const WireNode* sender = by_id(p.node);
  if (!sender)
    return fail(
        0, "find SA", what,
        "no node " + std::to_string(p.node) + " with an IPv4 address in the node table (--node, --config)");
  if (sender->addr != src)
    return fail(0, "find SA", what, "node " + std::to_string(p.node) + " is " + sender->addr.str());
  if (p.slot >= sender->slots)
    return fail(
        0, "find SA", what,
        "node " + std::to_string(p.node) + " sends from " + std::to_string(sender->slots) + " slot(s)");
  const WireNode* receiver = by_addr(dst);
  if (!receiver || receiver == sender)
    return fail(0, "find SA", what, dst.str() + " is no other node of the table");
  return p;
}

}  // namespace sealnet::wire
