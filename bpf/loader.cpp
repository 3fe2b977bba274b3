#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <sys/socket.h>

#include <cstring>
#include <utility>

#include "bpf/programs.h"
#include "sealnet_bpf.skel.h"

namespace sealnet::bpf {

namespace {

Status map_status(int rc, const char* op, const bpf_map* map) {
  if (rc == 0) return {};
  return fail(-rc, op, std::string("map ") + bpf_map__name(map));
}

}  // namespace

Result<Datapath> Datapath::load(const LoadOptions& opts) {
  LIBBPF_OPTS(bpf_object_open_opts, open_opts);
  if (!opts.pin_dir.empty()) open_opts.pin_root_path = opts.pin_dir.c_str();
  sealnet_bpf* skel = sealnet_bpf__open_opts(&open_opts);
  if (!skel) return fail_errno("open BPF object", "sealnet_bpf");
  Datapath dp(skel);
  if (opts.pin_dir.empty()) {
    bpf_map* map;
    bpf_object__for_each_map(map, skel->obj) bpf_map__set_pin_path(map, nullptr);
  }
  if (int rc = sealnet_bpf__load(skel); rc != 0)
    return fail(-rc, "load BPF programs", "sealnet_bpf", "the kernel verifier or map creation refused them; run with LIBBPF_LOG=debug for the log");
  return dp;
}

Datapath::Datapath(Datapath&& o) noexcept : skel_(std::exchange(o.skel_, nullptr)) {}
Datapath& Datapath::operator=(Datapath&& o) noexcept {
  if (this != &o) {
    if (skel_) sealnet_bpf__destroy(skel_);
    skel_ = std::exchange(o.skel_, nullptr);
  }
  return *this;
}
Datapath::~Datapath() {
  if (skel_) sealnet_bpf__destroy(skel_);
}

int Datapath::prog_fd(Program p) const {
  switch (p) {
    case Program::ToWire: return bpf_program__fd(skel_->progs.to_wire);
  }
  return -1;
}

Status Datapath::set_config(const sealnet_config& cfg) {
  const uint32_t zero = 0;
  auto* m = skel_->maps.sealnet_config;
  return map_status(bpf_map__update_elem(m, &zero, sizeof zero, &cfg, sizeof cfg, BPF_ANY),
                    "update", m);
}

sealnet_ipcache_key ipcache_key(const IpPrefix& prefix) {
  sealnet_ipcache_key k{};
  k.prefixlen = SEALNET_IPCACHE_FAMILY_BITS + prefix.len;
  k.family = prefix.addr.family;
  std::memcpy(k.addr, prefix.addr.bytes.data(), prefix.addr.size());
  return k;
}

Status Datapath::upsert_ipcache(const IpPrefix& prefix, const sealnet_ipcache_value& v) {
  const auto k = ipcache_key(prefix);
  auto* m = skel_->maps.sealnet_ipcache;
  return map_status(bpf_map__update_elem(m, &k, sizeof k, &v, sizeof v, BPF_ANY), "update", m);
}

Status Datapath::delete_ipcache(const IpPrefix& prefix) {
  const auto k = ipcache_key(prefix);
  auto* m = skel_->maps.sealnet_ipcache;
  return map_status(bpf_map__delete_elem(m, &k, sizeof k, 0), "delete", m);
}

Status Datapath::upsert_node(uint32_t node_id, const sealnet_node_value& v) {
  auto* m = skel_->maps.sealnet_nodes;
  return map_status(bpf_map__update_elem(m, &node_id, sizeof node_id, &v, sizeof v, BPF_ANY),
                    "update", m);
}

Status Datapath::delete_node(uint32_t node_id) {
  auto* m = skel_->maps.sealnet_nodes;
  return map_status(bpf_map__delete_elem(m, &node_id, sizeof node_id, 0), "delete", m);
}

Status Datapath::upsert_device(uint32_t ifindex, const sealnet_device_value& v) {
  auto* m = skel_->maps.sealnet_devices;
  return map_status(bpf_map__update_elem(m, &ifindex, sizeof ifindex, &v, sizeof v, BPF_ANY),
                    "update", m);
}

Status Datapath::delete_device(uint32_t ifindex) {
  auto* m = skel_->maps.sealnet_devices;
  return map_status(bpf_map__delete_elem(m, &ifindex, sizeof ifindex, 0), "delete", m);
}

Result<Metrics> Datapath::metrics() const {
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return fail(-ncpu, "count possible CPUs");
  std::vector<sealnet_metric_value> per_cpu(static_cast<size_t>(ncpu));
  Metrics out{};
  auto* m = skel_->maps.sealnet_metrics;
  for (uint32_t i = 0; i < SEALNET_M_COUNT; ++i) {
    const int rc = bpf_map__lookup_elem(m, &i, sizeof i, per_cpu.data(),
                                        per_cpu.size() * sizeof(sealnet_metric_value), 0);
    if (rc != 0) return std::unexpected(map_status(rc, "lookup", m).error());
    for (const auto& v : per_cpu) {
      out[i].packets += v.packets;
      out[i].bytes += v.bytes;
    }
  }
  return out;
}

Result<TestRun> test_run(int prog_fd, const TestRunInput& in) {
  __sk_buff ctx{};
  ctx.ifindex = in.ifindex;
  ctx.ingress_ifindex = in.ifindex;
  ctx.mark = in.mark;
  std::vector<uint8_t> out(in.packet.size() + 256);
  LIBBPF_OPTS(bpf_test_run_opts, opts);
  opts.data_in = in.packet.data();
  opts.data_size_in = static_cast<uint32_t>(in.packet.size());
  opts.data_out = out.data();
  opts.data_size_out = static_cast<uint32_t>(out.size());
  opts.ctx_in = &ctx;
  opts.ctx_size_in = sizeof ctx;
  opts.ctx_out = &ctx;
  opts.ctx_size_out = sizeof ctx;
  opts.repeat = in.repeat;
  if (int rc = bpf_prog_test_run_opts(prog_fd, &opts); rc != 0)
    return fail(-rc, "BPF_PROG_TEST_RUN", "prog fd " + std::to_string(prog_fd));
  return TestRun{static_cast<int>(opts.retval), ctx.mark, opts.duration};
}

}  // namespace sealnet::bpf
