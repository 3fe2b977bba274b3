// Time to probe 64 veth devices, flags only and with trial SAs on every device
// (needs root). The process unshares a private network namespace at start (it
// disappears when the process exits) and creates 32 veth pairs in it.
//
//   sudo build/bench/bench_probe [--benchmark_filter=...]
//
// On a kernel without ESP (this build host) every trial add is refused in the
// kernel, so the trial numbers measure the XFRM round trips of refused adds;
// in the VM (ESP, veth taking crypto requests as software SAs) they include
// the real add, read-back and delete.
#include <benchmark/benchmark.h>
#include <sched.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "probe/probe.h"

namespace sealnet::probe {
namespace {

constexpr int kPairs = 32;  // 64 veth devices

std::unique_ptr<ProbeKernel> g_kernel;

void probe(benchmark::State& state, TrialPolicy policy) {
  ProbeOptions opts;
  opts.trial = policy;
  size_t devices = 0, trials = 0;
  for (auto _ : state) {
    auto r = run_probe(*g_kernel, opts);
    if (!r) {
      state.SkipWithError(r.error().message().c_str());
      return;
    }
    devices = r->devices.size();
    trials = 0;
    for (const auto& d : r->devices) trials += d.trials.size();
    benchmark::DoNotOptimize(r);
  }
  state.counters["devices"] = static_cast<double>(devices);
  state.counters["trial_SAs"] = static_cast<double>(trials);
}

void BM_Probe64VethFlagsOnly(benchmark::State& s) { probe(s, TrialPolicy::none); }
void BM_Probe64VethDefault(benchmark::State& s) { probe(s, TrialPolicy::flagged); }
void BM_Probe64VethTrialAll(benchmark::State& s) { probe(s, TrialPolicy::all); }
BENCHMARK(BM_Probe64VethFlagsOnly)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Probe64VethDefault)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Probe64VethTrialAll)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sealnet::probe

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (::geteuid() != 0) {
    std::fprintf(stderr, "bench_probe: needs root (network namespace, XFRM trials)\n");
    return 77;
  }
  if (::unshare(CLONE_NEWNET) != 0) {
    std::perror("bench_probe: unshare(CLONE_NEWNET)");
    return 1;
  }
  const std::string setup = "ip link set lo up && for i in $(seq 1 " +
                            std::to_string(sealnet::probe::kPairs) +
                            "); do echo link add a$i type veth peer name b$i; done | ip -batch -";
  if (std::system(setup.c_str()) != 0) {
    std::fprintf(stderr, "bench_probe: set-up failed: %s\n", setup.c_str());
    return 1;
  }
  auto k = sealnet::probe::make_kernel();
  if (!k) {
    std::fprintf(stderr, "bench_probe: %s\n", k.error().message().c_str());
    return 1;
  }
  sealnet::probe::g_kernel = std::move(*k);
  benchmark::RunSpecifiedBenchmarks();
  sealnet::probe::g_kernel.reset();
  benchmark::Shutdown();
  return 0;
}
