// datapath/config: the agent's configuration (docs/agent-config.md) — this node,
// its peers, the key file, uplinks and switches — parsed and validated, never applied.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/ip.h"

namespace sealnet::config {

// Node ids are 16 bits of the skb mark and of the SPI (bpf/shared.h,
// docs/xfrm-design.md "SPIs"); 0 means "no node" and 0xFFFF is kept back.
constexpr uint32_t kNodeIdMin = 1;
constexpr uint32_t kNodeIdMax = 0xFFFE;

struct LocalNode {
  std::string name;
  uint16_t id = 0;
  std::optional<IpAddr> ipv4;  // node addresses: the outer ESP addresses; at least one
  std::optional<IpAddr> ipv6;
  std::vector<IpPrefix> pod_cidrs;
};

struct Peer {
  std::string name;
  uint16_t id = 0;
  std::optional<IpAddr> ipv4;  // the outer destination is IPv4 when the peer has one
  std::optional<IpAddr> ipv6;
  std::vector<IpPrefix> pod_cidrs;
  uint8_t uplinks = 1;                       // device slots the peer sends from (1..16): its inbound SPIs
  std::optional<std::vector<uint8_t>> keys;  // key ids the peer announces; unset = learn them
};

// Peers discovered on etcd (datapath/discovery): this node registers itself
// under <prefix>/nodes/<name> with a lease and watches the others. Option names
// follow etcdctl's (--endpoints, --cacert, --cert, --key).
struct EtcdDiscovery {
  std::vector<std::string> endpoints;  // http://host:port, https://host:port or host:port
  std::string prefix = "/sealnet";
  std::chrono::seconds lease_ttl{15};
  std::chrono::seconds grace{30};  // a peer whose lease expired stays in force this long
  std::string cacert, cert, key;   // absolute paths; cert and key go together
};

struct AgentConfig {
  LocalNode node;
  std::vector<Peer> peers;  // in file order
  std::string key_file = "/etc/sealnet/keys";
  // How long the states and policies of a key that left the key file (or of a
  // replaced generation) stay before they are deleted.
  std::chrono::seconds key_grace{30};
  // `keys: {allow_shared: true}`: accept AEAD keys without "+" (one key for every
  // node pair; keys::shared_key_problem says why not). Off: such a file is refused.
  bool allow_shared_keys = false;
  std::vector<std::string> uplinks;  // device names; empty = every device the FIB uses to reach a peer
  bool fail_closed = true;           // no SA for a peer: drop, never send plaintext
  bool encrypt_host = false;         // host-to-remote-pod and host-to-host traffic too
  std::string metrics_listen = "127.0.0.1:9962";
  // `monitor: {drops: true, flows: false}`: what the datapath reports through
  // its events ring buffer to `sealnet monitor` (docs/events.md). Off: nothing.
  struct Monitor {
    bool drops = false;
    bool flows = false;
    bool operator==(const Monitor&) const = default;
  } monitor;
  std::string bpffs_dir = "/sys/fs/bpf/sealnet";
  // What survives a reboot: each slot's generation, each peer's receive window
  // (datapath/state_file.h, docs/xfrm-design.md "Generations").
  std::string state_dir = "/var/lib/sealnet";
  // Set: peers come from etcd (and `peers` may be left out: a static list is
  // then only a seed kept until etcd answers).
  std::optional<EtcdDiscovery> etcd;

  const Peer* find_peer(uint16_t id) const;
};

struct ParseOptions {
  // Picks this node out of a shared file whose `node:` is a name (or absent):
  // the peer of that name becomes `node` (`sealnet agent --node NAME`).
  std::optional<std::string> node_name;
};

// Parses and validates the text of a config file (YAML; JSON is YAML too).
// Pure: reads nothing but `text`; `source` names the file in errors, which read
//   <source>:<line>: <field path>: <what is wrong>
// e.g. "agent.yaml:14: peers[2].pod_cidrs[0]: 10.1.0.0/16 overlaps node.pod_cidrs[0] 10.1.0.0/24"
// (Error::object is "<source>:<line>", Error::detail the rest).
//
// Contract with the caller: nothing here touches the system. A config that fails
// to parse or validate is an error value and the caller keeps running the config
// it has; only a fully valid AgentConfig is ever handed on to be applied.
Result<AgentConfig> parse_agent_config(std::string_view text, const std::string& source,
                                       const ParseOptions& opts = {});

// Reads `path` and parses it; errors name the path.
Result<AgentConfig> load_agent_config(const std::string& path, const ParseOptions& opts = {});

// The built-in config `sealnet agent` runs without --config (and `sealnet lab`
// builds its nodes from): three lab nodes in one shared file, `node: lab-1`.
std::string_view embedded_default_config_text();
inline constexpr const char* kEmbeddedDefaultSource = "<embedded default>";

}  // namespace sealnet::config
