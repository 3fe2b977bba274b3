// The reconciler's own cost at 5,000 peers x 2 keys (30,000 states, 10,002
// policies), no kernel: the fake XFRM database of the unit tests
// (tests/unit/offload_fake_kernel.h) answers its dumps and changes. What the
// control-plane bench (bench/driver/cp_bench.h, VM only) calls "ours".
//
//   build/bench/bench_reconcile [--benchmark_filter=...]
//
// Before and after keyless planning, in one run:
//   BM_Plan/keyed        plan() then every state keyed (key_all): the work the
//                        plan did per resync when it carried the keys
//   BM_Plan/identities   plan() as the reconciler calls it now (no key)
//   BM_DecodeDump/info   30,000 NEWSA messages decoded as the dump was
//                        (xfrm::decode_sa: algorithm names copied)
//   BM_DecodeDump/entry  the same with decode_sa_entry (identity and counters)
//   BM_Resync/unchanged  a whole reconcile of the converged set (dump, plan,
//                        diff; nothing to send), with its split as counters
//   BM_Resync/join       one more peer joins the converged set (its 3 states
//                        keyed and sent; the fake's own time is "kernel")
// Keys are per-pair ("+"), as the agent requires by default: keying a state
// is an HKDF-SHA-256 derivation (keys::derive_pair_key).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>

#include "keys/keys.h"
#include "netlink/xfrm_codec.h"
#include "offload/binding.h"
#include "offload/reconciler.h"
#include "tests/unit/offload_fake_kernel.h"

namespace sealnet::offload {
namespace {

constexpr int kPeers = 5000;

struct World {
  fallback::DecisionLog log;
  fallback::ModeBook modes{log};
  keys::KeySet keys;
  ReconcileInput in;

  World() {
    auto ks = keys::parse_key_file(
        "1+ rfc4106(gcm(aes)) 0x000102030405060708090a0b0c0d0e0f10111213 128\n"
        "2+ rfc4106(gcm(aes)) 0x101112131415161718191a1b1c1d1e1f20212223 128\n",
        "bench keys");
    if (!ks) std::abort();
    keys = std::move(*ks);
    modes.set_device({0, 1, "eth0", xfrm::OffloadMode::none}, 0);
    in.local = {1, *IpAddr::parse("10.99.0.1")};
    in.keys = &keys;
    in.opts.subnets = {*IpPrefix::parse("10.128.0.0/9")};
    for (int i = 0; i < kPeers; ++i) in.peers.push_back(peer(static_cast<uint16_t>(i + 2)));
  }
  static PeerNode peer(uint16_t id) {
    PeerNode p;
    p.id = id;
    p.addr = *IpAddr::parse("10.100." + std::to_string(id / 250) + "." + std::to_string(id % 250 + 1));
    p.keys = {1, 2};
    p.dsts = {
        *IpPrefix::parse("10." + std::to_string(128 + id / 256) + "." + std::to_string(id % 256) + ".0/24")};
    return p;
  }
};

void BM_Plan(benchmark::State& state, bool keyed) {
  World w;
  size_t states = 0;
  for (auto _ : state) {
    auto set = plan(w.in.local, w.modes, w.in.peers, w.keys, w.in.opts);
    if (!set) {
      state.SkipWithError(set.error().message().c_str());
      return;
    }
    if (keyed && !key_all(*set, w.keys)) {
      state.SkipWithError("key_all failed");
      return;
    }
    states = set->states.size();
    benchmark::DoNotOptimize(set->states.data());
  }
  state.counters["states"] = static_cast<double>(states);
}
BENCHMARK_CAPTURE(BM_Plan, keyed, true)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Plan, identities, false)->Unit(benchmark::kMillisecond);

void BM_DecodeDump(benchmark::State& state, bool entry) {
  World w;
  auto set = plan(w.in.local, w.modes, w.in.peers, w.keys, w.in.opts);
  if (!set || !key_all(*set, w.keys)) {
    state.SkipWithError("plan failed");
    return;
  }
  // The dump as the kernel sends it: one NEWSA message per state.
  std::vector<nl::Bytes> msgs;
  for (const auto& d : set->states) msgs.push_back(*xfrm::encode_new_sa(d.spec));
  const WipeOnExit wiped(msgs);
  for (auto _ : state) {
    size_t n = 0;
    for (const auto& m : msgs) {
      auto views = nl::split_messages(m);
      if (entry) {
        auto e = xfrm::decode_sa_entry(views->front());
        n += e ? 1 : 0;
        benchmark::DoNotOptimize(e);
      } else {
        auto e = xfrm::decode_sa(views->front());
        n += e ? 1 : 0;
        benchmark::DoNotOptimize(e);
      }
    }
    if (n != msgs.size()) {
      state.SkipWithError("decode failed");
      return;
    }
  }
  state.counters["states"] = static_cast<double>(msgs.size());
}
BENCHMARK_CAPTURE(BM_DecodeDump, info, false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_DecodeDump, entry, true)->Unit(benchmark::kMillisecond);

void report(benchmark::State& state, const ReconcileTimes& sum, size_t keys, int64_t runs) {
  const double n = static_cast<double>(std::max<int64_t>(runs, 1));
  state.counters["dump_ms"] = static_cast<double>(sum.dump_ns) / 1e6 / n;
  state.counters["plan_ms"] = static_cast<double>(sum.plan_ns) / 1e6 / n;
  state.counters["diff_ms"] = static_cast<double>(sum.diff_ns) / 1e6 / n;
  state.counters["send_ms"] = static_cast<double>(sum.send_ns) / 1e6 / n;
  state.counters["kernel_ms"] = static_cast<double>(sum.kernel_ns) / 1e6 / n;
  state.counters["keys_derived"] = static_cast<double>(keys) / n;
}

void add(ReconcileTimes& sum, const ReconcileTimes& t) {
  sum.dump_ns += t.dump_ns;
  sum.plan_ns += t.plan_ns;
  sum.diff_ns += t.diff_ns;
  sum.send_ns += t.send_ns;
  sum.kernel_ns += t.kernel_ns;
}

void BM_Resync(benchmark::State& state, bool join) {
  World w;
  testing::FakeXfrmKernel kernel;
  Reconciler rec(kernel, w.modes);
  auto first = rec.reconcile(w.in, 0);
  if (!first || first->states_added != static_cast<size_t>(kPeers) * 6) {
    state.SkipWithError("install failed");
    return;
  }
  ReconcileTimes sum;
  size_t keys = 0;
  uint16_t next = static_cast<uint16_t>(kPeers + 2);
  for (auto _ : state) {
    if (join) {
      state.PauseTiming();
      w.in.peers.push_back(World::peer(next++));
      state.ResumeTiming();
    }
    auto r = rec.reconcile(w.in, 0);
    // A join: its 2 keys x (1 out + 2 in) states, and its policies.
    if (!r || !r->errors.empty() || r->states_added != (join ? 6u : 0u) || (!join && r->changes() != 0)) {
      state.SkipWithError("not the expected changes");
      return;
    }
    add(sum, r->times);
    keys += r->keys_derived;
  }
  report(state, sum, keys, state.iterations());
}
BENCHMARK_CAPTURE(BM_Resync, unchanged, false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Resync, join, true)->Unit(benchmark::kMillisecond)->Iterations(10);

}  // namespace
}  // namespace sealnet::offload

BENCHMARK_MAIN();
