#include "fallback/modes.h"

#include <algorithm>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace sealnet::fallback {

const char* to_string(Reason r) {
  switch (r) {
    case Reason::probe_verdict:
      return "probe-verdict";
    case Reason::offload_refused:
      return "offload-refused";
    case Reason::no_offload_readback:
      return "no-offload-on-readback";
    case Reason::table_full:
      return "sa-table-full";
    case Reason::link_down:
      return "link-down";
    case Reason::link_up:
      return "link-up";
    case Reason::feature_off:
      return "offload-feature-off";
    case Reason::feature_on:
      return "offload-feature-on";
    case Reason::sequence_exhausting:
      return "sequence-space-exhausting";
    case Reason::count_:
      break;
  }
  return "?";
}

// The words status uses for a mode: a state without offload is "software"
// (xfrm::to_string says "none", which reads as "no mode" in "none -> none").
const char* mode_word(OffloadMode m) { return m == OffloadMode::none ? "software" : xfrm::to_string(m); }

std::string Decision::str() const {
  char spi_text[16] = "";
  if (spi) std::snprintf(spi_text, sizeof spi_text, " spi 0x%08x", *spi);
  std::string s = std::string(to_string(reason)) + ": slot " + std::to_string(slot) + " (" + device + ")" +
                  spi_text + (dst.empty() ? "" : " -> " + dst) + " " + mode_word(from) + " -> " + mode_word(to);
  if (!detail.empty()) s += ": " + detail;
  return s;
}

void DecisionLog::record(Decision d) {
  ++counts_[static_cast<size_t>(d.reason)];
  ++total_;
  entries_.push_back(std::move(d));
  if (entries_.size() > kKeep) entries_.pop_front();
}

std::vector<const Decision*> DecisionLog::since(uint64_t& seen) const {
  const size_t fresh = static_cast<size_t>(std::min<uint64_t>(total_ - seen, entries_.size()));
  std::vector<const Decision*> out;
  for (size_t i = entries_.size() - fresh; i < entries_.size(); ++i) out.push_back(&entries_[i]);
  seen = total_;
  return out;
}

OffloadMode step_down(OffloadMode m) {
  return m == OffloadMode::packet ? OffloadMode::crypto : OffloadMode::none;
}

SlotState* ModeBook::find(uint8_t s) {
  auto it = slots_.find(s);
  return it == slots_.end() ? nullptr : &it->second;
}

const SlotState* ModeBook::slot(uint8_t s) const {
  auto it = slots_.find(s);
  return it == slots_.end() ? nullptr : &it->second;
}

bool ModeBook::bump(SlotState& st) {
  const auto next = static_cast<uint8_t>(st.generation + 1);
  if (guard_)
    if (auto s = guard_(st.dev.slot, next); !s) {
      guard_error_ = "slot " + std::to_string(st.dev.slot) + " stays at generation " +
                     std::to_string(st.generation) + ": " + s.error().message();
      return false;
    }
  st.generation = next;
  return true;
}

void ModeBook::set_device(const SlotDevice& dev, uint64_t now, const std::string& why) {
  SlotState& st = slots_[dev.slot];
  const bool known = st.dev.ifindex != 0;
  const OffloadMode before = st.mode;
  st.dev = dev;
  st.mode = st.feature_on ? dev.capability : OffloadMode::none;
  if (!known || before != st.mode)
    log_.record({now, dev.slot, dev.name, std::nullopt, {}, before, st.mode, Reason::probe_verdict,
                 why.empty() ? std::string("probe says ") + xfrm::to_string(dev.capability) : why});
  // A mode change of a device whose states exist re-installs them, like (e).
  if (known && before != st.mode) bump(st);
}

OffloadMode ModeBook::mode_for(uint8_t s, uint32_t spi) const {
  const SlotState* st = slot(s);
  if (!st || !st->up) return OffloadMode::none;
  if (overrides_.contains(spi)) return OffloadMode::none;
  return st->mode;
}

