// The offload mode of every egress device slot, and of single states that could
// not get it, with every change recorded as a Decision (reason enum + words) in a
// DecisionLog that status and metrics read. Pure policy: the reconciler tells it
// what the kernel did; it says what to install next.
//
// Which event moves what (docs/xfrm-design.md, "Modes and fallback"):
//  (a) an offloaded add refused (not ENOSPC): the refused state and every later
//      add on the device step down one mode (packet -> crypto -> software); states
//      the device already accepted keep working and stay.
//  (b) the read-back of an added state shows no offload: the kernel made it a
//      software SA; the device's later adds are software too.
//  (c) ENOSPC (the device's SA table is full): that state alone goes software.
//  (d) link down flushed the device's offloaded states: on link up the slot
//      moves to its next generation (fresh SPIs, fresh sequence numbers) and
//      re-installs in its probed mode. A software slot lost nothing: its
//      states and its generation stay.
//  (e) the offload feature switched off / on: next generation, software /
//      probed mode.
// Every move to a next generation first asks the generation guard (the agent
// persists it there, docs/xfrm-design.md "Generations"); a move it refuses does
// not happen, and guard_error() says why.
// A generation bump never deletes first: the new states are added under new SPIs
// and the old ones retire after the grace period.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "netlink/xfrm_codec.h"

namespace sealnet::fallback {

using xfrm::OffloadMode;

enum class Reason : uint8_t {
  probe_verdict,        // initial mode from the probe's verdict
  offload_refused,      // (a)
  no_offload_readback,  // (b)
  table_full,           // (c)
  link_down,            // (d) down: offloaded states flushed
  link_up,              // (d) up: re-installed under the next generation
  feature_off,          // (e)
  feature_on,           // (e)
  sequence_exhausting,  // a non-ESN state nears 2^32 packets: next generation
  count_,
};
const char* to_string(Reason r);
// packet | crypto | software (OffloadMode::none is a software state).
const char* mode_word(OffloadMode m);

struct Decision {
  uint64_t at = 0;  // clock of the caller (seconds)
  uint8_t slot = 0;
  std::string device;
  std::optional<uint32_t> spi;  // the state concerned, when one is
  std::string dst;              // ... and its destination (SPIs repeat across peers)
  OffloadMode from = OffloadMode::none;
  OffloadMode to = OffloadMode::none;
  Reason reason = Reason::probe_verdict;
  std::string detail;  // errno + extack, counts: never key material
  // "<reason>: slot N (dev) [spi 0x... [-> dst]] <from> -> <to>[: detail]", modes
  // as packet | crypto | software (mode_word).
  std::string str() const;
};

// The last kKeep decisions and a count per reason since start.
class DecisionLog {
 public:
  static constexpr size_t kKeep = 256;
  void record(Decision d);
  const std::deque<Decision>& entries() const { return entries_; }
  uint64_t count(Reason r) const { return counts_[static_cast<size_t>(r)]; }
  const Decision* last() const { return entries_.empty() ? nullptr : &entries_.back(); }
  uint64_t total() const { return total_; }  // recorded since start, kept or not
  // For a caller that prints decisions as they happen: those recorded after the
  // first `seen` that are still kept, oldest first; `seen` becomes total().
  std::vector<const Decision*> since(uint64_t& seen) const;

 private:
  std::deque<Decision> entries_;
  std::array<uint64_t, static_cast<size_t>(Reason::count_)> counts_{};
  uint64_t total_ = 0;
};

// What the probe found a device can do (probe::Verdict mapped to a mode by the
// caller: packet-offload -> packet, crypto-offload -> crypto, software -> none).
struct SlotDevice {
  uint8_t slot = 0;
  int ifindex = 0;
  std::string name;
  OffloadMode capability = OffloadMode::none;
};

struct SlotState {
  SlotDevice dev;
  OffloadMode mode = OffloadMode::none;  // what new states on this device ask for
  bool up = true;
  bool feature_on = true;
  uint8_t generation = 0;  // low byte of the SPI of this slot's outbound states
  bool flushed = false;    // down while offloaded: the kernel flushed its states
};

// Called with (slot, next generation) before a slot moves there; an error
// keeps the slot where it is.
using GenerationGuard = std::function<Status(uint8_t slot, uint8_t generation)>;

class ModeBook {
 public:
  explicit ModeBook(DecisionLog& log) : log_(log) {}

  // A device joins (or the probe re-judged it): its mode is its capability.
  // `why` is the recorded detail (fallback/verdict.h: the probe's reason);
  // empty: "probe says <mode>".
  void set_device(const SlotDevice& dev, uint64_t now, const std::string& why = {});
  const SlotState* slot(uint8_t s) const;
  const std::map<uint8_t, SlotState>& slots() const { return slots_; }

  // The mode a new state on `slot` asks for; `spi` identifies the state (a
  // table-full state stays software).
  OffloadMode mode_for(uint8_t slot, uint32_t spi) const;

  // Events; each records a Decision and returns true when it changed anything.
  bool offload_refused(uint8_t slot, uint32_t spi, const std::string& dst, OffloadMode asked, int err,
                       const std::string& extack, uint64_t now);  // (a)/(c)
  bool no_offload_readback(uint8_t slot, uint32_t spi, const std::string& dst, OffloadMode asked,
                           uint64_t now);                     // (b)
  // `flushed`: the caller saw offloaded states vanish (whatever the mode is now).
  bool link_down(uint8_t slot, uint64_t now, bool flushed = false);  // (d)
  bool link_up(uint8_t slot, uint64_t now);                   // (d)
  bool feature_changed(uint8_t slot, bool on, uint64_t now);  // (e)
  bool sequence_exhausting(uint8_t slot, uint32_t spi, uint64_t packets, uint64_t now);

  // An agent that restarts finds its outbound states in the kernel: each slot
  // continues at the newest generation they carry (never re-using an SPI whose
  // sequence numbers a peer has already seen). Records nothing.
  void adopt_generation(uint8_t slot, uint8_t generation);

  void set_guard(GenerationGuard g) { guard_ = std::move(g); }
  // The last refusal of the guard (empty: none since the last take).
  std::string take_guard_error() { return std::exchange(guard_error_, {}); }

  // States forced to software one by one (reason c), by SPI.
  const std::map<uint32_t, Reason>& state_overrides() const { return overrides_; }

 private:
  SlotState* find(uint8_t s);
  bool bump(SlotState& st);
  DecisionLog& log_;
  std::map<uint8_t, SlotState> slots_;
  std::map<uint32_t, Reason> overrides_;
  GenerationGuard guard_;
  std::string guard_error_;
};

// The next mode down: packet -> crypto -> none.
OffloadMode step_down(OffloadMode m);

}  // namespace sealnet::fallback
