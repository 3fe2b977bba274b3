#include "datapath/monitor/format.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "bpf/programs.h"

namespace sealnet::monitor {

namespace {

std::string addr_text(uint8_t family, const uint32_t* a) {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (family == AF_INET || family == AF_INET6) inet_ntop(family, a, buf, sizeof buf);
  return buf;
}

std::string endpoint(uint8_t family, const uint32_t* a, uint16_t port, bool ports) {
  const std::string s = addr_text(family, a);
  if (!ports) return s;
  return (family == AF_INET6 ? "[" + s + "]" : s) + ":" + std::to_string(port);
}

bool has_ports(const sealnet_event& e) {
  return (e.protocol == IPPROTO_TCP || e.protocol == IPPROTO_UDP || e.protocol == IPPROTO_SCTP) &&
         (e.sport != 0 || e.dport != 0);
}

std::string proto_text(uint8_t p) {
  switch (p) {
    case IPPROTO_TCP: return "tcp";
    case IPPROTO_UDP: return "udp";
    case IPPROTO_ICMP: return "icmp";
    case IPPROTO_ICMPV6: return "icmpv6";
    case IPPROTO_SCTP: return "sctp";
    case IPPROTO_ESP: return "esp";
    default: return "proto-" + std::to_string(p);
  }
}

std::string origin_text(uint8_t program) {
  switch (program) {
    case SEALNET_EV_FROM_POD: return "pod";
    case SEALNET_EV_FROM_HOST: return "host";
    case SEALNET_EV_TO_WIRE: return "wire";
    default: return "program-" + std::to_string(program);
  }
}

bool encrypted(const sealnet_event& e) {
  return e.kind == SEALNET_EV_FLOW && e.reason >= SEALNET_M_MARK_SOFTWARE && e.reason <= SEALNET_M_MARK_PACKET;
}

std::string verdict_text(const sealnet_event& e) {
  switch (e.kind) {
    case SEALNET_EV_DROP: return "DROP";
    case SEALNET_EV_PLAINTEXT: return "PLAINTEXT";
    case SEALNET_EV_FLOW: return encrypted(e) ? "ENCRYPTED" : "PASSED";
    default: return "EVENT-" + std::to_string(e.kind);
  }
}

template <typename K>
std::string name_or(const std::map<K, std::string>& m, K k, const std::string& fallback) {
  auto it = m.find(k);
  return it != m.end() ? it->second : fallback;
}

// The device a record names: the SA's egress device for an encrypted flow, else
// the device the program ran on.
std::string device_text(const sealnet_event& e, const Names& n) {
  uint32_t ifindex = e.ifindex;
  if (encrypted(e)) {
    auto it = n.slot_ifindex.find(e.slot);
    if (it == n.slot_ifindex.end()) return "slot-" + std::to_string(e.slot);
    ifindex = it->second;
  }
  return name_or(n.devices, ifindex, "if" + std::to_string(ifindex));
}

std::string peer_text(const sealnet_event& e, const Names& n) {
  return name_or(n.peers, e.peer_node_id, "node-id-" + std::to_string(e.peer_node_id));
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08" PRIx32, v);
  return buf;
}

// "0x000111??" when the generation is not known.
std::string spi_text(const sealnet_event& e, const Names& n) {
  if (auto spi = spi_of(e, n)) return hex32(*spi);
  if (n.local_node_id == 0) return "?";
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%06" PRIx32 "??", (n.local_node_id << 8) | (uint32_t{e.key_id} << 4) | e.slot);
  return buf;
}

}  // namespace

bool wanted(const sealnet_event& e, const Filter& f) {
  const bool is_flow = e.kind == SEALNET_EV_FLOW;
  if (is_flow ? !f.flows : !f.drops) return false;
  if (f.peer && e.peer_node_id != *f.peer) return false;
  return true;
}

std::string clock_text(uint64_t unix_ns) {
  const time_t s = static_cast<time_t>(unix_ns / 1000000000u);
  struct tm tm {};
  gmtime_r(&s, &tm);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02d:%02d:%02d.%03u", tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<unsigned>(unix_ns / 1000000u % 1000u));
  return buf;
}

std::string mode_text(uint8_t mode) {
  switch (mode) {
    case SEALNET_MODE_SOFTWARE: return "software";
    case SEALNET_MODE_CRYPTO: return "crypto-offload";
    case SEALNET_MODE_PACKET: return "packet-offload";
    default: return "";
  }
}

std::optional<uint32_t> spi_of(const sealnet_event& e, const Names& n) {
  if (!encrypted(e) || n.local_node_id == 0 || e.slot >= SEALNET_MAX_SLOTS) return std::nullopt;
  auto g = n.slot_generation.find(e.slot);
  if (g == n.slot_generation.end()) return std::nullopt;
  return (n.local_node_id << 16) | (uint32_t{e.key_id} << 12) | (uint32_t{e.slot} << 8) | g->second;
}

std::string format_line(const sealnet_event& e, const Names& n, uint64_t unix_ns) {
  const bool ports = has_ports(e);
  std::string s = clock_text(unix_ns) + " " + origin_text(e.program) + " ";
  if (e.family == 0) {
    s += "non-ip";
  } else {
    s += endpoint(e.family, e.saddr, e.sport, ports) + " -> " + endpoint(e.family, e.daddr, e.dport, ports) + " " +
         proto_text(e.protocol);
  }
  s += " " + verdict_text(e);
  if (encrypted(e)) {
    s += " " + mode_text(e.mode) + " " + device_text(e, n) + " spi " + spi_text(e, n) + " key " +
         std::to_string(e.key_id) + " peer " + peer_text(e, n);
    return s;
  }
  s += " " + bpf::metric_name(e.reason) + " " + device_text(e, n);
  if (e.peer_node_id != 0) s += " peer " + peer_text(e, n);
  if (e.key_id != SEALNET_EV_NONE) s += " key " + std::to_string(e.key_id);
  if (e.program == SEALNET_EV_TO_WIRE && e.mode != SEALNET_EV_NONE) s += " " + mode_text(e.mode);
  return s;
}

std::string format_json(const sealnet_event& e, const Names& n, uint64_t unix_ns) {
  nlohmann::ordered_json j;
  j["time_ns"] = unix_ns;
  j["kind"] = e.kind == SEALNET_EV_DROP ? "drop" : e.kind == SEALNET_EV_FLOW ? "flow" : "plaintext";
  j["verdict"] = verdict_text(e);
  j["program"] = e.program == SEALNET_EV_FROM_POD    ? "from_pod"
                 : e.program == SEALNET_EV_FROM_HOST ? "from_host"
                                                     : "to_wire";
  j["reason"] = bpf::metric_name(e.reason);
  if (e.family != 0) {
    j["family"] = e.family == AF_INET ? "ipv4" : "ipv6";
    j["src"] = addr_text(e.family, e.saddr);
    j["dst"] = addr_text(e.family, e.daddr);
    j["protocol"] = proto_text(e.protocol);
    if (has_ports(e)) {
      j["sport"] = e.sport;
      j["dport"] = e.dport;
    }
  }
  j["ifindex"] = e.ifindex;
  j["device"] = device_text(e, n);
  j["peer_id"] = e.peer_node_id;
  if (auto it = n.peers.find(e.peer_node_id); it != n.peers.end()) j["peer"] = it->second;
  if (e.key_id != SEALNET_EV_NONE) j["key"] = e.key_id;
  if (e.slot != SEALNET_EV_NONE) j["slot"] = e.slot;
  if (e.mode != SEALNET_EV_NONE) j["mode"] = mode_text(e.mode);
  if (encrypted(e)) {
    if (auto spi = spi_of(e, n)) j["spi"] = *spi;
    else j["spi"] = nullptr;  // the slot's generation is the agent's (docs/events.md)
  }
  j["mark"] = e.mark;
  j["len"] = e.len;
  return j.dump();
}

}  // namespace sealnet::monitor