bool ModeBook::offload_refused(uint8_t s, uint32_t spi, const std::string& dst, OffloadMode asked, int err,
                               const std::string& extack, uint64_t now) {
  SlotState* st = find(s);
  if (!st || asked == OffloadMode::none) return false;
  std::string detail = std::string("errno ") + std::to_string(err) + " (" + std::strerror(err) + ")";
  if (!extack.empty()) detail += ", extack \"" + extack + "\"";
  if (err == ENOSPC) {
    // (c) The device is full, not incapable: only this state goes software.
    overrides_[spi] = Reason::table_full;
    log_.record({now, s, st->dev.name, spi, dst, asked, OffloadMode::none, Reason::table_full, detail});
    return true;
  }
  // (a) The device refused this kind of offload: step down for this state and
  // every later one; what it already accepted keeps working.
  const OffloadMode to = step_down(asked);
  if (st->mode == asked) st->mode = to;
  if (to == OffloadMode::none) overrides_[spi] = Reason::offload_refused;
  log_.record({now, s, st->dev.name, spi, dst, asked, to, Reason::offload_refused, detail});
  return true;
}

bool ModeBook::no_offload_readback(uint8_t s, uint32_t spi, const std::string& dst, OffloadMode asked,
                                   uint64_t now) {
  SlotState* st = find(s);
  if (!st) return false;
  // (b) The kernel took the request as a software SA without saying so; it
  // would do the same with the next one.
  st->mode = OffloadMode::none;
  overrides_[spi] = Reason::no_offload_readback;
  log_.record({now, s, st->dev.name, spi, dst, asked, OffloadMode::none, Reason::no_offload_readback,
               "read-back has no XFRMA_OFFLOAD_DEV: the kernel installed a software SA"});
  return true;
}

bool ModeBook::link_down(uint8_t s, uint64_t now, bool flushed) {
  SlotState* st = find(s);
  if (!st || !st->up) return false;
  st->up = false;
  st->flushed = flushed || st->mode != OffloadMode::none;
  log_.record({now, s, st->dev.name, std::nullopt, {}, st->mode, OffloadMode::none, Reason::link_down,
               st->flushed ? "the kernel flushed the device's offloaded states and routes"
                           : "the kernel flushed the device's routes; its software states stay"});
  return true;
}

bool ModeBook::link_up(uint8_t s, uint64_t now) {
  SlotState* st = find(s);
  if (!st || st->up) return false;
  st->up = true;
  if (!std::exchange(st->flushed, false)) {
    // Nothing was flushed: the software states kept their sequence numbers.
    log_.record({now, s, st->dev.name, std::nullopt, {}, OffloadMode::none, st->mode, Reason::link_up,
                 "software states kept under generation " + std::to_string(st->generation)});
    return true;
  }
  // Table-full overrides belonged to the flushed table: the device is empty now.
  std::erase_if(overrides_, [](const auto& kv) { return kv.second == Reason::table_full; });
  const bool moved = bump(*st);
  log_.record({now, s, st->dev.name, std::nullopt, {}, OffloadMode::none, st->mode, Reason::link_up,
               moved ? "re-install under generation " + std::to_string(st->generation)
                     : "re-install refused: " + guard_error_});
  return true;
}

void ModeBook::adopt_generation(uint8_t s, uint8_t generation) {
  if (SlotState* st = find(s)) st->generation = generation;
}

bool ModeBook::feature_changed(uint8_t s, bool on, uint64_t now) {
  SlotState* st = find(s);
  if (!st || st->feature_on == on) return false;
  st->feature_on = on;
  const OffloadMode before = st->mode;
  st->mode = on ? st->dev.capability : OffloadMode::none;
  bump(*st);
  log_.record({now, s, st->dev.name, std::nullopt, {}, before, st->mode, on ? Reason::feature_on : Reason::feature_off,
               "re-install under generation " + std::to_string(st->generation)});
  return true;
}

bool ModeBook::sequence_exhausting(uint8_t s, uint32_t spi, uint64_t packets, uint64_t now) {
  SlotState* st = find(s);
  if (!st) return false;
  bump(*st);
  log_.record({now, s, st->dev.name, spi, {}, st->mode, st->mode, Reason::sequence_exhausting,
               std::to_string(packets) + " packets sent without ESN; generation " +
                   std::to_string(st->generation)});
  return true;
}

}  // namespace sealnet::fallback
