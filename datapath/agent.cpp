// The sealnet agent (datapath/agent.h): start, the event loop, one reconcile.
#include "datapath/agent.h"

#include <net/if.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "bpf/events.h"
#include "bpf/programs.h"
#include "bpf/tc.h"
#include "core/fd.h"
#include "datapath/desired.h"
#include "datapath/discovery/registry.h"
#include "datapath/effectors.h"
#include "datapath/state_file.h"
#include "datapath/status/traffic.h"
#include "datapath/why.h"
#include "fallback/modes.h"
#include "fallback/verdict.h"
#include "keys/keys.h"
#include "offload/binding.h"
#include "offload/reconciler.h"
#include "offload/route_reconciler.h"
#include "probe/monitor.h"

namespace sealnet::agent {
namespace {

static_assert(config::kNodeIdMax == SEALNET_MAX_NODE_ID, "the config's node ids are the mark's");

uint64_t mono_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}
uint64_t unix_s() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

void say(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void say(const char* fmt, ...) {
  std::fprintf(stderr, "sealnet agent: ");
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fputc('\n', stderr);
}

bool same_identity(const config::LocalNode& a, const config::LocalNode& b) {
  return a.id == b.id && a.ipv4 == b.ipv4 && a.ipv6 == b.ipv6 && a.pod_cidrs == b.pod_cidrs;
}

// Status words: a state without offload is "software" (xfrm::to_string says "none").
const char* mode_word(xfrm::OffloadMode m) {
  return m == xfrm::OffloadMode::none ? "software" : xfrm::to_string(m);
}

class Agent {
 public:
  Agent(Options o, config::AgentConfig c) : opts_(std::move(o)), cfg_(std::move(c)), modes_(log_) {
    evidence_.activation_ms = static_cast<uint64_t>(opts_.key_activation.count()) * 1000;
  }

  Status start();
  int loop(const volatile sig_atomic_t& stop);
  status::AgentStatus snapshot() const {
    std::lock_guard lock(mu_);
    return snap_;
  }

 private:
  Status sync();
  void refresh_status();
  void on_device_events(const std::vector<probe::DeviceEvent>& events);
  void reload_keys();
  // A log line when keys_ holds a shared AEAD key (the config allowed it).
  void warn_shared_keys();
  void reload_config();
  Status watch_dirs();
  bool drain_inotify();

  void add_slot_device(int ifindex, uint8_t slot);
  Status open_state();
  Status save_generation(uint8_t slot, uint8_t generation);
  std::vector<uint8_t> peer_keys(const config::Peer& p, std::string* source) const;
  void note_error(const std::string& what);
  void adopt_peer(const config::Peer& p);
  Status start_discovery();
  void drain_discovery();
  void rebuild_peers();
  void publish_self();

  Options opts_;
  config::AgentConfig cfg_;
  // The peers in force: the config's static list, or with etcd discovery the
  // discovered ones (the static list is a seed until etcd first answers).
  std::vector<config::Peer> peers_;
  std::set<uint16_t> adopted_peers_;
  std::shared_ptr<discovery::EtcdClient> etcd_;
  std::unique_ptr<discovery::Registry> registry_;
  Fd wake_;  // eventfd: the registry's thread has news
  std::mutex disc_mu_;
  std::map<std::string, std::optional<discovery::NodeRecord>> disc_inbox_;  // name -> record, nullopt: gone
  std::map<std::string, config::Peer> discovered_;
  std::map<uint16_t, std::vector<uint8_t>> peer_generations_;  // announced, per peer slot
  std::optional<discovery::NodeRecord> published_;
  // Discovery news is applied once it pauses (200 ms) or after 2 s at most:
  // 5,000 records arriving one by one must not cost 5,000 reconciles.
  uint64_t disc_first_ = 0, disc_last_ = 0;
  keys::KeySet keys_;
  // When we first held each key (mono ms); per peer, keys it is known to hold
  // from before this process (the pinned nodes map) or from its own traffic.
  KeyEvidence evidence_;

  std::unique_ptr<probe::ProbeKernel> probe_kernel_;
  probe::ProbeOptions probe_opts_;
  probe::ProbeReport report_;
  std::optional<probe::Monitor> monitor_;
  std::unique_ptr<offload::XfrmKernel> xfrm_;
  std::unique_ptr<offload::RouteKernel> routes_kernel_;
  fallback::DecisionLog log_;
  fallback::ModeBook modes_;
  std::unique_ptr<offload::Reconciler> reconciler_;
  std::unique_ptr<offload::RouteReconciler> route_reconciler_;
  std::optional<bpf::Datapath> dp_;
  std::optional<DatapathMaps> maps_;
  std::optional<DatapathTc> tc_;
  std::unique_ptr<status::Server> server_;

  std::map<int, uint8_t> slot_of_;  // uplink ifindex -> slot
  // Restart: per slot, the generation our outbound states in the kernel carry;
  // taken by the slot when its device joins.
  std::map<uint8_t, uint8_t> kernel_generations_;
  // What survives a reboot (datapath/state_file.h): written before a slot uses
  // a generation; the receive window bases of each peer slot.
  std::string state_path_;
  SavedState saved_;
  RxBases rx_bases_;
  std::set<int> pod_devices_;
  // Restart: the pinned maps' entries are adopted (and the stale ones swept) at
  // the first sync whose peers are complete (with etcd: once it answered).
  bool sweep_pending_ = false;
  Written written_;                         // what this process wrote; the send key per peer
  std::map<uint16_t, uint8_t> route_slot_;  // peer -> slot its route leaves by
  offload::ReconcileResult last_;

  Fd inotify_;
  std::string key_dir_, key_base_, cfg_dir_, cfg_base_;
  bool keys_dirty_ = false, config_dirty_ = false, dirty_ = true;

  uint64_t started_at_ = unix_s();
  uint64_t reconciles_ = 0, failures_ = 0;
  status::AgentStatus::Loop pulse_;  // /healthz: syncs finished, failures in a row
  ErrorNotes errors_;  // last_error: failed steps until a clean reconcile, refused files until a good one
  status::TrafficBook traffic_;  // the metrics' counters that never go down
  bool ready_ = false;

  mutable std::mutex mu_;
  status::AgentStatus snap_;
  std::vector<status::CounterSample> history_;  // `sealnet audit`'s window (docs/events.md)
};

void Agent::note_error(const std::string& what) {
  errors_.failed(what);
  say("%s", what.c_str());
}

Status Agent::start() {
  const auto local_addr = outer_local(cfg_.node);
  if (!local_addr) return fail(EINVAL, "start agent", cfg_.node.name, "the node has no address");

  // What the node and its devices can do. A kernel without ESP or AES-GCM
  // cannot encrypt anything: refuse to start rather than pretend.
  auto pk = probe::make_kernel();
  if (!pk) return std::unexpected(pk.error());
  probe_kernel_ = std::move(*pk);
  probe_opts_.trial = opts_.trial;
  auto report = probe::run_probe(*probe_kernel_, probe_opts_);
  if (!report) return std::unexpected(report.error());
  report_ = std::move(*report);
  if (!report_.node.can_encrypt())
    return fail(ENOTSUP, "start agent", "this kernel",
                "cannot encrypt: ESP " + report_.node.esp.reason + "; AES-GCM " +
                    report_.node.aes_gcm.reason +
                    " (run `sealnet lab up --vm` to see sealnet in the project's VM)");
  if (report_.node.ipv4_forwarding == false)
    say("warning: net.ipv4.ip_forward is 0: bpf_fib_lookup refuses to route pod traffic, which is dropped "
        "and counted as fib-fwd-disabled; enable forwarding on this node");

  auto k = keys::load_key_file(cfg_.key_file, cfg_.allow_shared_keys);
  if (!k) return std::unexpected(k.error());
  keys_ = std::move(*k);
  warn_shared_keys();

  auto xk = offload::make_netlink_kernel();
  if (!xk) return std::unexpected(xk.error());
  xfrm_ = std::move(*xk);
  auto rk = offload::make_netlink_route_kernel();
  if (!rk) return std::unexpected(rk.error());
  routes_kernel_ = std::move(*rk);
  auto mon = probe::Monitor::make();
  if (!mon) return std::unexpected(mon.error());
  monitor_.emplace(std::move(*mon));
  reconciler_ = std::make_unique<offload::Reconciler>(*xfrm_, modes_);
  reconciler_->grace_seconds = static_cast<uint64_t>(cfg_.key_grace.count());
  route_reconciler_ = std::make_unique<offload::RouteReconciler>(*routes_kernel_);

  // BPF: maps pinned in the agent's bpffs directory survive a restart; a
  // previous agent's maps are re-used, not emptied.
  if (auto s = bpf::ensure_bpffs(cfg_.bpffs_dir); !s) return s;
  auto dp = bpf::Datapath::load({cfg_.bpffs_dir});
  if (!dp) return std::unexpected(dp.error());
  dp_.emplace(std::move(*dp));
  maps_.emplace(*dp_);
  tc_.emplace(*dp_);
  auto pinned = dp_->config();
  if (!pinned) return std::unexpected(pinned.error());
  if (pinned->local_node_id != 0 && pinned->local_node_id != cfg_.node.id)
    return fail(EEXIST, "start agent", cfg_.bpffs_dir,
                "the pinned maps there belong to node id " + std::to_string(pinned->local_node_id) +
                    ", not " + std::to_string(cfg_.node.id) + ": use another bpffs_dir or remove them");

  if (auto s = open_state(); !s) return s;

  // Adoption: what the previous agent had told the datapath about each peer,
  // and the generation each slot's outbound states are at.
  const bool restarted = pinned->local_node_id != 0;
  rebuild_peers();
  const uint64_t now = mono_ms();
  for (const auto& key : keys_.keys)
    // Fresh start: the cluster is assumed settled on the keys present now.
    // Restart: keys newer than what a peer was sent with wait for evidence or
    // the activation delay.
    evidence_.loaded_at[key.id] =
        restarted ? now : now - static_cast<uint64_t>(opts_.key_activation.count()) * 1000;
  sweep_pending_ = restarted;
  if (restarted) {
    // Each slot continues at the generation its outbound states carry: a new
    // generation 0 would re-install every state (and re-use SPIs whose
    // sequence numbers a peer may have seen).
    auto states = xfrm_->states();
    if (!states) return std::unexpected(states.error());
    kernel_generations_ = kernel_generations(*states, cfg_.node.id);
  }
  say("%s node %s (id %u): %zu peer(s), %zu key(s), bpffs %s", restarted ? "adopting" : "starting",
      cfg_.node.name.c_str(), cfg_.node.id, peers_.size(), keys_.keys.size(), cfg_.bpffs_dir.c_str());
  for (const auto& key : keys_.keys) say("key %s", key.describe().c_str());

  if (auto s = watch_dirs(); !s) return s;
  if (auto s = start_discovery(); !s) return s;
  const std::string listen = opts_.metrics_listen.value_or(cfg_.metrics_listen);
  if (!listen.empty() && listen != "off") {
    auto srv = status::Server::start(listen, [this] { return snapshot(); });
    if (!srv) return std::unexpected(srv.error());
    server_ = std::move(*srv);
    say("status and metrics on http://%s (/status, /metrics)", listen.c_str());
  }
  return {};
}

// The state file: read strictly (a corrupt one stops the start), then written
// back at once, so an unwritable state directory fails here, not at the first
// generation move.
Status Agent::open_state() {
  std::error_code ec;
  std::filesystem::create_directories(cfg_.state_dir, ec);
  if (ec) return fail(ec.value(), "create the state directory", cfg_.state_dir);
  state_path_ = (std::filesystem::path(cfg_.state_dir) / kStateFileName).string();
  auto loaded = load_state(state_path_);
  if (!loaded) return std::unexpected(loaded.error());
  if (*loaded) {
    if ((*loaded)->node != cfg_.node.id)
      return fail(EEXIST, "start agent", state_path_,
                  "the state there belongs to node id " + std::to_string((*loaded)->node) + ", not " +
                      std::to_string(cfg_.node.id) + ": use another state_dir or remove it");
    saved_ = std::move(**loaded);
    say("state %s: %zu slot generation(s), %zu peer window(s)", state_path_.c_str(), saved_.slots.size(),
        saved_.peers.size());
  }
  saved_.node = cfg_.node.id;
  rx_bases_ = saved_.peers;
  if (auto s = save_state(state_path_, saved_); !s) return s;
  modes_.set_guard([this](uint8_t slot, uint8_t g) { return save_generation(slot, g); });
  return {};
}

Status Agent::save_generation(uint8_t slot, uint8_t generation) {
  auto next = saved_;
  next.slots[slot] = generation;
  if (next == saved_) return {};
  if (auto s = save_state(state_path_, next); !s) return s;
  saved_ = std::move(next);
  return {};
}

Status Agent::watch_dirs() {
  inotify_ = Fd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!inotify_) return fail(errno, "inotify_init1", "agent");
  const uint32_t mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB | IN_MOVED_FROM;
  auto split = [](const std::string& path, std::string& dir, std::string& base) {
    const std::filesystem::path p(path);
    dir = p.parent_path().string();
    base = p.filename().string();
  };
  split(cfg_.key_file, key_dir_, key_base_);
  if (::inotify_add_watch(inotify_.get(), key_dir_.c_str(), mask) < 0)
    return fail(errno, "watch the key file's directory", key_dir_);
  if (!opts_.config_path.empty()) {
    split(std::filesystem::absolute(opts_.config_path).string(), cfg_dir_, cfg_base_);
    if (::inotify_add_watch(inotify_.get(), cfg_dir_.c_str(), mask) < 0)
      return fail(errno, "watch the config file's directory", cfg_dir_);
  }
  return {};
}

// Which of the watched files changed. Any event in the key file's directory
// counts for the key file: a Secret volume swaps `..data`, not the file itself.
bool Agent::drain_inotify() {
  alignas(inotify_event) char buf[4096];
  bool any = false;
  for (;;) {
    const ssize_t n = ::read(inotify_.get(), buf, sizeof buf);
    if (n <= 0) break;
    for (ssize_t off = 0; off < n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
      const std::string name = ev->len ? ev->name : "";
      if (!cfg_base_.empty() && name == cfg_base_) config_dirty_ = true;
      if (name != cfg_base_ || cfg_dir_ != key_dir_) keys_dirty_ = true;
      any = true;
      off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
    }
  }
  return any;
}

void Agent::reload_keys() {
  keys_dirty_ = false;
  auto k = keys::load_key_file(cfg_.key_file, cfg_.allow_shared_keys);
  if (!k) {
    // Also what a half-written file looks like: the next event retries.
    errors_.refused(ErrorNotes::File::keys,
                    "key file rejected, the running keys stay in force: " + k.error().message());
    say("key file rejected, the running keys stay in force: %s", k.error().message().c_str());
    return;
  }
  errors_.accepted(ErrorNotes::File::keys);
  if (*k == keys_) return;
  const uint64_t now = mono_ms();
  std::map<uint8_t, uint64_t> loaded;
  for (const auto& key : k->keys) {
    auto it = evidence_.loaded_at.find(key.id);
    loaded[key.id] = it != evidence_.loaded_at.end() ? it->second : now;
  }
  evidence_.loaded_at = std::move(loaded);
  keys_ = std::move(*k);
  std::string ids;
  for (const auto& key : keys_.keys) ids += (ids.empty() ? "" : ", ") + key.describe();
  say("keys now: %s", ids.c_str());
  warn_shared_keys();
  dirty_ = true;
}

void Agent::warn_shared_keys() {
  const std::string problem = keys::shared_key_problem(keys_);
  if (!problem.empty()) say("warning: %s (allowed by keys: {allow_shared: true})", problem.c_str());
}

void Agent::reload_config() {
  config_dirty_ = false;
  config::ParseOptions po;
  po.node_name = opts_.node_name;
  auto c = config::load_agent_config(opts_.config_path, po);
  auto refuse = [this](const std::string& what) {
    errors_.refused(ErrorNotes::File::config, what);
    say("%s", what.c_str());
  };
  if (!c) {
    refuse("config rejected, the running config stays in force: " + c.error().message());
    return;
  }
  if (!same_identity(c->node, cfg_.node) || c->bpffs_dir != cfg_.bpffs_dir || c->key_file != cfg_.key_file ||
      c->metrics_listen != cfg_.metrics_listen || c->state_dir != cfg_.state_dir) {
    refuse(
        "config changes this node's identity, key file, bpffs_dir, state_dir or metrics address: restart the "
        "agent to apply it; the running config stays in force");
    return;
  }
  if (c->etcd.has_value() != cfg_.etcd.has_value() ||
      (c->etcd && (c->etcd->endpoints != cfg_.etcd->endpoints || c->etcd->prefix != cfg_.etcd->prefix))) {
    refuse("config changes the discovery settings: restart the agent to apply it; the running config stays");
    return;
  }
  errors_.accepted(ErrorNotes::File::config);
  cfg_ = std::move(*c);
  // allow_shared may have changed: the key file is judged again (refused, the
  // running keys stay in force and the error says why).
  keys_dirty_ = true;
  reconciler_->grace_seconds = static_cast<uint64_t>(cfg_.key_grace.count());
  rebuild_peers();
  say("config reloaded: %zu peer(s)", peers_.size());
  dirty_ = true;
}

std::vector<uint8_t> Agent::peer_keys(const config::Peer& p, std::string* source) const {
  auto ids = peer_key_ids(p, keys_, evidence_, mono_ms(), source);
  if (p.keys && source && discovered_.contains(p.name)) *source = "discovery";
  return ids;
}

void Agent::add_slot_device(int ifindex, uint8_t slot) {
  const uint64_t now = unix_s();
  auto dev = probe::probe_device(*probe_kernel_, ifindex, report_.node, probe_opts_);
  if (!dev) {
    note_error("probe of uplink ifindex " + std::to_string(ifindex) +
               " failed, using software: " + dev.error().message());
    probe::DeviceReport d;
    d.ifindex = ifindex;
    char name[IF_NAMESIZE] = {};
    d.name = if_indextoname(static_cast<unsigned>(ifindex), name) ? name : std::to_string(ifindex);
    d.verdict = probe::Verdict::software;
    d.reason = "probe failed: " + dev.error().message();
    dev = std::move(d);
  }
  const auto probed = fallback::from_probe(slot, *dev, now);
  modes_.set_device(probed.device, now, probed.decision.detail);
  say("uplink %s: slot %u, %s (%s)", dev->name.c_str(), slot, probe::to_string(dev->verdict),
      dev->reason.c_str());
  const bool in_kernel = kernel_generations_.contains(slot);
  if (auto g = continue_generation(modes_, slot, kernel_generations_, saved_.slots))
    say("uplink %s: slot %u continues at generation %u (%s)", dev->name.c_str(), slot, *g,
        in_kernel ? "its states in the kernel" : "the state file: the kernel has none");
  // Before any state carries it (docs/xfrm-design.md "Generations", rule 3).
  if (auto s = save_generation(slot, modes_.slot(slot)->generation); !s)
    note_error("uplink " + dev->name + ": " + s.error().message());
  report_.update(std::move(*dev));
}

void Agent::on_device_events(const std::vector<probe::DeviceEvent>& events) {
  const uint64_t now = unix_s();
  for (const auto& ev : events) {
    dirty_ = true;
    if (ev.kind == probe::DeviceEvent::Kind::resync) {
      // Lost events: re-judge every uplink.
      say("device events lost (the netlink socket overran, ENOBUFS): links dumped again, %zu uplinks re-probed",
          slot_of_.size());
      for (const auto& [ifx, slot] : slot_of_) {
        auto d = probe::probe_device(*probe_kernel_, ifx, report_.node, probe_opts_);
        if (d) report_.update(*d);
      }
      continue;
    }
    auto it = slot_of_.find(ev.ifindex);
    if (it == slot_of_.end()) continue;
    const uint8_t slot = it->second;
    switch (ev.kind) {
      case probe::DeviceEvent::Kind::down:
        modes_.link_down(slot, now);
        break;  // (d) flushed
      case probe::DeviceEvent::Kind::up:
        modes_.link_up(slot, now);
        break;  // (d) next generation
      case probe::DeviceEvent::Kind::removed:
        modes_.link_down(slot, now);
        report_.remove(ev.ifindex);
        break;
      case probe::DeviceEvent::Kind::features_changed: {  // (e)
        auto d = probe::probe_device(*probe_kernel_, ev.ifindex, report_.node, probe_opts_);
        if (!d) break;
        const bool on = d->features.hw_offload && d->features.hw_offload->active;
        if (on) {
          const auto probed = fallback::from_probe(slot, *d, now);
          if (modes_.slot(slot) && modes_.slot(slot)->dev.capability != probed.device.capability)
            modes_.set_device(probed.device, now, probed.decision.detail);
        }
        modes_.feature_changed(slot, on, now);
        report_.update(std::move(*d));
        break;
      }
      default:
        break;
    }
  }
}

void Agent::adopt_peer(const config::Peer& p) {
  if (!adopted_peers_.insert(p.id).second) return;
  // What the previous agent had told the datapath about this peer: the key it
  // sent with stays in force (and counts as held by the peer) until this run's
  // reconcile decides.
  auto v = dp_->node(p.id);
  if (!v || !*v) return;
  written_.nodes[p.id] = **v;
  written_.send_keys[p.id] = (*v)->peer_key_id;
  if (auto held = adopted_keys(keys_, (*v)->peer_key_id); !held.empty())
    evidence_.adopted[p.id] = std::move(held);
}

void Agent::rebuild_peers() {
  if (registry_ && registry_->synced()) {
    peers_.clear();
    for (const auto& [name, p] : discovered_) peers_.push_back(p);
  } else {
    peers_ = cfg_.peers;
    std::set<std::string> seeded;
    for (const auto& p : peers_) seeded.insert(p.name);
    for (const auto& [name, p] : discovered_)
      if (!seeded.contains(name)) peers_.push_back(p);
  }
  // Two discovered records may not claim one id (PeerSet refuses clashes with
  // us and with known peers; a static seed is replaced by its record).
  std::set<uint16_t> ids;
  std::erase_if(peers_,
                [&](const config::Peer& p) { return p.id == cfg_.node.id || !ids.insert(p.id).second; });
  for (const auto& p : peers_) adopt_peer(p);
  dirty_ = true;
}

Status Agent::start_discovery() {
  if (!cfg_.etcd) return {};
  wake_ = Fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wake_) return fail(errno, "eventfd", "discovery");
  discovery::EtcdOptions eo;
  eo.endpoints = cfg_.etcd->endpoints;
  eo.ca_file = cfg_.etcd->cacert;
  eo.cert_file = cfg_.etcd->cert;
  eo.key_file = cfg_.etcd->key;
  auto client = discovery::EtcdClient::make(eo);
  if (!client) return std::unexpected(client.error());
  etcd_ = std::move(*client);
  discovery::RegistryOptions ro;
  ro.prefix = cfg_.etcd->prefix;
  ro.ttl = cfg_.etcd->lease_ttl;
  ro.grace = std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.etcd->grace);
  discovery::RegistryCallbacks cb;
  // On the registry's thread: hand over and wake the loop.
  auto post = [this](const std::string& name, std::optional<discovery::NodeRecord> r) {
    {
      std::lock_guard lock(disc_mu_);
      disc_inbox_[name] = std::move(r);
    }
    const uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof one);
  };
  cb.on_peer_upsert = [post](const discovery::NodeRecord& r) { post(r.name, r); };
  cb.on_peer_remove = [post](const std::string& name) { post(name, std::nullopt); };
  auto self = discovery::record_of(cfg_.node, 1);
  self.keys.clear();  // advertised once their inbound states exist (publish_self)
  auto reg = discovery::Registry::start(etcd_, self, ro, std::move(cb),
                                        [](const std::string& line) { say("discovery: %s", line.c_str()); });
  if (!reg) return std::unexpected(reg.error());
  registry_ = std::move(*reg);
  published_ = self;
  say("discovery: etcd %s, prefix %s, lease %llds, grace %llds", cfg_.etcd->endpoints.front().c_str(),
      cfg_.etcd->prefix.c_str(), static_cast<long long>(cfg_.etcd->lease_ttl.count()),
      static_cast<long long>(cfg_.etcd->grace.count()));
  return {};
}

