// datapath/discovery/registry: this node's record in etcd under a lease, and the
// set of peer nodes kept by list+watch, with a grace period before a vanished
// peer is dropped (a lease that lapsed while its node is fine must not tear down
// its tunnels at once).
//
// Layout in etcd: `<prefix>/nodes/<name>` -> NodeRecord as JSON (record_to_json),
// attached to the writer's lease. Nothing else is written.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/ip.h"
#include "datapath/config.h"
#include "datapath/discovery/etcd.h"
#include "datapath/status.h"

namespace sealnet::discovery {

// What one node announces about itself.
struct NodeRecord {
  std::string name;
  uint16_t id = 0;
  std::optional<IpAddr> ipv4;  // node (outer ESP) addresses: at least one
  std::optional<IpAddr> ipv6;
  std::vector<IpPrefix> pod_cidrs;
  std::vector<uint8_t> keys;  // key ids installed (1..15)
  uint8_t uplinks = 1;        // device slots it sends from (1..16): its inbound SPIs
  std::map<std::string, std::string> device_modes;  // device -> "packet" | "crypto" | "software"
  std::vector<uint8_t> generations;                 // per device slot (index = slot), at most 16

  bool operator==(const NodeRecord&) const = default;
};

// {"name": "node-a", "id": 1, "addresses": ["192.168.50.1"], "pod_cidrs": ["10.1.0.0/24"],
//  "keys": [3], "uplinks": 2, "device_modes": {"eth0": "packet"}, "generations": [0, 1]}
std::string record_to_json(const NodeRecord& r);
// Parses and validates one record on its own (types, ranges, the config's rules
// for a node: id 1..65534, one address per family, CIDRs without host bits, no
// node address inside its pod CIDRs, device names). Unknown fields are ignored
// so that a newer agent may add some. Errors are EINVAL naming the field.
Result<NodeRecord> record_from_json(std::string_view text);
Status validate_record(const NodeRecord& r);

// The record of this node from its config (keys and device state are filled in
// by the agent as they change: Registry::update_self).
NodeRecord record_of(const config::LocalNode& node, uint8_t uplinks);
// A discovered peer as the config's Peer (keys set: the peer announced them).
config::Peer peer_of(const NodeRecord& r);

// The peer set and its grace timers, without threads or I/O: the Registry feeds
// it etcd's snapshots and events with the time, and it says what changed. Time
// is a parameter so that tests drive the grace period.
class PeerSet {
 public:
  using Clock = std::chrono::steady_clock;
  using Logger = std::function<void(const std::string&)>;

  struct Change {
    enum class Kind { Upsert, Remove } kind = Kind::Upsert;
    std::string name;
    NodeRecord record;  // Upsert only
  };
  struct Entry {
    NodeRecord record;
    int64_t mod_revision = 0;
    std::optional<Clock::time_point> remove_at;  // set while its key is gone (grace)
  };

  // `self` is this node: its own key is skipped and peers that clash with it
  // (same id, address, overlapping pod CIDR) are refused.
  PeerSet(std::string nodes_prefix, NodeRecord self, std::chrono::milliseconds grace, Logger log);

  // The whole prefix as etcd has it now: keys missing here start their grace.
  std::vector<Change> snapshot(const std::vector<KeyValue>& kvs, Clock::time_point now);
  std::vector<Change> apply(const std::vector<WatchEvent>& events, Clock::time_point now);
  // Peers whose grace ran out by `now`.
  std::vector<Change> expire(Clock::time_point now);
  std::optional<Clock::time_point> next_deadline() const;

  void set_self(NodeRecord self) { self_ = std::move(self); }
  const std::map<std::string, Entry>& peers() const { return peers_; }

 private:
  std::optional<Change> put(const KeyValue& kv);
  void gone(const std::string& name, Clock::time_point now);
  std::optional<std::string> clash(const NodeRecord& r) const;

  std::string prefix_;
  NodeRecord self_;
  std::chrono::milliseconds grace_;
  Logger log_;
  std::map<std::string, Entry> peers_;
  // Who holds which id, address and pod CIDR, so that checking one record
  // against 5,000 known ones is a few lookups, not 5,000 comparisons.
  struct Index {
    std::map<uint16_t, std::string> ids;
    std::map<IpAddr, std::string> addrs;
    std::map<IpPrefix, std::string> cidrs;           // ordered by address, then length
    std::map<std::pair<uint8_t, uint8_t>, int> lens;  // (family, prefix length) in use -> how many
    void add(const std::string& name, const NodeRecord& r);
    void remove(const NodeRecord& r);
  } index_;
};

struct RegistryOptions {
  std::string prefix = "/sealnet";  // keys live under <prefix>/nodes/
  std::chrono::seconds ttl{15};     // lease TTL; keep-alive every ttl/3
  // How long a peer whose key disappeared stays in force before on_peer_remove;
  // its key coming back within it cancels the removal.
  std::chrono::milliseconds grace{30'000};
  Backoff backoff;  // retries of registration and keep-alive
};

struct RegistryCallbacks {
  std::function<void(const NodeRecord&)> on_peer_upsert;   // new or changed
  std::function<void(const std::string& name)> on_peer_remove;
};

// Registers this node and maintains the peer set, on two threads of its own (the
// watch stream, and registration/keep-alive/grace timers). Callbacks come one at
// a time from the registry's thread, never under its lock (they may call peers()
// or status()). While etcd is unreachable the last known peers stay in force and
// everything is retried with backoff. stop()/deregister() must not be called
// from a callback (they join the thread that runs it).
class Registry {
 public:
  using Logger = PeerSet::Logger;
  // Fails only on bad options or a bad self record; etcd being down is not an
  // error here (status() says so, and it keeps trying).
  static Result<std::unique_ptr<Registry>> start(std::shared_ptr<EtcdClient> etcd, NodeRecord self,
                                                 RegistryOptions opts, RegistryCallbacks cb,
                                                 Logger log = {});
  ~Registry();  // stop()
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Publishes a changed record of this node (keys, device modes, generations).
  Status update_self(NodeRecord self);
  // Stops the threads. The record stays until its lease expires: a restarting
  // agent comes back before its peers' grace runs out and nothing is torn down.
  void stop();
  // Revokes the lease now (the node is leaving for good), then stops.
  Status deregister();

  // Peers in force (those within their grace period included).
  std::map<std::string, NodeRecord> peers() const;
  // backend "etcd", connected (watch up and lease alive), last_error, peers.
  status::DiscoveryStatus status() const;
  bool synced() const;  // the first snapshot was applied
  // Waits until synced() or the timeout; true when synced.
  bool wait_synced(std::chrono::milliseconds timeout) const;
  int64_t lease_id() const;

 private:
  Registry(std::shared_ptr<EtcdClient> etcd, NodeRecord self, RegistryOptions opts, RegistryCallbacks cb,
           Logger log);
  struct Input;  // what the watch thread hands over
  void run();
  void deliver(const std::vector<PeerSet::Change>& changes);
  bool register_self();
  void note_error(const Error& e);

  std::shared_ptr<EtcdClient> etcd_;
  RegistryOptions opts_;
  RegistryCallbacks cb_;
  Logger log_;
  std::string key_;

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  NodeRecord self_;
  PeerSet set_;
  std::deque<Input> inbox_;
  bool stopping_ = false;
  bool self_dirty_ = false;
  bool synced_ = false;
  bool watch_up_ = false;
  bool lease_ok_ = false;
  std::string last_error_;
  int64_t lease_ = 0;

  std::unique_ptr<EtcdWatch> watch_;
  std::thread thread_;
};

}  // namespace sealnet::discovery
