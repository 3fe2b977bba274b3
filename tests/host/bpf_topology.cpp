#include "tests/host/bpf_topology.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace sealnet::testing {

IpAddr ip(const char* s) {
  auto a = IpAddr::parse(s);
  EXPECT_TRUE(a) << s;
  return a ? *a : IpAddr{};
}

sealnet_config cluster_config(uint8_t key, bool fail_closed, bool encrypt_host) {
  return {.local_node_id = 1,
          .key_id = key,
          .fail_closed = static_cast<uint8_t>(fail_closed),
          .encrypt_host = static_cast<uint8_t>(encrypt_host),
          .events = 0};
}

sealnet_node_value node_v4(const char* addr, uint8_t peer_key) {
  sealnet_node_value v{};
  std::memcpy(v.ipv4, ip(addr).bytes.data(), 4);
  v.peer_key_id = peer_key;
  v.flags = SEALNET_NODE_HAS_IPV4;
  return v;
}

sealnet_node_value node_v6(const char* addr, uint8_t peer_key) {
  sealnet_node_value v{};
  std::memcpy(v.ipv6, ip(addr).bytes.data(), 16);
  v.peer_key_id = peer_key;
  v.flags = SEALNET_NODE_HAS_IPV6;
  return v;
}

BpfCluster::BpfCluster() {
  const std::string n = node_.name();
  // Devices are created in the node namespace and their far ends moved out.
  node_.must("ip link add lxc0 type veth peer name eth0 netns " + pod_.name());
  node_.must("ip link add lxc1 type veth peer name lxc1p");
  node_.must("ip link add snh0 type veth peer name snn0");
  node_.must("ip link add upA type veth peer name eth0 netns " + peer_b_.name());
  // upB's ifindex is beyond the devices array (SEALNET_DEVICES_DIRECT), so the
  // slot-B rows go through the devices hash; upA and upX use the array.
  static_assert(kUpBIfindex >= SEALNET_DEVICES_DIRECT);
  node_.must("ip link add upB index " + std::to_string(kUpBIfindex) + " type veth peer name eth0 netns " +
             peer_c_.name());
  node_.must("ip link add upX type veth peer name upXp");
  // Forwarding on everywhere first (it resets every device), then off on lxc1.
  node_.must("sysctl -qw net.ipv4.conf.all.forwarding=1 net.ipv6.conf.all.forwarding=1 "
             "net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0");
  node_.must("sysctl -qw net.ipv4.conf.lxc1.forwarding=0");
  // The host encryption device: its ingress sees local source addresses.
  node_.must("sysctl -qw net.ipv4.conf.snn0.accept_local=1 net.ipv4.conf.snn0.rp_filter=0");
  for (const char* d : {"lxc0", "lxc1", "lxc1p", "snh0", "snn0", "upA", "upB", "upX", "upXp"})
    node_.must(std::string("ip link set ") + d + " up");
  node_.must("ip addr add 10.1.1.1/24 dev lxc0 && ip -6 addr add fd01:1::1/64 dev lxc0 nodad");
  node_.must("ip addr add 192.0.2.1/24 dev upA && ip -6 addr add fd00:a::1/64 dev upA nodad");
  node_.must("ip addr add 198.51.100.1/24 dev upB && ip addr add 203.0.113.1/24 dev upX");
  node_.must("ip route add unreachable 203.0.113.5/32 && ip route add blackhole 203.0.113.6/32");
  // Remote pod CIDRs route to their node, as the agent's routes would.
  node_.must("ip route add 10.1.2.0/24 via 192.0.2.2 && ip route add 10.1.3.0/24 via 198.51.100.3");
  node_.must("ip -6 route add fd01:2::/64 via fd00:a::2");

  pod_.must("ip link set eth0 up && ip addr add 10.1.1.5/24 dev eth0 && "
            "ip -6 addr add fd01:1::5/64 dev eth0 nodad && ip route add default via 10.1.1.1 && "
            "ip -6 route add default via fd01:1::1");
  peer_b_.must("ip link set eth0 up && ip addr add 192.0.2.2/24 dev eth0 && "
               "ip -6 addr add fd00:a::2/64 dev eth0 nodad && "
               "ip addr add 10.1.2.7/32 dev lo && ip route add 10.1.1.0/24 via 192.0.2.1");
  peer_c_.must("ip link set eth0 up && ip addr add 198.51.100.3/24 dev eth0 && "
               "ip addr add 10.1.3.7/32 dev lo && ip route add 10.1.1.0/24 via 198.51.100.1");
  // Permanent neighbours with the peers' real MACs: FIB lookups return SUCCESS
  // and real packets need no ARP. fd00:a::8 is reachable through peer b's MAC.
  const std::string mac_b = peer_b_.must("cat /sys/class/net/eth0/address");
  const std::string mac_c = peer_c_.must("cat /sys/class/net/eth0/address");
  node_.must("ip neigh replace 192.0.2.2 lladdr " + mac_b.substr(0, 17) + " dev upA nud permanent");
  node_.must("ip neigh replace fd00:a::2 lladdr " + mac_b.substr(0, 17) + " dev upA nud permanent");
  node_.must("ip neigh replace fd00:a::8 lladdr " + mac_b.substr(0, 17) + " dev upA nud permanent");
  node_.must("ip neigh replace 198.51.100.3 lladdr " + mac_c.substr(0, 17) + " dev upB nud permanent");
}

