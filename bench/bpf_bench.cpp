// ns/packet of sealnet's BPF programs through BPF_PROG_TEST_RUN (needs root).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include "bpf/packet.h"
#include "bpf/programs.h"

namespace sealnet::bpf {
namespace {

void BM_ToWireEsp(benchmark::State& state) {
  auto dp = Datapath::load({});
  if (!dp) {
    state.SkipWithError(dp.error().message().c_str());
    return;
  }
  (void)dp->upsert_ipcache(*IpPrefix::parse("192.0.2.1/32"), {1, SEALNET_IPCACHE_NODE_ADDR});
  (void)dp->upsert_ipcache(*IpPrefix::parse("192.0.2.2/32"), {2, SEALNET_IPCACHE_NODE_ADDR});
  (void)dp->set_config({.local_node_id = 1, .key_id = 1, .fail_closed = 1, .encrypt_host = 0, .pad = 0});
  const auto frame = PacketBuilder()
                         .ip(*IpAddr::parse("192.0.2.1"), *IpAddr::parse("192.0.2.2"))
                         .esp(0x100, 1)
                         .payload(1400)
                         .build();
  constexpr uint32_t kRepeat = 10000;
  double ns = 0;
  for (auto _ : state) {
    auto r = test_run(dp->prog_fd(Program::ToWire), {.packet = frame, .ifindex = 1, .mark = 0, .repeat = kRepeat});
    if (!r) {
      state.SkipWithError(r.error().message().c_str());
      return;
    }
    ns += static_cast<double>(r->duration_ns);
  }
  state.counters["ns_per_packet"] = ns / static_cast<double>(state.iterations());
}
BENCHMARK(BM_ToWireEsp)->Iterations(20);

}  // namespace
}  // namespace sealnet::bpf

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (geteuid() != 0) {
    fprintf(stderr, "bench_bpf needs root to load BPF programs\n");
    return 2;
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
