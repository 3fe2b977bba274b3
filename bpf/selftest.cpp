#include <linux/pkt_cls.h>
#include <netinet/in.h>

#include "bpf/packet.h"
#include "bpf/programs.h"

namespace sealnet::bpf {

namespace {

IpAddr addr(const char* s) { return *IpAddr::parse(s); }

}  // namespace

Result<std::vector<SelfTestCase>> self_test() {
  auto dp = Datapath::load({});
  if (!dp) return std::unexpected(dp.error());
  // Two nodes on documentation addresses: no frame is sent anywhere.
  constexpr uint32_t kLocal = 1, kRemote = 2;
  const struct {
    const char* prefix;
    uint32_t node;
    uint32_t flags;
  } cache[] = {{"192.0.2.1/32", kLocal, SEALNET_IPCACHE_NODE_ADDR},
               {"192.0.2.2/32", kRemote, SEALNET_IPCACHE_NODE_ADDR},
               {"10.99.1.0/24", kLocal, SEALNET_IPCACHE_POD_CIDR},
               {"10.99.2.0/24", kRemote, SEALNET_IPCACHE_POD_CIDR}};
  for (const auto& c : cache) {
    if (auto s = dp->upsert_ipcache(*IpPrefix::parse(c.prefix), {c.node, c.flags}); !s)
      return std::unexpected(s.error());
  }
  // Node 2 exists but has no key yet: from-pod must drop rather than guess.
  // Node 3 is in the ipcache only.
  if (auto s = dp->upsert_node(kRemote, {.ipv4 = {192, 0, 2, 2}, .ipv6 = {}, .peer_key_id = 0, .pad = 0,
                                         .flags = SEALNET_NODE_HAS_IPV4});
      !s)
    return std::unexpected(s.error());
  if (auto s = dp->upsert_ipcache(*IpPrefix::parse("10.99.3.0/24"), {3, SEALNET_IPCACHE_POD_CIDR}); !s)
    return std::unexpected(s.error());
  if (auto s = dp->set_config({.local_node_id = kLocal, .key_id = 1, .fail_closed = 1,
                               .encrypt_host = 0, .events = 0});
      !s)
    return std::unexpected(s.error());

  const struct {
    const char* name;
    Program prog;
    std::vector<uint8_t> frame;
    int action;
    uint32_t metric;
  } cases[] = {
      {"to-wire: plaintext pod -> remote pod is dropped (fail closed)", Program::ToWire,
       PacketBuilder().ip(addr("10.99.1.5"), addr("10.99.2.7")).udp(4000, 5000).payload(32).build(),
       TC_ACT_SHOT, SEALNET_M_WIRE_PLAINTEXT_DROPPED},
      {"to-wire: ESP node -> remote node passes and is counted", Program::ToWire,
       PacketBuilder().ip(addr("192.0.2.1"), addr("192.0.2.2")).esp(0x100, 1).payload(64).build(),
       TC_ACT_OK, SEALNET_M_WIRE_ESP_SOFTWARE},
      {"to-wire: traffic outside the cluster passes", Program::ToWire,
       PacketBuilder().ip(addr("10.99.1.5"), addr("198.51.100.9")).udp(4000, 53).build(),
       TC_ACT_OK, SEALNET_M_WIRE_OTHER},
      {"from-pod: a local pod is reached unencrypted", Program::FromPod,
       PacketBuilder().ip(addr("10.99.1.5"), addr("10.99.1.6")).udp(4000, 5000).build(),
       TC_ACT_OK, SEALNET_M_LOCAL_PASS},
      {"from-pod: traffic outside the cluster passes", Program::FromPod,
       PacketBuilder().ip(addr("10.99.1.5"), addr("198.51.100.9")).udp(4000, 53).build(),
       TC_ACT_OK, SEALNET_M_NON_CLUSTER_PASS},
      {"from-pod: a peer without a key is dropped, not sent in plaintext", Program::FromPod,
       PacketBuilder().ip(addr("10.99.1.5"), addr("10.99.2.7")).udp(4000, 5000).build(),
       TC_ACT_SHOT, SEALNET_M_NO_KEY},
      {"from-pod: a node the agent has not described is dropped", Program::FromPod,
       PacketBuilder().ip(addr("10.99.1.5"), addr("10.99.3.7")).udp(4000, 5000).build(),
       TC_ACT_SHOT, SEALNET_M_UNKNOWN_NODE},
  };
  std::vector<SelfTestCase> out;
  for (const auto& c : cases) {
    const int prog = dp->prog_fd(c.prog);
    auto before = dp->metrics();
    if (!before) return std::unexpected(before.error());
    auto run = test_run(prog, {.packet = c.frame, .ifindex = 1, .mark = 0, .repeat = 1});
    if (!run) return std::unexpected(run.error());
    auto after = dp->metrics();
    if (!after) return std::unexpected(after.error());
    out.push_back({c.name, c.action, run->action, c.metric,
                   (*after)[c.metric].packets == (*before)[c.metric].packets + 1});
  }
  return out;
}

}  // namespace sealnet::bpf
