#include "datapath/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

namespace sealnet::config {
namespace {

// Line numbers matter: the error tests below cite them.
constexpr const char* kFull = R"(node:                               # 1
  name: node-a
  id: 1
  addresses: [192.168.50.1, fd50::1]
  pod_cidrs: [10.1.0.0/24, fd10:1::/64]  # 5
peers:
  - name: node-b
    id: 2
    addresses: [192.168.50.2]
    pod_cidrs: [10.2.0.0/24]         # 10
    uplinks: 2
    keys: [3, 4]
  - name: node-c
    id: 0x30
    addresses: [fd50::3]             # 15
    pod_cidrs: [fd10:3::/64]
keys:
  file: /etc/sealnet/keys
  grace_period: 2m
uplinks: [eth0, eth1]                # 20
fail_closed: false
encrypt_host: true
metrics:
  listen: "[::1]:9100"
bpffs_dir: /sys/fs/bpf/other         # 25
)";

IpAddr ip(const char* s) { return *IpAddr::parse(s); }
IpPrefix net(const char* s) { return *IpPrefix::parse(s); }

TEST(AgentConfig, ParsesAFullExample) {
  auto cfg = parse_agent_config(kFull, "agent.yaml");
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_EQ(cfg->node.name, "node-a");
  EXPECT_EQ(cfg->node.id, 1);
  EXPECT_EQ(cfg->node.ipv4, ip("192.168.50.1"));
  EXPECT_EQ(cfg->node.ipv6, ip("fd50::1"));
  EXPECT_EQ(cfg->node.pod_cidrs, (std::vector{net("10.1.0.0/24"), net("fd10:1::/64")}));
  ASSERT_EQ(cfg->peers.size(), 2u);
  const Peer& b = cfg->peers[0];
  EXPECT_EQ(b.name, "node-b");
  EXPECT_EQ(b.id, 2);
  EXPECT_EQ(b.ipv4, ip("192.168.50.2"));
  EXPECT_FALSE(b.ipv6);
  EXPECT_EQ(b.uplinks, 2);
  EXPECT_EQ(b.keys, (std::vector<uint8_t>{3, 4}));
  const Peer& c = cfg->peers[1];
  EXPECT_EQ(c.id, 0x30);
  EXPECT_FALSE(c.ipv4);
  EXPECT_EQ(c.ipv6, ip("fd50::3"));
  EXPECT_EQ(c.uplinks, 1);  // default
  EXPECT_FALSE(c.keys);     // not announced: learned
  EXPECT_EQ(cfg->find_peer(0x30), &c);
  EXPECT_EQ(cfg->find_peer(1), nullptr);  // this node is not a peer
  EXPECT_EQ(cfg->key_file, "/etc/sealnet/keys");
  EXPECT_EQ(cfg->key_grace, std::chrono::seconds(120));
  EXPECT_EQ(cfg->uplinks, (std::vector<std::string>{"eth0", "eth1"}));
  EXPECT_FALSE(cfg->fail_closed);
  EXPECT_TRUE(cfg->encrypt_host);
  EXPECT_EQ(cfg->metrics_listen, "[::1]:9100");
  EXPECT_EQ(cfg->bpffs_dir, "/sys/fs/bpf/other");
}

TEST(AgentConfig, DefaultsForEverythingOptional) {
  auto cfg = parse_agent_config("node: {name: a, id: 1, addresses: [10.0.0.1]}\npeers: []\n", "min.yaml");
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_TRUE(cfg->peers.empty());
  EXPECT_TRUE(cfg->node.pod_cidrs.empty());
  EXPECT_EQ(cfg->key_file, "/etc/sealnet/keys");
  EXPECT_EQ(cfg->key_grace, std::chrono::seconds(30));
  EXPECT_TRUE(cfg->uplinks.empty());  // auto: the devices the FIB uses
  EXPECT_TRUE(cfg->fail_closed);
  EXPECT_FALSE(cfg->encrypt_host);
  EXPECT_EQ(cfg->metrics_listen, "127.0.0.1:9962");
  EXPECT_EQ(cfg->bpffs_dir, "/sys/fs/bpf/sealnet");
  EXPECT_FALSE(cfg->monitor.drops);  // events off by default (docs/events.md)
  EXPECT_FALSE(cfg->monitor.flows);
}

TEST(AgentConfig, MonitorDropsAndFlows) {
  auto cfg = parse_agent_config(
      "node: {name: a, id: 1, addresses: [10.0.0.1]}\npeers: []\nmonitor: {drops: true}\n", "m.yaml");
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_TRUE(cfg->monitor.drops);
  EXPECT_FALSE(cfg->monitor.flows);
  auto bad = parse_agent_config(
      "node: {name: a, id: 1, addresses: [10.0.0.1]}\npeers: []\nmonitor: {drop: true}\n", "m.yaml");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("monitor.drop: unknown field"), std::string::npos) << bad.error().message();
}

