#include "fallback/verdict.h"

namespace sealnet::fallback {

OffloadMode mode_of(probe::Verdict v) {
  switch (v) {
    case probe::Verdict::packet_offload:
      return OffloadMode::packet;
    case probe::Verdict::crypto_offload:
      return OffloadMode::crypto;
    case probe::Verdict::software:
      break;
  }
  return OffloadMode::none;
}

ProbedDevice from_probe(uint8_t slot, const probe::DeviceReport& report, uint64_t now) {
  ProbedDevice p;
  p.device = {slot, report.ifindex, report.name, mode_of(report.verdict)};
  std::string detail = std::string("probe: ") + probe::to_string(report.verdict);
  if (!report.reason.empty()) detail += ": " + report.reason;
  if (report.overridden) detail += " (overridden by configuration)";
  p.decision = {now, slot, report.name, std::nullopt, {}, OffloadMode::none, p.device.capability,
                Reason::probe_verdict, std::move(detail)};
  return p;
}

}  // namespace sealnet::fallback
