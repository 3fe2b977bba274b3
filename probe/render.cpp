#include "probe/render.h"

#include <algorithm>
#include <cstring>
#include <sstream>

namespace sealnet::probe {

using json = nlohmann::ordered_json;

namespace {

json opt(const std::optional<bool>& b) { return b ? json(*b) : json(nullptr); }

json feature(const std::optional<FeatureState>& f) {
  if (!f) return nullptr;
  return {{"active", f->active}, {"wanted", f->wanted}, {"changeable", f->changeable}, {"fixed", f->fixed}};
}

json availability(const Availability& a) {
  return {{"available", a.available}, {"reason", a.reason}, {"evidence", a.evidence}};
}

}  // namespace

json to_json(const TrialOutcome& t) {
  json j = {{"algorithm", t.spec.alg.name},
            {"key_bits", t.spec.alg.key_bits},
            {"icv_bits", t.spec.alg.icv_bits},
            {"null_cipher", t.spec.null_cipher},
            {"mode", xfrm::to_string(t.spec.mode)},
            {"dir", xfrm::to_string(t.spec.dir)},
            {"added", t.added},
            {"errno", t.err},
            {"error", t.err ? json(std::strerror(t.err)) : json(nullptr)},
            {"extack", t.extack.empty() ? json(nullptr) : json(t.extack)},
            {"attached", t.attached()},
            {"removed", t.removed}};
  if (t.readback)
    j["readback"] = {{"ifindex", t.readback->ifindex},
                     {"mode", xfrm::to_string(t.readback->mode())},
                     {"dir", xfrm::to_string(t.readback->dir())}};
  else
    j["readback"] = nullptr;
  return j;
}

json to_json(const DeviceReport& d) {
  json trials = json::array();
  for (const auto& t : d.trials) trials.push_back(to_json(t));
  return {{"ifindex", d.ifindex},
          {"name", d.name},
          {"kind", d.kind},
          {"driver", d.driver.driver},
          {"bus_info", d.driver.bus_info},
          {"driver_version", d.driver.version},
          {"firmware", d.driver.firmware},
          {"up", d.up},
          {"carrier", d.carrier},
          {"operstate", d.operstate},
          {"mtu", d.mtu},
          {"speed_mbps", d.speed_mbps ? json(*d.speed_mbps) : json(nullptr)},
          {"lower", d.lower},
          {"master", d.master ? json(*d.master) : json(nullptr)},
          {"features",
           {{"esp-hw-offload", feature(d.features.hw_offload)},
            {"esp-tx-csum-hw-offload", feature(d.features.tx_csum)},
            {"tx-esp-segmentation", feature(d.features.segmentation)}}},
          {"features_error", d.features_error.empty() ? json(nullptr) : json(d.features_error)},
          {"trialled", d.trialled},
          {"trials", trials},
          {"verdict", to_string(d.verdict)},
          {"reason", d.reason},
          {"overridden", d.overridden}};
}

json to_json(const ProbeReport& r) {
  const NodeFacts& n = r.node;
  json node_trials = json::array();
  for (const auto& t : n.trials) node_trials.push_back(to_json(t));
  json devices = json::array();
  for (const auto& d : r.devices) devices.push_back(to_json(d));
  return {{"schema", "sealnet-probe"},
          {"version", ProbeReport::kSchemaVersion},
          {"node",
           {{"kernel", n.kernel_release},
            {"netns", n.netns.empty() ? json(nullptr) : json(n.netns)},
            {"can_encrypt", n.can_encrypt()},
            {"esp", availability(n.esp)},
            {"aes_gcm", availability(n.aes_gcm)},
            {"esp_offload_loaded", opt(n.esp_offload_loaded)},
            {"forwarding", {{"ipv4", opt(n.ipv4_forwarding)}, {"ipv6", opt(n.ipv6_forwarding)}}},
            {"leftovers_removed", n.leftovers_removed},
            {"trials", node_trials}}},
          {"devices", devices}};
}

namespace {

std::string onoff(const std::optional<bool>& b) { return b ? (*b ? "on" : "off") : "unknown"; }

std::string flag_cell(const std::optional<FeatureState>& f, const std::string& err) {
  if (!err.empty()) return "?";
  if (!f) return "n/a";
  std::string s = f->active ? "on" : "off";
  if (f->fixed) s += " [fixed]";
  return s;
}

}  // namespace

std::string render_table(const ProbeReport& r) {
  const NodeFacts& n = r.node;
  std::ostringstream o;
  o << "Node: kernel " << (n.kernel_release.empty() ? "?" : n.kernel_release) << ", namespace "
    << (n.netns.empty() ? "(current)" : n.netns) << "\n";
  o << "  ESP         " << (n.esp.available ? "yes" : "NO ") << "  " << n.esp.reason << "\n";
  o << "  AES-GCM     " << (n.aes_gcm.available ? "yes" : "NO ") << "  " << n.aes_gcm.reason << "\n";
  o << "  forwarding  ipv4 " << onoff(n.ipv4_forwarding) << ", ipv6 " << onoff(n.ipv6_forwarding);
  if (n.ipv4_forwarding && !*n.ipv4_forwarding)
    o << " (bpf_fib_lookup needs ipv4 forwarding on: sysctl net.ipv4.ip_forward=1)";
  o << "\n";
  if (n.leftovers_removed) o << "  removed " << n.leftovers_removed << " trial SAs left by an earlier run\n";
  if (!n.can_encrypt())
    o << "  => sealnet cannot encrypt here: "
      << (n.esp.available ? "the kernel has no AES-GCM for ESP" : "the kernel cannot do ESP")
      << " (needs esp4 and rfc4106(gcm(aes)); on a modular kernel: modprobe -a esp4 xfrm_user "
         "gcm)\n";
  o << "\n";

  struct Row {
    std::string cells[8];
  };
  std::vector<Row> rows;
  rows.push_back({{"DEVICE", "IDX", "KIND", "DRIVER", "STATE", "MTU", "ESP-HW-OFFLOAD", "VERDICT"}});
  for (const auto& d : r.devices)
    rows.push_back(
        {{d.name, std::to_string(d.ifindex), d.kind, d.driver.driver.empty() ? "-" : d.driver.driver,
          std::string(d.up ? "up" : "down") + (d.speed_mbps ? "/" + std::to_string(*d.speed_mbps) + "M" : ""),
          std::to_string(d.mtu), flag_cell(d.features.hw_offload, d.features_error), to_string(d.verdict)}});
  size_t width[8] = {};
  for (const auto& row : rows)
    for (size_t i = 0; i < 8; ++i) width[i] = std::max(width[i], row.cells[i].size());
  for (size_t k = 0; k < rows.size(); ++k) {
    std::string line;
    for (size_t i = 0; i < 8; ++i) {
      line += rows[k].cells[i];
      if (i + 1 < 8) line += std::string(width[i] - rows[k].cells[i].size() + 2, ' ');
    }
    line.erase(line.find_last_not_of(' ') + 1);
    o << line << "\n";
    if (k > 0) {
      const auto& d = r.devices[k - 1];
      o << "    " << d.reason << "\n";
      if (!d.lower.empty()) {
        o << "    lower:";
        for (const auto& l : d.lower) o << " " << l;
        o << "\n";
      }
    }
  }
  return o.str();
}

}  // namespace sealnet::probe