TEST(AgentConfig, JsonIsReadByTheSameParserWithLines) {
  const char* json = R"({
  "node": {"name": "a", "id": 1, "addresses": ["10.0.0.1"], "pod_cidrs": ["10.1.0.0/24"]},
  "peers": [
    {"name": "b", "id": 2, "addresses": ["10.0.0.2"], "pod_cidrs": ["10.2.0.0/24"], "uplinks": 3}
  ],
  "keys": {"file": "/run/keys", "grace_period": 45},
  "fail_closed": true,
  "uplinks": ["eth0"]
})";
  auto cfg = parse_agent_config(json, "agent.json");
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_EQ(cfg->peers.at(0).uplinks, 3);
  EXPECT_EQ(cfg->key_file, "/run/keys");
  EXPECT_EQ(cfg->key_grace, std::chrono::seconds(45));
  EXPECT_FALSE(cfg->allow_shared_keys);  // shared AEAD keys are refused unless the config says so

  std::string shared = json;
  shared.replace(shared.find("\"grace_period\": 45"), 18, "\"grace_period\": 45, \"allow_shared\": true");
  auto allowed = parse_agent_config(shared, "agent.json");
  ASSERT_TRUE(allowed) << allowed.error().message();
  EXPECT_TRUE(allowed->allow_shared_keys);
  shared.replace(shared.find("true}"), 4, "\"yes\"");
  auto not_bool = parse_agent_config(shared, "agent.json");
  ASSERT_FALSE(not_bool);
  EXPECT_EQ(not_bool.error().message(),
            "parse agent config agent.json:6: keys.allow_shared: expected true or false, got the quoted string "
            "\"yes\"");

  // A JSON string where a number belongs is a wrong type, cited by line.
  std::string bad = json;
  bad.replace(bad.find("\"uplinks\": 3"), 12, "\"uplinks\": \"3\"");
  auto err = parse_agent_config(bad, "agent.json");
  ASSERT_FALSE(err);
  EXPECT_EQ(
      err.error().message(),
      "parse agent config agent.json:4: peers[0].uplinks: expected an integer, got the quoted string \"3\"");
}

struct Bad {
  std::string name;
  std::string from, to;  // kFull with `from` replaced by `to`
  std::string want;      // the whole message after "parse agent config "
};

void PrintTo(const Bad& b, std::ostream* os) { *os << b.name; }

class AgentConfigErrors : public testing::TestWithParam<Bad> {};

TEST_P(AgentConfigErrors, NameFileLineAndField) {
  const Bad& b = GetParam();
  std::string text = kFull;
  const auto at = text.find(b.from);
  ASSERT_NE(at, std::string::npos) << b.from;
  text.replace(at, b.from.size(), b.to);
  auto cfg = parse_agent_config(text, "agent.yaml");
  ASSERT_FALSE(cfg) << "accepted:\n" << text;
  EXPECT_EQ(cfg.error().op, "parse agent config");
  EXPECT_EQ(cfg.error().err, 0);
  EXPECT_EQ(cfg.error().message(), "parse agent config " + b.want);
}