uint32_t BpfCluster::ifindex(const std::string& dev) const {
  const auto out = node_.must("cat /sys/class/net/" + dev + "/ifindex");
  return static_cast<uint32_t>(std::stoul(out));
}

void BpfCluster::populate(bpf::Datapath& dp) const {
  const struct {
    const char* prefix;
    uint32_t node;
    uint32_t flags;
  } cache[] = {
      {"192.0.2.1/32", 1, SEALNET_IPCACHE_NODE_ADDR},     {"198.51.100.1/32", 1, SEALNET_IPCACHE_NODE_ADDR},
      {"10.1.1.0/24", 1, SEALNET_IPCACHE_POD_CIDR},       {"fd01:1::/64", 1, SEALNET_IPCACHE_POD_CIDR},
      {"192.0.2.2/32", 2, SEALNET_IPCACHE_NODE_ADDR},     {"10.1.2.0/24", 2, SEALNET_IPCACHE_POD_CIDR},
      {"fd01:2::/64", 2, SEALNET_IPCACHE_POD_CIDR},       {"198.51.100.3/32", 3, SEALNET_IPCACHE_NODE_ADDR},
      {"10.1.3.99/32", 2, SEALNET_IPCACHE_POD_CIDR},      {"fd01:8::99/128", 2, SEALNET_IPCACHE_POD_CIDR},
      {"10.1.3.0/24", 3, SEALNET_IPCACHE_POD_CIDR},       {"10.1.4.0/24", 4, SEALNET_IPCACHE_POD_CIDR},
      {"10.1.5.0/24", 5, SEALNET_IPCACHE_POD_CIDR},       {"10.1.6.0/24", 6, SEALNET_IPCACHE_POD_CIDR},
      {"10.1.7.0/24", 7, SEALNET_IPCACHE_POD_CIDR},       {"fd01:8::/64", 8, SEALNET_IPCACHE_POD_CIDR},
      {"10.1.9.0/24", 9, SEALNET_IPCACHE_POD_CIDR},       {"10.1.10.0/24", 10, SEALNET_IPCACHE_POD_CIDR},
      {"fd00:a::1/128", 1, SEALNET_IPCACHE_NODE_ADDR},    {"fd00:a::2/128", 2, SEALNET_IPCACHE_NODE_ADDR},
      {"10.1.11.0/24", 11, SEALNET_IPCACHE_POD_CIDR},
  };
  for (const auto& c : cache) {
    auto p = IpPrefix::parse(c.prefix);
    ASSERT_TRUE(p) << c.prefix;
    auto s = dp.upsert_ipcache(*p, {c.node, c.flags});
    ASSERT_TRUE(s) << c.prefix << ": " << s.error().message();
  }
  sealnet_node_value no_address{};  // a peer without our outer family (datapath/desired.cpp)
  no_address.peer_key_id = kKey;
  const struct {
    uint32_t id;
    sealnet_node_value v;
  } nodes[] = {{1, node_v4("192.0.2.1")},    {2, node_v4("192.0.2.2")},   {3, node_v4("198.51.100.3")},
               {4, node_v4("192.0.2.4")},    {5, node_v4("203.0.113.5")}, {6, node_v4("203.0.113.6")},
               {7, node_v4("203.0.113.7")},  {8, node_v6("fd00:a::8")},   {9, node_v4("192.0.2.2", 0)},
               {11, no_address}};
  for (const auto& n : nodes) {
    auto s = dp.upsert_node(n.id, n.v);
    ASSERT_TRUE(s) << s.error().message();
  }
  auto s = dp.upsert_device(ifindex("upA"), {.slot = kSlotA, .mode = SEALNET_MODE_CRYPTO, .flags = 0, .pad = 0});
  ASSERT_TRUE(s) << s.error().message();
  s = dp.upsert_device(ifindex("upB"), {.slot = kSlotB, .mode = SEALNET_MODE_SOFTWARE, .flags = 0, .pad = 0});
  ASSERT_TRUE(s) << s.error().message();
  s = dp.set_config(cluster_config());
  ASSERT_TRUE(s) << s.error().message();
}

}  // namespace sealnet::testing