void Agent::drain_discovery() {
  uint64_t n = 0;
  [[maybe_unused]] auto r = ::read(wake_.get(), &n, sizeof n);
  std::map<std::string, std::optional<discovery::NodeRecord>> inbox;
  {
    std::lock_guard lock(disc_mu_);
    inbox.swap(disc_inbox_);
  }
  const uint64_t now = mono_ms();
  if (disc_first_ == 0) disc_first_ = now;
  disc_last_ = now;
  for (auto& [name, rec] : inbox) {
    if (rec) {
      const bool known = discovered_.contains(name);
      discovered_[name] = discovery::peer_of(*rec);
      peer_generations_[rec->id] = rec->generations;
      if (!known) say("discovery: peer %s (id %u) joined", name.c_str(), rec->id);
    } else if (discovered_.erase(name)) {
      say("discovery: peer %s left", name.c_str());
    }
  }
}

// Our record in etcd: the keys whose inbound states exist (what peers may send
// with), our uplinks and their modes and generations.
void Agent::publish_self() {
  if (!registry_) return;
  auto self = discovery::record_of(cfg_.node, static_cast<uint8_t>(std::max<size_t>(1, slot_of_.size())));
  for (const auto& k : keys_.keys) self.keys.push_back(k.id);
  for (const auto& [n, st] : modes_.slots()) {
    self.device_modes[st.dev.name] = mode_word(st.mode);
    if (n >= self.generations.size()) self.generations.resize(n + 1, 0);
    self.generations[n] = st.generation;
  }
  if (published_ && *published_ == self) return;
  if (auto s = registry_->update_self(self); !s) {
    note_error("discovery: update our record: " + s.error().message());
    return;
  }
  published_ = std::move(self);
}