INSTANTIATE_TEST_SUITE_P(
    Classes, AgentConfigErrors,
    testing::Values(
        // Unknown fields: typos never pass.
        Bad{"UnknownTopLevel", "fail_closed: false", "fail_close: false",
            "agent.yaml:21: fail_close: unknown field (known here: node, peers, keys, uplinks, fail_closed, "
            "encrypt_host, metrics, monitor, bpffs_dir, state_dir, discovery)"},
        Bad{"UnknownPeerField", "    uplinks: 2", "    uplink: 2",
            "agent.yaml:11: peers[0].uplink: unknown field (known here: name, id, addresses, pod_cidrs, "
            "uplinks, "
            "keys)"},
        Bad{"PeerOnlyFieldOnNode", "  pod_cidrs: [10.1.0.0/24, fd10:1::/64]", "  uplinks: 2",
            "agent.yaml:5: node.uplinks: unknown field (known here: name, id, addresses, pod_cidrs)"},
        Bad{"FieldTwice", "encrypt_host: true", "encrypt_host: true\nencrypt_host: false",
            "agent.yaml:23: encrypt_host: given twice"},
        // Wrong types.
        Bad{"QuotedInteger", "    id: 2", "    id: \"2\"",
            "agent.yaml:8: peers[0].id: expected an integer, got the quoted string \"2\""},
        Bad{"WordForInteger", "    id: 2", "    id: two",
            "agent.yaml:8: peers[0].id: expected an integer, got \"two\""},
        Bad{"ListForString", "  name: node-a", "  name: [node-a]",
            "agent.yaml:2: node.name: expected a string, got a list"},
        Bad{"ScalarForList", "uplinks: [eth0, eth1]", "uplinks: eth0",
            "agent.yaml:20: uplinks: expected a list, got \"eth0\""},
        Bad{"YamlOneOneBoolean", "fail_closed: false", "fail_closed: no",
            "agent.yaml:21: fail_closed: expected true or false, got \"no\""},
        Bad{"ScalarForMapping", "metrics:\n  listen: \"[::1]:9100\"", "metrics: 9100",
            "agent.yaml:23: metrics: expected a mapping, got \"9100\""},
        Bad{"BadDuration", "grace_period: 2m", "grace_period: 2d",
            "agent.yaml:19: keys.grace_period: expected a duration (seconds, or a number with s, m or h), "
            "got "
            "\"2d\""},
        // Addresses and prefixes.
        Bad{"BadAddress", "[192.168.50.2]", "[192.168.50.256]",
            "agent.yaml:9: peers[0].addresses[0]: 192.168.50.256 is not an IPv4 or IPv6 address"},
        Bad{"TwoOfOneFamily", "[192.168.50.2]", "[192.168.50.2, 192.168.51.2]",
            "agent.yaml:9: peers[0].addresses[1]: a second IPv4 address (192.168.51.2 after 192.168.50.2); a "
            "node "
            "has at most one of each family"},
        Bad{"NoAddress", "[192.168.50.2]", "[]",
            "agent.yaml:9: peers[0].addresses: at least one node address is needed"},
        Bad{"BadPrefixLength", "[10.2.0.0/24]", "[10.2.0.0/33]",
            "agent.yaml:10: peers[0].pod_cidrs[0]: 10.2.0.0/33 is not a CIDR (bad prefix length)"},
        Bad{"HostBitsSet", "[10.2.0.0/24]", "[10.2.0.1/24]",
            "agent.yaml:10: peers[0].pod_cidrs[0]: 10.2.0.1/24 has host bits set (the network is "
            "10.2.0.0/24)"},
        Bad{"BareAddressAsCidr", "[10.2.0.0/24]", "[10.2.0.0]",
            "agent.yaml:10: peers[0].pod_cidrs[0]: 10.2.0.0 is not a CIDR (address/length)"},
        Bad{"BadListen", "listen: \"[::1]:9100\"", "listen: \"::1:9100\"",
            "agent.yaml:24: metrics.listen: ::1:9100 is not ADDRESS:PORT (IPv6 as [ADDRESS]:PORT)"},
        // Duplicates between nodes: cite both.
        Bad{"DuplicateId", "    id: 0x30", "    id: 2", "agent.yaml:14: peers[1].id: 2 is also peers[0].id"},
        Bad{"DuplicateIdWithNode", "    id: 2", "    id: 1", "agent.yaml:8: peers[0].id: 1 is also node.id"},
        Bad{"DuplicateName", "name: node-c", "name: node-b",
            "agent.yaml:13: peers[1].name: node-b is also peers[0].name"},
        Bad{"DuplicateAddress", "[fd50::3]", "[fd50::1]",
            "agent.yaml:15: peers[1].addresses[0]: fd50::1 is also node.addresses[1]"},
        Bad{"DuplicateUplink", "[eth0, eth1]", "[eth0, eth0]",
            "agent.yaml:20: uplinks[1]: eth0 listed twice"},
        Bad{"DuplicateKeyId", "keys: [3, 4]", "keys: [3, 3]",
            "agent.yaml:12: peers[0].keys[1]: key 3 listed twice"},
        // Overlapping pod CIDRs, between nodes and inside one.
        Bad{"OverlapWithNode", "[10.2.0.0/24]", "[10.1.0.0/16]",
            "agent.yaml:10: peers[0].pod_cidrs[0]: 10.1.0.0/16 overlaps node.pod_cidrs[0] 10.1.0.0/24"},
        Bad{"OverlapBetweenPeers", "[fd10:3::/64]", "[fd10:3::/64, 10.2.0.0/23]",
            "agent.yaml:16: peers[1].pod_cidrs[1]: 10.2.0.0/23 overlaps peers[0].pod_cidrs[0] 10.2.0.0/24"},
        Bad{"OverlapIpv6", "[fd10:3::/64]", "[fd10:1:0:0:8000::/65]",
            "agent.yaml:16: peers[1].pod_cidrs[0]: fd10:1:0:0:8000::/65 overlaps node.pod_cidrs[1] "
            "fd10:1::/64"},
        Bad{"OverlapInsideOneNode", "[10.2.0.0/24]", "[10.2.0.0/24, 10.2.0.128/25]",
            "agent.yaml:10: peers[0].pod_cidrs[1]: 10.2.0.128/25 overlaps peers[0].pod_cidrs[0] 10.2.0.0/24"},
        Bad{"NodeAddressInPodCidr", "[192.168.50.2]", "[10.1.0.9]",
            "agent.yaml:9: peers[0].addresses[0]: 10.1.0.9 is inside node.pod_cidrs[0] 10.1.0.0/24 (node "
            "addresses "
            "are not pod addresses)"},
        // Ranges: the node id is 16 bits of the mark with 0 and 0xFFFF kept back.
        Bad{"NodeIdZero", "  id: 1", "  id: 0",
            "agent.yaml:3: node.id: 0 is out of range 1..65534 (16 bits of the packet mark and the SPI; 0 "
            "and 65535 "
            "are reserved)"},
        Bad{"NodeIdAllOnes", "    id: 0x30", "    id: 0xFFFF",
            "agent.yaml:14: peers[1].id: 0xFFFF is out of range 1..65534 (16 bits of the packet mark and the "
            "SPI; 0 "
            "and 65535 are reserved)"},
        Bad{"NodeIdTooLarge", "    id: 0x30", "    id: 70000",
            "agent.yaml:14: peers[1].id: 70000 is out of range 1..65534 (16 bits of the packet mark and the "
            "SPI; 0 "
            "and 65535 are reserved)"},
        Bad{"TooManyPeerUplinks", "    uplinks: 2", "    uplinks: 17",
            "agent.yaml:11: peers[0].uplinks: 17 is out of range 1..16 (device slots: 4 bits of the packet "
            "mark)"},
        Bad{"KeyIdOutOfRing", "keys: [3, 4]", "keys: [3, 16]",
            "agent.yaml:12: peers[0].keys[1]: 16 is out of range 1..15 (key ids of the key file)"},
        Bad{"DeviceNameTooLong", "[eth0, eth1]", "[eth0, a-very-long-devname]",
            "agent.yaml:20: uplinks[1]: \"a-very-long-devname\" is not a network device name"},
        // Missing required fields: the line of the enclosing mapping or the empty value.
        Bad{"MissingPeerId", "    id: 2\n", "", "agent.yaml:7: peers[0].id: missing"},
        Bad{"EmptyNodeName", "  name: node-a", "  name:", "agent.yaml:2: node.name: missing"},
        Bad{"MissingAddresses", "    addresses: [fd50::3]             # 15\n", "",
            "agent.yaml:13: peers[1].addresses: missing"},
        Bad{"MissingPeers", "peers:", "peer:",
            "agent.yaml:6: peer: unknown field (known here: node, peers, keys, uplinks, fail_closed, "
            "encrypt_host, "
            "metrics, monitor, bpffs_dir, state_dir, discovery)"},
        // Paths.
        Bad{"RelativeKeyFile", "file: /etc/sealnet/keys", "file: etc/sealnet/keys",
            "agent.yaml:18: keys.file: etc/sealnet/keys is not an absolute path"},
        Bad{"RelativeBpffs", "bpffs_dir: /sys/fs/bpf/other", "bpffs_dir: bpf",
            "agent.yaml:25: bpffs_dir: bpf is not an absolute path"},
        // Discovery.
        Bad{"EtcdNoEndpoints", "bpffs_dir: /sys/fs/bpf/other", "discovery: {etcd: {endpoints: []}}",
            "agent.yaml:25: discovery.etcd.endpoints: at least one etcd endpoint"},
        Bad{"EtcdBadEndpoint", "bpffs_dir: /sys/fs/bpf/other", "discovery: {etcd: {endpoints: [etcd-1]}}",
            "agent.yaml:25: discovery.etcd.endpoints[0]: etcd-1 is not [http[s]://]HOST:PORT"},
        Bad{"EtcdBadScheme", "bpffs_dir: /sys/fs/bpf/other", "discovery: {etcd: {endpoints: [\"grpc://e:2379\"]}}",
            "agent.yaml:25: discovery.etcd.endpoints[0]: grpc://e:2379: the scheme must be http or https"},
        Bad{"EtcdCertWithoutKey", "bpffs_dir: /sys/fs/bpf/other",
            "discovery: {etcd: {endpoints: [\"https://e:2379\"], cert: /etc/c.pem}}",
            "agent.yaml:25: discovery.etcd: cert and key go together (client certificate authentication)"},
        Bad{"EtcdShortLease", "bpffs_dir: /sys/fs/bpf/other", "discovery: {etcd: {endpoints: [\"e:2379\"], lease_ttl: 1s}}",
            "agent.yaml:25: discovery.etcd.lease_ttl: between 2s and 1h"},
        // Not YAML at all.
        Bad{"Syntax", "  pod_cidrs: [10.1.0.0/24, fd10:1::/64]", "  pod_cidrs: [10.1.0.0/24",
            "agent.yaml:6: not YAML or JSON: end of sequence flow not found"}),
    [](const testing::TestParamInfo<Bad>& i) { return i.param.name; });

