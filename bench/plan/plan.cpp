#include "bench/plan/plan.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace sealnet::plan {

namespace {

constexpr double kUnbounded = std::numeric_limits<double>::infinity();

std::string fmt(double v, int digits = 1) {
  if (std::isinf(v)) return "unbounded";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// Inner bytes per wire packet of `mtu` bytes, in bits, over the time one core
// spends on it: Gbit/s is bits per nanosecond.
double per_core_gbps(int mtu, double ns_per_packet) {
  return (mtu - kEspOverhead) * 8.0 / ns_per_packet;
}

}  // namespace

const char* to_string(Mode m) {
  switch (m) {
    case Mode::packet_offload: return "packet-offload";
    case Mode::crypto_offload: return "crypto-offload";
    case Mode::software: return "software";
  }
  return "?";
}

Result<std::vector<Device>> devices_from_probe(const nlohmann::json& probe) {
  if (!probe.is_object() || probe.value("schema", "") != "sealnet-probe")
    return fail(0, "read probe report", {}, "not a `sealnet probe --json` report (no \"schema\": \"sealnet-probe\")");
  if (probe.value("version", 0) != 1)
    return fail(0, "read probe report", {}, "schema version " + probe.value("version", nlohmann::json()).dump() +
                                                 " is not one this planner reads (1)");
  std::vector<Device> out;
  for (const auto& d : probe.value("devices", nlohmann::json::array())) {
    if (d.value("kind", "") == "loopback" || !d.value("up", false)) continue;
    Device dev;
    dev.name = d.value("name", "?");
    const std::string v = d.value("verdict", "software");
    dev.mode = v == "packet-offload" ? Mode::packet_offload
               : v == "crypto-offload" ? Mode::crypto_offload
                                        : Mode::software;
    dev.reason = d.value("reason", "");
    if (d.contains("speed_mbps") && d["speed_mbps"].is_number()) dev.line_gbps = d["speed_mbps"].get<double>() / 1000;
    out.push_back(std::move(dev));
  }
  return out;
}

std::string node_warning_from_probe(const nlohmann::json& probe) {
  const auto node = probe.value("node", nlohmann::json::object());
  if (node.value("can_encrypt", true)) return {};
  std::string why;
  for (const char* fact : {"esp", "aes_gcm"}) {
    const auto f = node.value(fact, nlohmann::json::object());
    if (!f.value("available", true)) why += (why.empty() ? "" : "; ") + f.value("reason", std::string(fact));
  }
  return "the probed node cannot encrypt at all (" + why + "): the numbers below are for the same hardware "
         "with a kernel that has ESP and AES-GCM";
}

double software_gbps_per_core(const Assumptions& a, int mtu) {
  const double ns_per_byte = 8.0 / a.aes_gcm_gbps_per_core;
  return per_core_gbps(mtu, a.esp_fixed_ns + mtu * ns_per_byte);
}

DevicePlan plan_device(const Device& d, const Assumptions& a) {
  DevicePlan p;
  p.device = d;
  p.line_gbps = d.line_gbps > 0 ? d.line_gbps : a.nic_gbps;
  p.goodput_ceiling = p.line_gbps > 0
                          ? p.line_gbps * (a.mtu - kEspOverhead) / double(a.mtu + kEthernetOverhead)
                          : kUnbounded;
  p.sa_needed = 2 * a.peers * a.keys_in_flight;
  p.sw_gbps_per_core = software_gbps_per_core(a, a.mtu);

  if (d.mode != Mode::software) {
    p.offloaded_peers = a.nic_sa_table > 0 ? std::min(a.peers, a.nic_sa_table / (2 * a.keys_in_flight)) : a.peers;
  }
  p.offloaded_share = a.peers > 0 ? double(p.offloaded_peers) / a.peers : 0;
  const double f = p.offloaded_share;

  // One SA is decrypted on one core (RSS cannot spread one SPI), so software
  // ESP uses at most as many cores as there are peers on it.
  const int sw_peers = a.peers - p.offloaded_peers;
  const double sw_cap = std::min(a.cores, sw_peers) * p.sw_gbps_per_core;
  // Crypto offload: the NIC does AES-GCM, the CPU still does the rest of ESP.
  const double crypto_per_core = per_core_gbps(a.mtu, a.esp_fixed_ns);
  const double crypto_cap = std::min(a.cores, p.offloaded_peers) * crypto_per_core;

  double t = p.goodput_ceiling;
  p.limit = p.line_gbps > 0 ? "line rate" : "line rate unknown (pass --nic-gbps)";
  if (f < 1 && sw_cap / (1 - f) < t) {
    t = sw_cap / (1 - f);
    p.limit = f > 0 ? "CPU for the peers beyond the NIC's SA table" : "CPU (software ESP)";
    if (sw_peers < a.cores) p.limit += ", one core per peer's SA";
  }
  if (d.mode == Mode::crypto_offload && f > 0 && crypto_cap / f < t) {
    t = crypto_cap / f;
    p.limit = "CPU (ESP framing around the NIC's crypto)";
  }
  p.throughput_gbps = t;

  const double rate = a.target_gbps > 0 ? std::min(a.target_gbps, t) : t;
  if (!std::isinf(rate)) {
    p.cores_at_target = (1 - f) * rate / p.sw_gbps_per_core;
    if (d.mode == Mode::crypto_offload) p.cores_at_target += f * rate / crypto_per_core;
  }
  return p;
}

NodePlan plan_node(const std::vector<Device>& devices, const Assumptions& a) {
  NodePlan n{a, {}, {}};
  for (const auto& d : devices) n.devices.push_back(plan_device(d, a));
  return n;
}

// ------------------------------------------------------------------ charts --

namespace {

struct Series {
  std::string name;
  std::string color;
  std::vector<std::pair<double, double>> points;
};

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) o += c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '&' ? "&amp;" : std::string(1, c);
  return o;
}