// Gather what is known, decide (datapath/desired.h), apply (datapath/effectors.h).
Status Agent::sync() {
  const uint64_t now_s = unix_s();
  const auto& links = monitor_->tracker().known();
  auto all_routes = routes_kernel_->routes();
  if (!all_routes) return std::unexpected(all_routes.error());
  std::vector<route::Route> main;
  for (auto& r : *all_routes)
    if (r.table == kMainTable) main.push_back(r);

  // The uplinks, their slots (a new one is probed; one the previous agent gave
  // a slot keeps it: the marks and SPIs in the kernel carry it) and their links.
  auto pinned_slot = [this](int ifx) -> std::optional<uint8_t> {
    if (auto v = dp_->device(static_cast<uint32_t>(ifx)); v && *v) return (*v)->slot;
    return std::nullopt;
  };
  auto problems = join_uplinks(cfg_, peers_, links, main, slot_of_, modes_, pinned_slot,
                               [this](int ifx, uint8_t slot) { add_slot_device(ifx, slot); });
  observe_links(modes_, slot_of_, links, now_s);

  DesiredInput in;
  in.cfg = &cfg_;
  in.peers = &peers_;
  in.keys = &keys_;
  in.modes = &modes_;
  in.slot_of = &slot_of_;
  in.links = &links;
  in.main = &main;
  for (const auto& p : peers_) {
    if (!outer_peer(cfg_.node, p)) continue;
    in.peer_keys[p.id] = peer_keys(p, nullptr);
    if (auto g = peer_generations_.find(p.id); g != peer_generations_.end())
      in.peer_generations[p.id] = g->second;
  }
  in.rx_bases = rx_bases_;
  in.send_keys = written_.send_keys;
  const DesiredState desired = compute(in);
  route_slot_ = desired.route_slot;
  pod_devices_ = desired.from_pod;

  if (sweep_pending_ && (!registry_ || registry_->synced())) {
    auto nodes = dp_->nodes();
    if (!nodes) return std::unexpected(nodes.error());
    auto ipcache = dp_->ipcache_entries();
    if (!ipcache) return std::unexpected(ipcache.error());
    if (const size_t stale = adopt_pinned(written_, *nodes, *ipcache, desired))
      say("pinned maps: %zu entr%s of peers no longer in force: deleted", stale, stale == 1 ? "y" : "ies");
    sweep_pending_ = false;
  }
  Effectors fx{*maps_, *tc_, *reconciler_, *route_reconciler_,
               [](const std::string& line) { say("%s", line.c_str()); }};
  if (auto e = modes_.take_guard_error(); !e.empty()) problems.push_back(e);
  auto applied = apply(desired, fx, written_, now_s, std::move(problems));
  if (!applied) return std::unexpected(applied.error());
  last_ = std::move(applied->xfrm);
  publish_self();
  if (!applied->problems.empty()) {
    std::string all;
    for (const auto& p : applied->problems) all += (all.empty() ? "" : "; ") + p;
    return fail(0, "reconcile", cfg_.node.name, all);
  }
  return {};
}