TEST(AgentConfig, EtcdDiscoveryMakesPeersOptional) {
  auto cfg = parse_agent_config(
      "node: {name: a, id: 1, addresses: [192.0.2.1], pod_cidrs: [10.1.0.0/24]}\n"
      "keys: {file: /k}\n"
      "discovery:\n"
      "  etcd:\n"
      "    endpoints: [\"https://etcd-1:2379\", \"10.0.0.2:2379\"]\n"
      "    prefix: /prod/sealnet\n"
      "    lease_ttl: 10s\n"
      "    grace_period: 1m\n"
      "    cacert: /etc/sealnet/etcd-ca.pem\n"
      "    cert: /etc/sealnet/etcd.pem\n"
      "    key: /etc/sealnet/etcd-key.pem\n",
      "agent.yaml");
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_TRUE(cfg->peers.empty());
  ASSERT_TRUE(cfg->etcd);
  EXPECT_EQ(cfg->etcd->endpoints, (std::vector<std::string>{"https://etcd-1:2379", "10.0.0.2:2379"}));
  EXPECT_EQ(cfg->etcd->prefix, "/prod/sealnet");
  EXPECT_EQ(cfg->etcd->lease_ttl, std::chrono::seconds(10));
  EXPECT_EQ(cfg->etcd->grace, std::chrono::seconds(60));
  EXPECT_EQ(cfg->etcd->key, "/etc/sealnet/etcd-key.pem");
  // Without discovery, peers stay required.
  auto no = parse_agent_config("node: {name: a, id: 1, addresses: [192.0.2.1]}\n", "agent.yaml");
  ASSERT_FALSE(no);
  EXPECT_EQ(no.error().message(), "parse agent config agent.yaml:1: peers: missing");
}

