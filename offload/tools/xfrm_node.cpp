// sealnet-xfrm-node: the binding + fallback + reconciler of one node, driven by a
// small config file, for the VM tier and the control-plane bench (the agent in
// datapath/ will embed the same Reconciler). It never prints key material.
//
//   sealnet-xfrm-node run CONFIG [--once] [--status PATH] [--interval-ms N]
//     Reconciles the current network namespace to CONFIG, then (without --once)
//     keeps doing so every interval: re-reads CONFIG and its key file when they
//     change (a bad key file is reported and the running keys stay), watches each
//     slot's device for link down/up (fallback d) and records every decision.
//     SIGTERM/SIGINT stop it and leave the kernel state in force.
//   sealnet-xfrm-node bench [--peers N] [--keys K] [--rounds R] [--selectors per-peer|cluster] [--dir TMPDIR]
//     The control-plane bench (tools/cp_bench.h): N peers x K keys (states +
//     policies, both directions) through the reconciler and `ip -batch`, in
//     fresh namespaces, R alternating rounds; prints wall/user/sys per phase,
//     medians and the ratio.
//
// CONFIG, one item a line ('#' comments):
//   node <id> <addr>
//   subnet <cidr>                  (repeatable)
//   keys <path>
//   slot <n> <ifname> <verdict> [reason...]
//       the probe's verdict for the device standing in for a probe report:
//       software | crypto-offload | packet-offload (or crypto | packet); the
//       initial mode and its recorded decision come from fallback::from_probe,
//       the reason (default "configured") marked as a configuration override
//   peer <id> <addr> keys=1,2 [slots=0,1] [gen=<slot>:<g>,...] [rx=<slot>] [dst=<cidr>,...]
//       dst: the peer's own prefixes for its outbound policies (PeerNode::dsts;
//       default: the subnets)
//   route <slot> <cidr> [via <addr>]  (what the slot's table routes, through its device;
//                                      repeatable; sealnet's own rule selects the table)
//   grace <seconds>
//   inbound-generations <n>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bpf/shared.h"
#include "core/netns.h"
#include "fallback/verdict.h"
#include "offload/reconciler.h"
#include "offload/route_reconciler.h"
#include "offload/tools/cp_bench.h"

namespace sealnet::offload {
namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

uint64_t now_s() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep))
    if (!item.empty()) out.push_back(item);
  return out;
}

struct SlotConfig {
  uint8_t slot = 0;
  std::string ifname;
  probe::Verdict verdict = probe::Verdict::software;
  std::string reason;
};

struct Config {
  LocalNode local;
  std::vector<SlotConfig> slots;
  std::vector<PeerNode> peers;
  std::map<uint8_t, std::vector<SlotRoute>> routes;
  std::string keys_path;
  PlanOptions opts;
  uint64_t grace = 30;
};

