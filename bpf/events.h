// bpf/events: the reader side of the datapath's events (docs/events.md): the
// ring buffer sealnet_events and its counters, from a loaded Datapath or from
// the maps a running agent pinned (what `sealnet monitor` attaches to).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "bpf/shared.h"
#include "core/error.h"
#include "core/fd.h"

struct ring_buffer;

namespace sealnet::bpf {

// Names of the pinned maps under the agent's bpffs_dir.
inline constexpr const char* kEventsMap = "sealnet_events";
inline constexpr const char* kEventStatsMap = "sealnet_ev_stats";
inline constexpr const char* kConfigMap = "sealnet_config";
inline constexpr const char* kDevicesMap = "sealnet_devices";
inline constexpr const char* kDevhashMap = "sealnet_devhash";

// The consumer of one ring buffer. A ring buffer has one consumer position:
// two readers split the records between them.
class EventReader {
 public:
  using Handler = std::function<void(const sealnet_event&)>;
  // `map_fd` is duplicated; the reader owns its copy.
  static Result<EventReader> from_fd(int map_fd, Handler handler);
  EventReader(EventReader&&) noexcept;
  EventReader& operator=(EventReader&&) noexcept;
  ~EventReader();

  // Hands every record available, waiting up to timeout_ms for the first;
  // returns how many were handed (0 on timeout; EINTR is 0 too).
  Result<int> poll(int timeout_ms);
  // Hands what is there without waiting.
  Result<int> drain();

 private:
  EventReader() = default;
  struct State;
  std::unique_ptr<State> st_;
  ring_buffer* rb_ = nullptr;
};

// A running agent's pinned maps, opened read-only where the kernel allows it.
struct PinnedEvents {
  Fd events, stats, config, devices, devhash;
  std::string dir;
};
// ENOENT with the missing path named when no agent pinned its maps there.
Result<PinnedEvents> open_pinned(const std::string& bpffs_dir);

Result<sealnet_config> read_config(int config_fd);
// Summed over all CPUs.
Result<sealnet_ev_stats> read_event_stats(int stats_fd);
// slot -> ifindex of every device in the two device maps.
Result<std::map<uint8_t, uint32_t>> read_slots(int devices_fd, int devhash_fd);

}  // namespace sealnet::bpf