// Endpoints and metrics.listen are read by the one host:port reader the status
// server and client use (datapath/host_port.h): a port is 1..65535 and IPv6 is
// bracketed. Before, an etcd endpoint only needed digits after its last colon.
TEST(AgentConfig, EndpointsAreHostAndPort) {
  auto with_endpoint = [](const std::string& ep) {
    return parse_agent_config("node: {name: a, id: 1, addresses: [192.0.2.1]}\n"
                              "discovery: {etcd: {endpoints: [\"" + ep + "\"]}}\n",
                              "agent.yaml");
  };
  for (const char* good : {"e:2379", "http://etcd_1.svc:2379", "https://[fd00::1]:2379", "10.0.0.2:2379"}) {
    auto cfg = with_endpoint(good);
    EXPECT_TRUE(cfg) << good << ": " << cfg.error().message();
  }
  for (const char* bad : {"e:0", "e:99999", "fd00::1:2379", "https://:2379", "e f:2379"}) {
    auto cfg = with_endpoint(bad);
    ASSERT_FALSE(cfg) << bad;
    EXPECT_EQ(cfg.error().message(), std::string("parse agent config agent.yaml:2: discovery.etcd.endpoints[0]: ") +
                                         bad + " is not [http[s]://]HOST:PORT");
  }
  for (const char* bad : {"127.0.0.1:0", "localhost:9962", "[::1]:65536"}) {
    auto cfg = parse_agent_config(std::string("node: {name: a, id: 1, addresses: [192.0.2.1]}\npeers: []\n"
                                              "metrics: {listen: \"") + bad + "\"}\n",
                                  "agent.yaml");
    ASSERT_FALSE(cfg) << bad;
    EXPECT_EQ(cfg.error().message(), std::string("parse agent config agent.yaml:3: metrics.listen: ") + bad +
                                         " is not ADDRESS:PORT (IPv6 as [ADDRESS]:PORT)");
  }
}

