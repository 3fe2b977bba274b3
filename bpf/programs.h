// bpf/: sealnet's tc programs (classify before encrypting, audit the wire) and
// their C++ side: loading, pinned maps with typed accessors, tc attachment.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bpf/ipcache_lengths.h"
#include "bpf/shared.h"
#include "core/error.h"
#include "core/ip.h"

struct sealnet_bpf;  // generated skeleton

namespace sealnet::bpf {

// Where each program attaches: see the comment at the top of bpf/sealnet.bpf.c.
enum class Program { FromPod, FromHost, ToWire };
std::string_view program_name(Program p);

struct LoadOptions {
  // bpffs directory the maps are pinned in (and re-used from, so state
  // survives an agent restart). Empty: private maps, nothing pinned.
  std::string pin_dir;
};

// Makes `dir` a bpffs mount point if it is not one already (creating the
// directory). The agent calls it for its pin directory; it never touches any
// other mount.
Status ensure_bpffs(const std::string& dir);

using Metrics = std::array<sealnet_metric_value, SEALNET_M_COUNT>;
// "mark-crypto", "fib-no-neigh", ...: a stable name per enum sealnet_metric;
// the FIB's return codes are named after BPF_FIB_LKUP_RET_* ("fib-ret-<n>" for
// one this sealnet does not know, "fib-helper-error" for a negative return).
std::string metric_name(uint32_t reason);
// Whether the programs drop the packet they count under `reason` (the
// classifier's and the wire audit's drop verdicts; FIB return codes are counted
// apart and are not verdicts).
bool metric_is_drop(uint32_t reason);

// What the maps accept, checked before anything is written: values the
// programs would misread (a node id wider than the mark, slot 16, ...) are
// refused with the field named.
Status validate(const sealnet_config& cfg);
Status validate(const sealnet_ipcache_value& v);
Status validate(uint32_t node_id, const sealnet_node_value& v);
Status validate(const sealnet_device_value& v);

// The loaded programs and their maps. Unloading drops the programs' fds;
// pinned maps and attached tc filters stay in the kernel.
class Datapath {
 public:
  static Result<Datapath> load(const LoadOptions& opts);
  Datapath(Datapath&&) noexcept;
  Datapath& operator=(Datapath&&) noexcept;
  ~Datapath();

  int prog_fd(Program p) const;

  Status set_config(const sealnet_config& cfg);
  Result<sealnet_config> config() const;
  Status upsert_ipcache(const IpPrefix& prefix, const sealnet_ipcache_value& v);
  Status delete_ipcache(const IpPrefix& prefix);
  Status upsert_node(uint32_t node_id, const sealnet_node_value& v);
  Status delete_node(uint32_t node_id);
  Status upsert_device(uint32_t ifindex, const sealnet_device_value& v);
  Status delete_device(uint32_t ifindex);
  // Exact entries (not a longest-prefix match); nullopt when absent.
  Result<std::optional<sealnet_ipcache_value>> ipcache(const IpPrefix& prefix) const;
  Result<std::optional<sealnet_node_value>> node(uint32_t node_id) const;
  Result<std::optional<sealnet_device_value>> device(uint32_t ifindex) const;
  // Every entry the maps hold, by iteration (what a previous agent left: the
  // agent sweeps what no peer in force claims). Node ids without the presence
  // bit are not entries; the ipcache's three maps read as one.
  Result<std::map<uint32_t, sealnet_node_value>> nodes() const;
  Result<std::map<IpPrefix, sealnet_ipcache_value>> ipcache_entries() const;
  // Summed over all CPUs.
  Result<Metrics> metrics() const;
  // The events' ring buffer and counters (bpf/events.h).
  int events_fd() const;
  int event_stats_fd() const;

 private:
  explicit Datapath(sealnet_bpf* skel) : skel_(skel) {}
  Status restore_ipcache();  // the lengths' state from maps pinned by an earlier process
  void release();
  sealnet_bpf* skel_ = nullptr;
  uint64_t* direct4_ = nullptr;         // sealnet_direct4, mapped shared (bpf/shared.h)
  sealnet_direct6* direct6_ = nullptr;  // sealnet_direct6, the same
  IpcacheLengths lengths_;  // which ipcache lengths the hashes hold (bpf/shared.h)
};

sealnet_ipcache_key ipcache_key(const IpPrefix& prefix);

// One run of a program over a packet through BPF_PROG_TEST_RUN.
struct TestRun {
  int action = 0;        // the program's return value (TC_ACT_*)
  uint32_t mark = 0;     // skb->mark afterwards
  uint64_t duration_ns;  // average per repeat, as the kernel reports it
};
struct TestRunInput {
  std::span<const uint8_t> packet;
  uint32_t ifindex = 0;  // skb->ifindex (and ingress_ifindex) seen by the program
  uint32_t mark = 0;
  uint32_t repeat = 1;
};
Result<TestRun> test_run(int prog_fd, const TestRunInput& in);

}  // namespace sealnet::bpf

namespace sealnet::bpf {

// Loads the programs into this kernel with private maps and runs known frames
// through them (BPF_PROG_TEST_RUN): proves the verifier accepts them, that the
// wire audit drops plaintext to a remote node and passes ESP, and that from-pod
// passes local and non-cluster traffic and drops what it has no key for. No
// case reaches the FIB lookup, so it needs no network namespace and sends
// nothing.
struct SelfTestCase {
  std::string name;
  int expected_action;
  int action;
  uint32_t expected_metric;  // enum sealnet_metric that must count the frame
  bool counted;
  bool ok() const { return action == expected_action && counted; }
};
Result<std::vector<SelfTestCase>> self_test();

}  // namespace sealnet::bpf