void Agent::refresh_status() {
  status::AgentStatus s;
  s.node_name = cfg_.node.name;
  s.node_id = cfg_.node.id;
  for (const auto& a : {cfg_.node.ipv4, cfg_.node.ipv6})
    if (a) s.node_addresses.push_back(a->str());
  for (const auto& c : cfg_.node.pod_cidrs) s.pod_cidrs.push_back(c.str());
  s.started_at = started_at_;
  s.now = unix_s();
  s.ready = ready_;
  s.fail_closed = cfg_.fail_closed;
  s.last_error = errors_.last_error();
  s.reconciles = reconciles_;
  s.reconcile_failures = failures_;
  s.loop = pulse_;
  s.tx_key = keys_.newest() ? keys_.newest()->id : 0;
  const uint64_t mono = mono_ms();
  for (const auto& k : keys_.keys) {
    status::KeyStatus ks;
    ks.id = k.id;
    ks.per_pair = k.per_pair;
    if (k.form == keys::KeyForm::Aead) {
      ks.algorithm = k.aead_algo;
      ks.key_bits = static_cast<uint32_t>(k.aead_key.size() * 8);
      ks.icv_bits = k.icv_bits;
    } else {
      ks.algorithm = k.auth_algo + "+" + k.enc_algo;
      ks.key_bits = static_cast<uint32_t>(k.enc_key.size() * 8);
    }
    if (auto at = evidence_.loaded_at.find(k.id); at != evidence_.loaded_at.end() && mono >= at->second)
      ks.age_seconds = (mono - at->second) / 1000;
    s.keys.push_back(std::move(ks));
  }

  // Devices.
  std::map<uint8_t, std::string> slot_dev;
  for (const auto& [n, st] : modes_.slots()) {
    status::DeviceStatus d;
    d.name = st.dev.name;
    d.ifindex = st.dev.ifindex;
    d.slot = n;
    d.up = st.up;
    d.mode = mode_word(st.mode);
    d.generation = st.generation;
    if (const auto* rep = report_.find(st.dev.ifindex)) {
      d.verdict = probe::to_string(rep->verdict);
      d.reason = rep->reason;
    }
    slot_dev[n] = st.dev.name;
    s.devices.push_back(std::move(d));
  }
  std::map<int, std::string> ifname;
  for (const auto& [ifx, l] : monitor_->tracker().known()) ifname[ifx] = l.name;
  for (int p : pod_devices_) s.pod_devices.push_back(ifname.contains(p) ? ifname[p] : std::to_string(p));

  // Peers and their states (with counters): the reconciler's view, its last
  // dump amended by what that run added and deleted (no second dump of the
  // SAD, no keys; counters as old as that reconcile, docs/status.md).
  std::map<uint16_t, status::PeerStatus> peers;
  for (const auto& p : peers_) {
    auto& ps = peers[p.id];
    ps.id = p.id;
    ps.name = p.name;
    if (auto a = outer_peer(cfg_.node, p)) ps.address = a->str();
    for (const auto& c : p.pod_cidrs) ps.pod_cidrs.push_back(c.str());
    if (auto rs = route_slot_.find(p.id); rs != route_slot_.end()) {
      ps.slot = rs->second;
      ps.device = slot_dev[rs->second];
    }
    ps.tx_key = written_.send_keys.contains(p.id) ? written_.send_keys.at(p.id) : 0;
    ps.peer_keys = peer_keys(p, &ps.keys_source);
    ps.mode = "none";
  }
  {
    const std::vector<xfrm::SaEntry>& states = reconciler_->view();
    for (const auto& sa : states) {
      if (!offload::owned(sa)) continue;
      const bool out = sa.reqid == offload::kReqidOut;
      const auto parts = offload::split_spi(sa.id.spi);
      const uint16_t peer_id = out ? 0 : parts.node;
      uint16_t pid = peer_id;
      if (out && sa.mark) pid = static_cast<uint16_t>(sa.mark->value >> SEALNET_MARK_NODE_SHIFT);
      auto it = peers.find(pid);
      if (it == peers.end()) continue;
      status::PeerSa ps;
      ps.spi = sa.id.spi;
      ps.dir = out ? "out" : "in";
      ps.key = parts.key;
      ps.slot = parts.slot;
      ps.generation = parts.generation;
      ps.mode = sa.offload ? mode_word(sa.offload->mode()) : "software";
      if (sa.offload) ps.device = ifname.contains(sa.offload->ifindex) ? ifname[sa.offload->ifindex] : "";
      ps.counters = {sa.current.packets, sa.current.bytes, sa.stats.replay, sa.stats.integrity_failed,
                     sa.stats.replay_window};
      auto& total = out ? it->second.out_total : it->second.in_total;
      total.packets += ps.counters.packets;
      total.bytes += ps.counters.bytes;
      total.replay_errors += ps.counters.replay_errors;
      total.integrity_errors += ps.counters.integrity_errors;
      total.replay_window_errors += ps.counters.replay_window_errors;
      // The state the datapath sends with right now names the peer's mode.
      if (out && ps.key == it->second.tx_key && ps.slot == it->second.slot &&
          (it->second.mode == "none" ||
           (modes_.slot(ps.slot) && ps.generation == modes_.slot(ps.slot)->generation)))
        it->second.mode = ps.mode;
      // A peer that sends under a key holds it (rotation evidence).
      if (!out && ps.counters.packets > 0) evidence_.observed[pid].insert(ps.key);
      it->second.sas.push_back(std::move(ps));
    }
    // A sender's traffic on a newer generation slides our window (rule 4).
    const bool seen = follow_generations(states, rx_bases_);
    if (follow_announced(peer_generations_, rx_bases_) || seen) {
      auto next = saved_;
      next.peers = rx_bases_;
      if (auto w = save_state(state_path_, next); w)
        saved_ = std::move(next);
      else
        errors_.failed("save the receive windows: " + w.error().message());
      dirty_ = true;
    }
  }
  s.sa_counters_at = reconciler_->view_time();
  s.reconcile = {last_.times.dump_ns / 1000, last_.times.plan_ns / 1000,   last_.times.diff_ns / 1000,
                 last_.times.send_ns / 1000, last_.times.kernel_ns / 1000, last_.keys_derived};
  // Why a peer is in its mode: the newest decision about its own states or its
  // slot as a whole (datapath/why.h), else the probe's words.
  std::map<std::string, uint32_t> offloaded;  // device -> our states offloaded to it, both directions
  for (auto& [id, ps] : peers) {
    if (const auto* d = peer_decision(log_.entries(), ps.id, ps.address, ps.slot)) {
      ps.mode_reason = d->str();
    } else if (const auto* st = modes_.slot(ps.slot)) {
      const auto* rep = report_.find(st->dev.ifindex);
      ps.mode_reason = "probe: " + (rep ? rep->reason : "");
    }
    if (ps.tx_key == 0) ps.mode_reason = "no key both sides hold yet: dropped (fail-closed)";
    if (ps.address.empty()) ps.mode_reason = no_outer_address(cfg_.node);
    for (const auto& sa : ps.sas)
      if (!sa.device.empty()) ++offloaded[sa.device];
    s.peers.push_back(std::move(ps));
  }
  for (auto& d : s.devices)
    if (auto it = offloaded.find(d.name); it != offloaded.end()) d.offloaded_states = it->second;

  if (auto m = dp_->metrics()) {
    for (uint32_t i = 0; i < SEALNET_M_COUNT; ++i) {
      s.bpf_packets[bpf::metric_name(i)] = (*m)[i].packets;
      s.bpf_bytes[bpf::metric_name(i)] = (*m)[i].bytes;
      if (bpf::metric_is_drop(i)) s.bpf_drop_reasons.push_back(bpf::metric_name(i));
    }
  }
  s.events.drops = cfg_.monitor.drops;
  s.events.flows = cfg_.monitor.flows;
  if (auto ev = bpf::read_event_stats(dp_->event_stats_fd())) {
    s.events.sent = ev->sent;
    s.events.lost = ev->ringbuf_full;
    s.events.rate_limited = ev->rate_limited;
  }
  std::ifstream xs("/proc/net/xfrm_stat");
  std::stringstream text;
  text << xs.rdbuf();
  s.xfrm_stat = status::parse_xfrm_stat(text.str());
  for (int i = 0; i < static_cast<int>(fallback::Reason::count_); ++i) {
    const auto reason = static_cast<fallback::Reason>(i);
    s.fallback_counts[fallback::to_string(reason)] = log_.count(reason);
  }
  for (const auto& d : log_.entries()) s.decisions.push_back(d.str());
  if (s.decisions.size() > 32) s.decisions.erase(s.decisions.begin(), s.decisions.end() - 32);
  status::sample_history(history_, status::counter_sample(s));
  s.history = history_;
  if (registry_) {
    s.discovery = registry_->status();
  } else {
    s.discovery.backend = "static";
    s.discovery.connected = true;
    s.discovery.peers = peers_.size();
  }
  traffic_.account(s);
  std::lock_guard lock(mu_);
  snap_ = std::move(s);
}