TEST(AgentConfig, WholeFileErrors) {
  auto empty = parse_agent_config("# nothing\n", "e.yaml");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().message(),
            "parse agent config e.yaml:1: empty config (node and peers are required)");

  auto list = parse_agent_config("- a\n- b\n", "l.yaml");
  ASSERT_FALSE(list);
  EXPECT_EQ(list.error().message(), "parse agent config l.yaml:1: expected a mapping, got a list");

  auto no_peers = parse_agent_config("node: {name: a, id: 1, addresses: [10.0.0.1]}\n", "p.yaml");
  ASSERT_FALSE(no_peers);
  EXPECT_EQ(no_peers.error().message(), "parse agent config p.yaml:1: peers: missing");

  auto no_node = parse_agent_config("peers: []\n", "n.yaml");
  ASSERT_FALSE(no_node);
  EXPECT_EQ(no_node.error().message(),
            "parse agent config n.yaml:1: node: missing (a mapping, or the name of one of peers)");

  auto two_docs = parse_agent_config("peers: []\n---\npeers: []\n", "d.yaml");
  ASSERT_FALSE(two_docs);
  EXPECT_EQ(two_docs.error().message(),
            "parse agent config d.yaml:3: a second YAML document; the config is one document");
}

TEST(AgentConfig, NodeByNameFromASharedPeerList) {
  const char* shared = R"(node: b
peers:
  - {name: a, id: 1, addresses: [10.0.0.1], pod_cidrs: [10.1.0.0/24]}
  - {name: b, id: 2, addresses: [10.0.0.2], pod_cidrs: [10.2.0.0/24], uplinks: 2}
  - {name: c, id: 3, addresses: [10.0.0.3], pod_cidrs: [10.3.0.0/24]}
)";
  auto cfg = parse_agent_config(shared, "s.yaml");
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_EQ(cfg->node.name, "b");
  EXPECT_EQ(cfg->node.id, 2);
  EXPECT_EQ(cfg->node.pod_cidrs, std::vector{net("10.2.0.0/24")});
  ASSERT_EQ(cfg->peers.size(), 2u);
  EXPECT_EQ(cfg->peers[0].name, "a");
  EXPECT_EQ(cfg->peers[1].name, "c");

  auto c = parse_agent_config(shared, "s.yaml", {.node_name = "c"});
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->node.id, 3);

  auto none = parse_agent_config(shared, "s.yaml", {.node_name = "z"});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().message(), "parse agent config s.yaml:1: node: z is not the name of any of peers");

  auto mismatch = parse_agent_config(kFull, "agent.yaml", {.node_name = "node-b"});
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().message(),
            "parse agent config agent.yaml:2: node.name: node-a is this node, but --node asks for node-b");
}

