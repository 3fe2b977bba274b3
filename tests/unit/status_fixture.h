// A realistic agent status for the metrics' tests (unit and host): many peers
// over three uplinks (packet offload, crypto offload and software), two keys live (a rotation
// half done: the old key's states still count), some peers without a key or a
// route, drops by reason; its counters made by a TrafficBook over two looks.
#pragma once

#include <string>

#include "datapath/status/model.h"
#include "datapath/status/traffic.h"

namespace sealnet::status::testing {

inline constexpr const char* kFixtureDropReasons[] = {
    "malformed",  "unknown-node",        "no-key",          "unknown-device",
    "fib-failed", "plaintext-to-remote", "node-no-address", "host-misrouted"};

// Peer i's mode and the device its states are offloaded to ("" for software).
inline std::string fixture_mode(size_t i) { return i % 2 ? "software" : i % 4 == 0 ? "crypto" : "packet"; }
inline std::string fixture_device(size_t i) { return i % 2 ? "" : i % 4 == 0 ? "eth1" : "eth2"; }

// One look at the kernel: `look` 0 before the rotation, 1 after it (the old
// key's outbound states are gone, new ones count).
inline AgentStatus fixture_look(size_t n_peers, int look) {
  AgentStatus s;
  s.node_name = "node-1";
  s.node_id = 1;
  s.node_addresses = {"192.168.50.1"};
  s.started_at = 1'790'000'000;
  s.now = s.started_at + 3600 + static_cast<uint64_t>(look) * 60;
  s.ready = true;
  s.reconciles = 100 + static_cast<uint64_t>(look);
  s.tx_key = 4;
  s.keys = {{3, "rfc4106(gcm(aes))", 128, 128, true, 7200}, {4, "rfc4106(gcm(aes))", 128, 128, true, 60}};
  s.devices = {{"eth1", 3, 1, true, "crypto-offload", "netdevsim: crypto offload", "crypto", 2, 0},
               {"eth2", 4, 2, true, "packet-offload", "mlx5: packet offload", "packet", 1, 0},
               {"eth0", 2, 0, true, "software", "no esp-hw-offload feature", "software", 0, 0}};
  for (size_t i = 0; i < n_peers; ++i) {
    PeerStatus p;
    p.id = static_cast<uint16_t>(i + 2);
    p.name = "node-" + std::to_string(i + 2);
    p.address = "192.168." + std::to_string(50 + i / 250) + "." + std::to_string(i % 250 + 2);
    const std::string mode = fixture_mode(i);
    const bool offloaded = mode != "software";
    const bool routeless = i % 97 == 5;
    const std::string dev = fixture_device(i);
    p.device = routeless ? "" : offloaded ? dev : "eth0";
    p.slot = mode == "crypto" ? 1 : mode == "packet" ? 2 : 0;
    p.tx_key = i % 89 == 7 ? 0 : 4;
    p.peer_keys = {3, 4};
    p.keys_source = "observed";
    p.mode = routeless || p.tx_key == 0 ? "none" : mode;
    p.mode_reason = "probe: " + (offloaded ? mode + " offload" : std::string("no esp-hw-offload feature"));
    const uint64_t base = (i + 1) * 1000 * static_cast<uint64_t>(look + 1);
    const uint32_t out3 = 0x00010300u | p.slot << 12, out4 = 0x00010400u | p.slot << 12;
    const uint32_t in4 = static_cast<uint32_t>(p.id) << 16 | 0x0400u;
    if (look == 0) p.sas.push_back({out3, "out", 3, p.slot, 2, mode, dev, {base, base * 1400, 0, 0, 0}});
    p.sas.push_back(
        {out4,
         "out",
         4,
         p.slot,
         2,
         mode,
         dev,
         {base / 2 * static_cast<uint64_t>(look), base * 700 * static_cast<uint64_t>(look), 0, 0, 0}});
    p.sas.push_back({in4,
                     "in",
                     4,
                     1,
                     0,
                     mode,
                     dev,
                     {base, base * 1300, i % 13 == 0 ? 1u : 0u, i % 29 == 0 ? 2u : 0u, 0}});
    for (const auto& sa : p.sas) {
      auto& t = sa.dir == "out" ? p.out_total : p.in_total;
      t.packets += sa.counters.packets;
      t.bytes += sa.counters.bytes;
    }
    s.peers.push_back(std::move(p));
  }
  for (const char* r : kFixtureDropReasons) s.bpf_drop_reasons.push_back(r);
  s.bpf_packets = {{"mark-crypto", 5000}, {"mark-software", 4000},    {"no-key", 12},
                   {"fib-no-neigh", 3},   {"plaintext-to-remote", 2}, {"malformed", 0}};
  s.bpf_bytes = {{"mark-crypto", 7'000'000}, {"mark-software", 5'600'000}, {"no-key", 1200},
                 {"fib-no-neigh", 300},      {"plaintext-to-remote", 180}, {"malformed", 0}};
  s.xfrm_stat = {{"XfrmInError", 0}, {"XfrmInNoStates", 17}, {"XfrmOutNoStates", 0}};
  s.fallback_counts = {{"probe-verdict", 2}, {"sa-table-full", 3}, {"offload-refused", 0}};
  s.decisions = {"probe-verdict: slot 1 (eth1) software -> crypto: crypto offload"};
  s.discovery = {"static", true, "", n_peers};
  return s;
}

// Both looks through one TrafficBook: the second is what a scrape sees.
inline AgentStatus realistic_status(size_t n_peers) {
  TrafficBook book;
  AgentStatus before = fixture_look(n_peers, 0);
  book.account(before);
  AgentStatus s = fixture_look(n_peers, 1);
  book.account(s);
  return s;
}

// What sealnet_encrypted_bytes_total{device,mode} must say for realistic_status.
inline uint64_t realistic_encrypted_bytes(size_t n_peers, const std::string& device,
                                          const std::string& mode) {
  uint64_t sum = 0;
  for (size_t i = 0; i < n_peers; ++i) {
    const bool routeless = i % 97 == 5;
    const std::string dev = !fixture_device(i).empty() ? fixture_device(i) : routeless ? "none" : "eth0";
    if (dev != device || mode != fixture_mode(i)) continue;
    const uint64_t b0 = (i + 1) * 1000, b1 = (i + 1) * 2000;
    sum += b0 * 1400 + b1 * 700;  // the old key's state before it went, the new one after
  }
  return sum;
}

}  // namespace sealnet::status::testing