Result<Config> parse_config(const std::string& path) {
  std::ifstream f(path);
  if (!f) return fail(errno, "read config", path);
  Config c;
  std::string line;
  int n = 0;
  while (std::getline(f, line)) {
    ++n;
    const std::string where = path + ":" + std::to_string(n);
    if (auto h = line.find('#'); h != std::string::npos) line.resize(h);
    std::istringstream in(line);
    std::string kw;
    if (!(in >> kw)) continue;
    auto bad = [&](const std::string& why) { return fail(EINVAL, "parse config", where, why); };
    if (kw == "node") {
      unsigned id;
      std::string addr;
      if (!(in >> id >> addr)) return bad("node <id> <addr>");
      auto a = IpAddr::parse(addr);
      if (!a || id == 0 || id > SEALNET_MAX_NODE_ID) return bad("bad node id or address");
      c.local = {static_cast<uint16_t>(id), *a};
    } else if (kw == "subnet") {
      std::string s;
      in >> s;
      auto p = IpPrefix::parse(s);
      if (!p) return bad("bad subnet");
      c.opts.subnets.push_back(*p);
    } else if (kw == "keys") {
      in >> c.keys_path;
    } else if (kw == "grace") {
      in >> c.grace;
    } else if (kw == "inbound-generations") {
      in >> c.opts.inbound_generations;
    } else if (kw == "slot") {
      unsigned s;
      SlotConfig sc;
      std::string mode;
      if (!(in >> s >> sc.ifname >> mode) || s >= SEALNET_MAX_SLOTS) return bad("slot <n> <ifname> <mode>");
      sc.slot = static_cast<uint8_t>(s);
      auto v = mode == "packet" ? std::optional(probe::Verdict::packet_offload)
               : mode == "crypto" ? std::optional(probe::Verdict::crypto_offload)
                                  : probe::parse_verdict(mode);
      if (!v) return bad("slot verdict " + mode + ": software, crypto-offload or packet-offload");
      sc.verdict = *v;
      std::getline(in >> std::ws, sc.reason);
      if (sc.reason.empty()) sc.reason = "configured";
      c.slots.push_back(sc);
    } else if (kw == "route") {
      unsigned s;
      std::string dst, via_kw, via;
      if (!(in >> s >> dst) || s >= SEALNET_MAX_SLOTS) return bad("route <slot> <cidr> [via <addr>]");
      auto p = IpPrefix::parse(dst);
      if (!p) return bad("bad route destination");
      SlotRoute r{*p, std::nullopt};
      if (in >> via_kw) {
        if (via_kw != "via" || !(in >> via)) return bad("route <slot> <cidr> [via <addr>]");
        auto g = IpAddr::parse(via);
        if (!g) return bad("bad route gateway");
        r.via = *g;
      }
      c.routes[static_cast<uint8_t>(s)].push_back(r);
    } else if (kw == "peer") {
      unsigned id;
      std::string addr, opt;
      if (!(in >> id >> addr)) return bad("peer <id> <addr> ...");
      auto a = IpAddr::parse(addr);
      if (!a) return bad("bad peer address");
      PeerNode p;
      p.id = static_cast<uint16_t>(id);
      p.addr = *a;
      while (in >> opt) {
        const auto eq = opt.find('=');
        if (eq == std::string::npos) return bad("peer option " + opt);
        const std::string k = opt.substr(0, eq), v = opt.substr(eq + 1);
        if (k == "keys") {
          for (auto& x : split(v, ',')) p.keys.push_back(static_cast<uint8_t>(std::stoul(x)));
        } else if (k == "slots") {
          p.slots.clear();
          for (auto& x : split(v, ',')) p.slots.push_back(static_cast<uint8_t>(std::stoul(x)));
        } else if (k == "gen") {
          for (auto& x : split(v, ',')) {
            auto sg = split(x, ':');
            if (sg.size() != 2) return bad("gen=<slot>:<g>");
            p.generations[static_cast<uint8_t>(std::stoul(sg[0]))] = static_cast<uint8_t>(std::stoul(sg[1]));
          }
        } else if (k == "rx") {
          p.rx_slot = static_cast<uint8_t>(std::stoul(v));
        } else if (k == "dst") {
          for (auto& x : split(v, ',')) {
            auto d = IpPrefix::parse(x);
            if (!d) return bad("bad peer dst " + x);
            p.dsts.push_back(*d);
          }
        } else {
          return bad("peer option " + k);
        }
      }
      c.peers.push_back(std::move(p));
    } else {
      return bad("unknown item " + kw);
    }
  }
  if (c.local.id == 0) return fail(EINVAL, "parse config", path, "no node line");
  return c;
}

// IFF_UP of a device in this namespace; nullopt when it does not exist.
std::optional<bool> link_up(const std::string& ifname) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  ifreq r{};
  std::snprintf(r.ifr_name, sizeof r.ifr_name, "%s", ifname.c_str());
  const int rc = ::ioctl(fd, SIOCGIFFLAGS, &r);
  ::close(fd);
  if (rc != 0) return std::nullopt;
  return (r.ifr_flags & IFF_UP) != 0;
}

time_t mtime(const std::string& p) {
  struct stat st{};
  return ::stat(p.c_str(), &st) == 0 ? st.st_mtim.tv_sec * 1000000000L + st.st_mtim.tv_nsec : 0;
}

void write_status(const std::string& path, const fallback::ModeBook& modes, const fallback::DecisionLog& log,
                  const ReconcileResult& last, const keys::KeySet& keys, const std::vector<PeerNode>& peers) {
  if (path.empty()) return;
  const std::string tmp = path + ".tmp";
  std::ofstream f(tmp);
  for (const auto& [n, s] : modes.slots())
    f << "slot " << int(n) << " dev " << s.dev.name << " mode " << xfrm::to_string(s.mode) << " up " << s.up
      << " generation " << int(s.generation) << "\n";
  for (int r = 0; r < static_cast<int>(fallback::Reason::count_); ++r)
    f << "count " << fallback::to_string(static_cast<fallback::Reason>(r)) << " "
      << log.count(static_cast<fallback::Reason>(r)) << "\n";
  for (const auto& k : keys.keys) f << "key " << k.describe() << "\n";  // never the bytes
  for (const auto& p : peers) {
    auto it = last.installed_keys.find(p.id);
    f << "peer " << p.id << " tx-key "
      << int(tx_key(keys, p, it == last.installed_keys.end() ? std::vector<uint8_t>{} : it->second)) << "\n";
  }
  for (const auto& d : log.entries()) f << "decision " << d.str() << "\n";
  f.close();
  std::rename(tmp.c_str(), path.c_str());
}