TEST(AgentConfig, EmbeddedDefaultParsesForEveryLabNode) {
  auto cfg = parse_agent_config(embedded_default_config_text(), kEmbeddedDefaultSource);
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_EQ(cfg->node.name, "lab-1");
  for (const char* name : {"lab-1", "lab-2", "lab-3"}) {
    auto n = parse_agent_config(embedded_default_config_text(), kEmbeddedDefaultSource, {.node_name = name});
    ASSERT_TRUE(n) << n.error().message();
    EXPECT_EQ(n->node.name, name);
    ASSERT_EQ(n->peers.size(), 2u);
    EXPECT_TRUE(n->node.ipv4 && n->node.ipv6);
    EXPECT_EQ(n->node.pod_cidrs.size(), 2u);
    for (const Peer& p : n->peers) {
      EXPECT_NE(p.name, name);
      EXPECT_EQ(p.uplinks, 1);
    }
    EXPECT_TRUE(n->fail_closed);
    EXPECT_TRUE(n->uplinks.empty());
    EXPECT_EQ(n->key_file, "/etc/sealnet/keys");
  }
}

TEST(AgentConfig, LoadNamesThePath) {
  char dir[] = "/tmp/sealnet-config-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/agent.yaml";
  { std::ofstream(path) << kFull << "bogus: 1\n"; }
  auto bad = load_agent_config(path);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().object, path + ":26");
  { std::ofstream(path) << kFull; }
  auto ok = load_agent_config(path);
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(ok->peers.size(), 2u);
  std::remove(path.c_str());
  rmdir(dir);

  auto missing = load_agent_config(path);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().err, ENOENT);
  EXPECT_EQ(missing.error().object, path);
}

}  // namespace
}  // namespace sealnet::config

namespace sealnet::config {
namespace {

// The code blocks of docs/agent-config.md: ```yaml or ```json fences.
std::vector<std::string> doc_blocks(const std::string& lang) {
  std::ifstream in(std::string(SEALNET_SOURCE_DIR) + "/docs/agent-config.md");
  std::vector<std::string> out;
  std::string line, block;
  bool inside = false;
  while (std::getline(in, line)) {
    if (!inside && line == "```" + lang) {
      inside = true;
      block.clear();
    } else if (inside && line == "```") {
      inside = false;
      out.push_back(block);
    } else if (inside) {
      block += line + "\n";
    }
  }
  return out;
}

TEST(AgentConfigDoc, ExamplesParseAndTheEmbeddedDefaultIsTheOneShown) {
  const auto yaml = doc_blocks("yaml");
  const auto json = doc_blocks("json");
  ASSERT_EQ(yaml.size(), 3u);  // the example, the etcd example, the embedded default
  ASSERT_EQ(json.size(), 1u);
  for (const auto& text : {yaml[0], yaml[1], yaml[2], json[0]}) {
    auto cfg = parse_agent_config(text, "docs/agent-config.md");
    EXPECT_TRUE(cfg) << cfg.error().message() << "\n" << text;
  }
  // The embedded text is the documented one after its leading comment line.
  std::string_view embedded = embedded_default_config_text();
  ASSERT_TRUE(embedded.starts_with("#"));
  embedded.remove_prefix(embedded.find('\n') + 1);
  EXPECT_EQ(std::string(embedded), yaml[2]);
}

}  // namespace
}  // namespace sealnet::config