int Agent::loop(const volatile sig_atomic_t& stop) {
  uint64_t next_sync = 0, next_status = 0;
  std::vector<pollfd> fds;
  fds.push_back({inotify_.get(), POLLIN, 0});
  for (int fd : monitor_->fds()) fds.push_back({fd, POLLIN, 0});
  const size_t wake_index = fds.size();
  if (wake_) fds.push_back({wake_.get(), POLLIN, 0});
  uint64_t logged = 0;
  while (!stop) {
    const uint64_t now = mono_ms();
    if (disc_first_ && (now >= disc_last_ + 200 || now >= disc_first_ + 2000)) {
      disc_first_ = 0;
      rebuild_peers();
    }
    if (dirty_ || now >= next_sync) {
      dirty_ = false;
      ++reconciles_;
      auto s = sync();
      if (!s) {
        ++failures_;
        note_error(s.error().message());
      } else {
        if (errors_.has_failed()) say("reconcile clean again");
        errors_.clean();
      }
      ready_ = ready_ || s.has_value();
      pulse_.last_sync = unix_s();
      if (s) {
        pulse_.failures_in_a_row = 0;
        pulse_.failing_since = 0;
      } else if (pulse_.failures_in_a_row++ == 0) {
        pulse_.failing_since = pulse_.last_sync;
      }
      for (const auto* d : log_.since(logged)) say("decision: %s", d->str().c_str());  // as they happen
      // A big node's reconcile (5,000 peers: a dump of 30,000 objects) costs
      // real time: the periodic one never takes more than a fifth of the loop.
      const uint64_t done = mono_ms();
      next_sync = done + std::max<uint64_t>(static_cast<uint64_t>(opts_.resync.count()), 4 * (done - now));
      pulse_.sync_every = (next_sync - done + 999) / 1000;
      next_status = 0;
      if (opts_.once) {
        refresh_status();
        return s ? 0 : 1;
      }
    }
    if (const uint64_t t0 = mono_ms(); t0 >= next_status) {
      refresh_status();
      const uint64_t done = mono_ms();
      next_status =
          done + std::max<uint64_t>(static_cast<uint64_t>(opts_.status_refresh.count()), 4 * (done - t0));
    }
    const uint64_t t = mono_ms();
    uint64_t wake = std::min(next_sync, next_status);
    if (disc_first_) wake = std::min({wake, disc_last_ + 200, disc_first_ + 2000});
    const int timeout = wake > t ? static_cast<int>(std::min<uint64_t>(wake - t, 1000)) : 0;
    for (auto& p : fds) p.revents = 0;
    if (::poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) {
      say("poll: %s", std::strerror(errno));
      return 1;
    }
    if (fds[0].revents & POLLIN) drain_inotify();
    if (wake_ && (fds[wake_index].revents & POLLIN)) drain_discovery();
    bool link_ready = false;
    for (size_t i = 1; i < wake_index; ++i) link_ready = link_ready || (fds[i].revents & POLLIN);
    if (link_ready) {
      auto evs = monitor_->poll(0);
      if (!evs)
        note_error("device events: " + evs.error().message());
      else if (!evs->empty())
        on_device_events(*evs);
    }
    if (config_dirty_) reload_config();
    if (keys_dirty_) reload_keys();
  }
  say("stopping; the datapath stays in force");
  // Our record lapses with its lease: a restart within the peers' grace period
  // changes nothing for them.
  if (registry_) registry_->stop();
  if (server_) server_->stop();
  return 0;
}

