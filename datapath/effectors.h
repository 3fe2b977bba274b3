// datapath/effectors: a DesiredState (datapath/desired.h) made true in the
// kernel, in the order datapath/agent.h gives, through small interfaces that
// unit tests fake: the BPF maps (MapWriter), tc attachment (TcAttacher), XFRM
// (offload::Reconciler over an offload::XfrmKernel) and the slot routes
// (offload::RouteReconciler over an offload::RouteKernel).
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "bpf/programs.h"
#include "bpf/tc.h"
#include "core/error.h"
#include "datapath/desired.h"
#include "offload/reconciler.h"
#include "offload/route_reconciler.h"

namespace sealnet::agent {

// The pinned BPF maps, written one entry at a time.
class MapWriter {
 public:
  virtual ~MapWriter() = default;
  virtual Status set_config(const sealnet_config& c) = 0;
  virtual Status upsert_device(uint32_t ifindex, const sealnet_device_value& v) = 0;
  virtual Status upsert_node(uint32_t id, const sealnet_node_value& v) = 0;
  virtual Status delete_node(uint32_t id) = 0;
  virtual Status upsert_ipcache(const IpPrefix& p, const sealnet_ipcache_value& v) = 0;
  virtual Status delete_ipcache(const IpPrefix& p) = 0;
};

// tc programs on devices. Attachments stay in force when this process stops.
class TcAttacher {
 public:
  virtual ~TcAttacher() = default;
  // Attaches `prog` at (ifindex, hook) unless this process already did.
  virtual Status ensure(int ifindex, bpf::TcHook hook, bpf::Program prog) = 0;
  // Forgets the attachments on devices not in `present` (gone with them).
  virtual void forget_absent(const std::set<int>& present) = 0;
};

// The real ones: bpf::Datapath's maps and programs, bpf::TcAttachment.
class DatapathMaps final : public MapWriter {
 public:
  explicit DatapathMaps(bpf::Datapath& dp) : dp_(dp) {}
  Status set_config(const sealnet_config& c) override { return dp_.set_config(c); }
  Status upsert_device(uint32_t ifindex, const sealnet_device_value& v) override {
    return dp_.upsert_device(ifindex, v);
  }
  Status upsert_node(uint32_t id, const sealnet_node_value& v) override { return dp_.upsert_node(id, v); }
  Status delete_node(uint32_t id) override { return dp_.delete_node(id); }
  Status upsert_ipcache(const IpPrefix& p, const sealnet_ipcache_value& v) override {
    return dp_.upsert_ipcache(p, v);
  }
  Status delete_ipcache(const IpPrefix& p) override { return dp_.delete_ipcache(p); }

 private:
  bpf::Datapath& dp_;
};

class DatapathTc final : public TcAttacher {
 public:
  explicit DatapathTc(bpf::Datapath& dp) : dp_(dp) {}
  Status ensure(int ifindex, bpf::TcHook hook, bpf::Program prog) override;
  void forget_absent(const std::set<int>& present) override;

 private:
  bpf::Datapath& dp_;
  std::map<std::pair<int, bpf::TcHook>, bpf::TcAttachment> tc_;
};

struct Effectors {
  MapWriter& maps;
  TcAttacher& tc;
  offload::Reconciler& xfrm;
  offload::RouteReconciler& routes;
  std::function<void(const std::string&)> note;  // one line per change worth a log line
};

// What this process wrote to the maps (each sync writes only the difference),
// and the send key in force per peer.
struct Written {
  std::map<IpPrefix, sealnet_ipcache_value> ipcache;
  std::map<uint16_t, sealnet_node_value> nodes;
  std::map<int, sealnet_device_value> devices;
  std::map<uint16_t, uint8_t> send_keys;
};

// A restart: what the pinned maps hold counts as written (nodes not adopted
// yet, every ipcache entry), so the next apply deletes what no peer in force
// claims (peers that left while the agent was down) and re-writes nothing that
// is right already. Returns how many entries no desired state claims (`d`).
size_t adopt_pinned(Written& w, const std::map<uint32_t, sealnet_node_value>& nodes,
                    const std::map<IpPrefix, sealnet_ipcache_value>& ipcache, const DesiredState& d);

struct Applied {
  offload::ReconcileResult xfrm;
  offload::RouteReconcileResult routes;
  std::vector<std::string> problems;  // refused objects, failed attachments: the sync goes on
};

// Applies `d`: maps (config, devices, nodes, ipcache; removals the other way),
// to_wire then from_pod, XFRM, slot routes, and last the send keys. Fails on the
// first map write or reconcile that fails outright; `problems` collects what
// did not stop it (before: the caller's, appended in the order they arise).
Result<Applied> apply(const DesiredState& d, Effectors& fx, Written& w, uint64_t now_s,
                      std::vector<std::string> problems = {});

}  // namespace sealnet::agent