std::string line_chart(const std::string& title, const std::string& xlabel, const std::string& ylabel,
                       const std::vector<Series>& series, bool log_x) {
  constexpr double W = 720, H = 420, L = 70, R = 190, T = 40, B = 60;
  double xmin = kUnbounded, xmax = -kUnbounded, ymax = 0;
  for (const auto& s : series)
    for (auto [x, y] : s.points) {
      xmin = std::min(xmin, x);
      xmax = std::max(xmax, x);
      if (!std::isinf(y)) ymax = std::max(ymax, y);
    }
  if (ymax <= 0) ymax = 1;
  ymax *= 1.1;
  auto tx = [&](double x) {
    const double u = log_x ? (std::log10(x) - std::log10(xmin)) / (std::log10(xmax) - std::log10(xmin))
                           : (x - xmin) / (xmax - xmin);
    return L + u * (W - L - R);
  };
  auto ty = [&](double y) { return H - B - std::min(y, ymax) / ymax * (H - T - B); };
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + fmt(W, 0) + "\" height=\"" + fmt(H, 0) +
                  "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s += "<text x=\"" + fmt(W / 2, 0) + "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" + esc(title) + "</text>\n";
  for (int i = 0; i <= 5; ++i) {  // y grid
    const double y = ymax / 1.1 * i / 5;
    s += "<line x1=\"" + fmt(L, 0) + "\" x2=\"" + fmt(W - R, 0) + "\" y1=\"" + fmt(ty(y)) + "\" y2=\"" + fmt(ty(y)) +
         "\" stroke=\"#ddd\"/>\n";
    s += "<text x=\"" + fmt(L - 6, 0) + "\" y=\"" + fmt(ty(y) + 4) + "\" text-anchor=\"end\">" + fmt(y) + "</text>\n";
  }
  for (const auto& [x, y] : series.front().points) {  // x ticks at the first series' points
    (void)y;
    s += "<text x=\"" + fmt(tx(x)) + "\" y=\"" + fmt(H - B + 18, 0) + "\" text-anchor=\"middle\">" + fmt(x, 0) +
         "</text>\n";
  }
  s += "<line x1=\"" + fmt(L, 0) + "\" x2=\"" + fmt(W - R, 0) + "\" y1=\"" + fmt(H - B, 0) + "\" y2=\"" +
       fmt(H - B, 0) + "\" stroke=\"black\"/>\n";
  s += "<line x1=\"" + fmt(L, 0) + "\" x2=\"" + fmt(L, 0) + "\" y1=\"" + fmt(T, 0) + "\" y2=\"" + fmt(H - B, 0) +
       "\" stroke=\"black\"/>\n";
  s += "<text x=\"" + fmt((L + W - R) / 2, 0) + "\" y=\"" + fmt(H - 18, 0) + "\" text-anchor=\"middle\">" +
       esc(xlabel) + "</text>\n";
  s += "<text transform=\"translate(18," + fmt((T + H - B) / 2, 0) + ") rotate(-90)\" text-anchor=\"middle\">" +
       esc(ylabel) + "</text>\n";
  int row = 0;
  for (const auto& ser : series) {
    std::string pts;
    for (auto [x, y] : ser.points) pts += fmt(tx(x)) + "," + fmt(ty(y)) + " ";
    s += "<polyline fill=\"none\" stroke=\"" + ser.color + "\" stroke-width=\"2.5\" points=\"" + pts + "\"/>\n";
    const double ly = T + 20 + 22 * row++;
    s += "<line x1=\"" + fmt(W - R + 15, 0) + "\" x2=\"" + fmt(W - R + 40, 0) + "\" y1=\"" + fmt(ly) + "\" y2=\"" +
         fmt(ly) + "\" stroke=\"" + ser.color + "\" stroke-width=\"2.5\"/>\n";
    s += "<text x=\"" + fmt(W - R + 46, 0) + "\" y=\"" + fmt(ly + 4) + "\">" + esc(ser.name) + "</text>\n";
  }
  return s + "</svg>\n";
}