// An integer sysctl of the agent's namespace, nullopt when it cannot be read.
std::optional<int> read_sysctl(const char* path) {
  std::ifstream f(path);
  int v = 0;
  if (!(f >> v)) return std::nullopt;
  return v;
}

HostSysctls host_sysctls() {
  HostSysctls s;
  if (auto v = read_sysctl("/proc/sys/net/ipv4/ip_forward")) s.ipv4_forwarding = *v != 0;
  if (auto v = read_sysctl("/proc/sys/net/ipv6/conf/all/forwarding")) s.ipv6_forwarding = *v != 0;
  s.ipv4_rp_filter = read_sysctl("/proc/sys/net/ipv4/conf/all/rp_filter");
  return s;
}

}  // namespace

int run_agent(const Options& opts, const volatile sig_atomic_t& stop) {
  config::ParseOptions po;
  po.node_name = opts.node_name;
  auto cfg = opts.config_path.empty() ? config::parse_agent_config(config::embedded_default_config_text(),
                                                                   config::kEmbeddedDefaultSource, po)
                                      : config::load_agent_config(opts.config_path, po);
  if (!cfg) {
    say("%s", cfg.error().message().c_str());
    return 1;
  }
  if (opts.check) {
    auto k = keys::load_key_file(cfg->key_file, cfg->allow_shared_keys);
    if (!k) {
      say("%s", k.error().message().c_str());
      return 1;
    }
    if (auto problem = keys::shared_key_problem(*k); !problem.empty())
      std::printf("  warning: %s (allowed by keys: {allow_shared: true})\n", problem.c_str());
    std::printf("config ok: node %s (id %u), %zu peer(s), key file %s\n", cfg->node.name.c_str(),
                cfg->node.id, cfg->peers.size(), cfg->key_file.c_str());
    for (const auto& key : k->keys) std::printf("  %s\n", key.describe().c_str());
    for (const auto& p : host_encryption_problems(*cfg, host_sysctls()))
      std::printf("  encrypt_host: %s\n", p.c_str());
    if (cfg->encrypt_host) std::printf("  encrypt_host: true is not supported by this version\n");
    return cfg->encrypt_host ? 1 : 0;
  }
  // Refused before anything is touched: the node lacks what from_host needs
  // (each line names the sysctl to set), or this version cannot set it up.
  if (const auto problems = host_encryption_problems(*cfg, host_sysctls()); !problems.empty()) {
    for (const auto& p : problems) say("encrypt_host: %s", p.c_str());
    say("encrypt_host: true refused; nothing was changed");
    return 1;
  }
  if (cfg->encrypt_host) {
    say("encrypt_host: true is not supported by this version (host traffic needs the from_host device, "
        "bpf/sealnet.bpf.c); set it to false");
    return 1;
  }
  Agent agent(opts, std::move(*cfg));
  if (auto s = agent.start(); !s) {
    say("cannot start: %s", s.error().message().c_str());
    return 1;
  }
  return agent.loop(stop);
}

}  // namespace sealnet::agent