int run(int argc, char** argv) {
  if (argc < 3) return 2;
  const std::string cfg_path = argv[2];
  bool once = false;
  std::string status;
  int interval_ms = 200;
  for (int i = 3; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--once") once = true;
    else if (a == "--status" && i + 1 < argc) status = argv[++i];
    else if (a == "--interval-ms" && i + 1 < argc) interval_ms = std::atoi(argv[++i]);
    else return 2;
  }
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);

  auto kernel = make_netlink_kernel();
  if (!kernel) {
    std::fprintf(stderr, "xfrm-node: %s\n", kernel.error().message().c_str());
    return 1;
  }
  auto route_kernel = make_netlink_route_kernel();
  if (!route_kernel) {
    std::fprintf(stderr, "xfrm-node: %s\n", route_kernel.error().message().c_str());
    return 1;
  }
  fallback::DecisionLog log;
  fallback::ModeBook modes(log);
  Reconciler rec(**kernel, modes);
  RouteReconciler routes(**route_kernel);
  Config cfg;
  keys::KeySet keys;
  time_t cfg_mtime = -1, keys_mtime = -1;
  uint64_t logged = 0;
  bool have_cfg = false, have_keys = false;
  int failures = 0;
  for (;;) {
    const uint64_t now = now_s();
    if (mtime(cfg_path) != cfg_mtime) {
      cfg_mtime = mtime(cfg_path);
      auto c = parse_config(cfg_path);
      if (!c) {
        std::printf("config rejected, keeping the running one: %s\n", c.error().message().c_str());
      } else {
        cfg = std::move(*c);
        have_cfg = true;
        rec.grace_seconds = cfg.grace;
        for (const auto& s : cfg.slots) {
          const int ifx = static_cast<int>(if_nametoindex(s.ifname.c_str()));
          if (!modes.slot(s.slot) || modes.slot(s.slot)->dev.ifindex != ifx) {
            probe::DeviceReport stand_in;
            stand_in.ifindex = ifx;
            stand_in.name = s.ifname;
            stand_in.verdict = s.verdict;
            stand_in.reason = s.reason;
            stand_in.overridden = true;
            const auto probed = fallback::from_probe(s.slot, stand_in, now);
            modes.set_device(probed.device, now, probed.decision.detail);
          }
        }
        keys_mtime = -1;
      }
    }
    if (have_cfg && mtime(cfg.keys_path) != keys_mtime) {
      keys_mtime = mtime(cfg.keys_path);
      auto k = keys::load_key_file(cfg.keys_path);
      if (!k) {
        std::printf("key file rejected, the running keys stay in force: %s\n", k.error().message().c_str());
      } else {
        keys = std::move(*k);
        have_keys = true;
        std::printf("keys:");
        for (const auto& key : keys.keys) std::printf(" [%s]", key.describe().c_str());
        std::printf("\n");
      }
    }
    // (d): the kernel flushes a device's offloaded states when it goes down.
    for (const auto& s : cfg.slots) {
      auto up = link_up(s.ifname);
      if (!up) continue;
      if (!*up) modes.link_down(s.slot, now);
      else modes.link_up(s.slot, now);
    }
    if (have_cfg && have_keys) {
      ReconcileInput in{cfg.local, cfg.peers, &keys, cfg.opts};
      auto r = rec.reconcile(in, now);
      if (!r) {
        std::printf("reconcile failed: %s\n", r.error().message().c_str());
        ++failures;
      } else {
        if (r->changes() || !r->errors.empty())
          std::printf("reconcile: +%zu states -%zu states, +%zu ~%zu -%zu policies, %zu software retries, "
                      "%zu retiring, %zu foreign states, %zu foreign policies, %zu batches, %zu resyncs\n",
                      r->states_added, r->states_deleted, r->policies_added, r->policies_updated,
                      r->policies_deleted, r->software_retries, r->retiring, r->foreign_states,
                      r->foreign_policies, r->batches, r->resyncs);
        for (const auto& e : r->errors) std::printf("refused: %s\n", e.message().c_str());
      }
      // The slot tables: the route lookup with each state's output mark leaves
      // by the slot's device (offload/route_reconciler.h).
      auto rr = routes.reconcile({&modes, cfg.routes});
      if (!rr) {
        std::printf("slot routes failed: %s\n", rr.error().message().c_str());
        ++failures;
      } else {
        if (rr->changes())
          std::printf("slot routes: +%zu -%zu rules, +%zu ~%zu -%zu routes, %zu foreign rules, %zu foreign routes\n",
                      rr->rules_added, rr->rules_deleted, rr->routes_added, rr->routes_replaced, rr->routes_deleted,
                      rr->foreign_rules, rr->foreign_routes);
        for (const auto& e : rr->errors) std::printf("refused: %s\n", e.message().c_str());
      }
      if (r) {
        write_status(status, modes, log, *r, keys, cfg.peers);
      }
      for (const auto* d : log.since(logged)) std::printf("decision: %s\n", d->str().c_str());
      std::fflush(stdout);
      if (once) return r && rr ? 0 : 1;
    } else if (once) {
      return 1;
    }
    if (g_stop) return failures ? 1 : 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
    if (g_stop) return failures ? 1 : 0;
  }
}

}  // namespace
}  // namespace sealnet::offload

int main(int argc, char** argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  int rc = 2;
  if (cmd == "run") rc = sealnet::offload::run(argc, argv);
  else if (cmd == "bench") rc = sealnet::offload::cpbench::run(argc, argv);
  if (rc == 2)
    std::fprintf(stderr,
                 "usage: sealnet-xfrm-node run CONFIG [--once] [--status PATH] [--interval-ms N]\n"
                 "       sealnet-xfrm-node bench [--peers N] [--keys K] [--rounds R] [--selectors per-peer|cluster] "
                 "[--dir TMPDIR]\n");
  return rc;
}