const std::pair<Mode, const char*> kModes[] = {
    {Mode::packet_offload, "#1b9e77"}, {Mode::crypto_offload, "#7570b3"}, {Mode::software, "#d95f02"}};

}  // namespace

Report render(const NodePlan& plan) {
  const Assumptions& a = plan.in;
  Report r;
  std::string& m = r.markdown;
  m += "# sealnet capacity plan\n\n";
  if (!plan.node_warning.empty()) m += "**Warning:** " + plan.node_warning + ".\n\n";
  m += "Inputs: " + std::to_string(a.cores) + " cores for ESP, " + std::to_string(a.peers) + " peers, MTU " +
       std::to_string(a.mtu) + ", " + std::to_string(a.keys_in_flight) + " keys in flight, NIC SA table " +
       (a.nic_sa_table > 0 ? std::to_string(a.nic_sa_table) : std::string("unknown (unbounded)")) +
       (a.target_gbps > 0 ? ", CPU cost at " + fmt(a.target_gbps) + " Gbit/s" : std::string()) + ".\n\n";
  m += "| device | mode | line Gbit/s | predicted Gbit/s | bounded by | offloaded peers | SAs on the device | "
       "cores busy |\n|---|---|---|---|---|---|---|---|\n";
  double total = 0;
  for (const auto& d : plan.devices) {
    m += "| " + d.device.name + " | " + to_string(d.device.mode) + " | " +
         (d.line_gbps > 0 ? fmt(d.line_gbps) : std::string("?")) + " | " + fmt(d.throughput_gbps) + " | " + d.limit +
         " | " + std::to_string(d.offloaded_peers) + " of " + std::to_string(a.peers) + " | " +
         std::to_string(d.sa_needed) + " | " + fmt(d.cores_at_target, 2) + " |\n";
    if (!std::isinf(d.throughput_gbps)) total += d.throughput_gbps;
  }
  m += "\nNode: up to " + fmt(total) + " Gbit/s of encrypted goodput over all devices together (each device "
       "planned with all cores; devices sharing cores share the software part).\n\n";
  for (const auto& d : plan.devices)
    if (!d.device.reason.empty()) m += "- `" + d.device.name + "`: " + d.device.reason + "\n";

  // Charts for one device of this node's line rate, in each mode.
  const double line = !plan.devices.empty() && plan.devices.front().line_gbps > 0 ? plan.devices.front().line_gbps
                                                                                  : (a.nic_gbps > 0 ? a.nic_gbps : 25);
  std::vector<Series> by_mtu, by_peers;
  for (auto [mode, color] : kModes) {
    Series s1{to_string(mode), color, {}}, s2{to_string(mode), color, {}};
    for (int mtu : {576, 1500, 3000, 4500, 6000, 9000}) {
      Assumptions b = a;
      b.mtu = mtu;
      s1.points.emplace_back(mtu, plan_device({"", mode, "", line}, b).throughput_gbps);
    }
    for (int peers : {1, 4, 16, 64, 256, 1024, 5000}) {
      Assumptions b = a;
      b.peers = peers;
      s2.points.emplace_back(peers, plan_device({"", mode, "", line}, b).throughput_gbps);
    }
    by_mtu.push_back(std::move(s1));
    by_peers.push_back(std::move(s2));
  }
  r.charts.emplace_back("throughput-vs-mtu.svg",
                        line_chart("Encrypted goodput vs MTU (" + fmt(line) + " Gbit/s NIC, " + std::to_string(a.cores) +
                                       " cores, " + std::to_string(a.peers) + " peers)",
                                   "MTU (bytes)", "Gbit/s", by_mtu, false));
  r.charts.emplace_back("throughput-vs-peers.svg",
                        line_chart("Encrypted goodput vs peers (" + fmt(line) + " Gbit/s NIC, MTU " +
                                       std::to_string(a.mtu) + ", SA table " +
                                       (a.nic_sa_table > 0 ? std::to_string(a.nic_sa_table) : std::string("unbounded")) +
                                       ")",
                                   "peers (log scale)", "Gbit/s", by_peers, true));
  m += "\n![throughput vs MTU](throughput-vs-mtu.svg)\n\n![throughput vs peers](throughput-vs-peers.svg)\n";

  m += "\n## Model\n\n";
  m += "- Goodput ceiling: line rate x (MTU - " + std::to_string(kEspOverhead) + ") / (MTU + " +
       std::to_string(kEthernetOverhead) + "): ESP tunnel overhead (IPv4, AES-GCM-128) and Ethernet framing taken off.\n";
  m += "- Software ESP, one core: (MTU - " + std::to_string(kEspOverhead) + ") x 8 bits per (" + fmt(a.esp_fixed_ns, 0) +
       " ns fixed + MTU x 8 / " + fmt(a.aes_gcm_gbps_per_core) + " Gbit/s AES-GCM) = " +
       fmt(software_gbps_per_core(a, a.mtu), 2) + " Gbit/s at MTU " + std::to_string(a.mtu) +
       ". Replace the AES-GCM rate with `bench_crypto` on the target machine and the fixed part with a measured one.\n";
  m += "- One SA is decrypted on one core: software ESP uses at most min(cores, peers) cores.\n";
  m += "- Crypto offload: the NIC does AES-GCM; the CPU still pays the fixed part per packet.\n";
  m += "- Packet offload: the NIC does all of ESP; bounded by line rate and its SA table.\n";
  m += "- SA table: each peer needs in + out states for every key in flight (" + std::to_string(2 * a.keys_in_flight) +
       " per peer); peers beyond the table fall back to software and share the CPU.\n";
  m += "- Traffic is assumed spread evenly over peers.\n";
  return r;
}

}  // namespace sealnet::plan
