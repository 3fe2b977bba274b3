// /healthz and /readyz (datapath/status/health.h).
#include "datapath/status/health.h"

#include <algorithm>

#include "datapath/status/text.h"

namespace sealnet::status {

Probe healthz(const AgentStatus& s, uint64_t now, const HealthLimits& limits) {
  const uint64_t stale = limits.stale_after ? limits.stale_after : std::max<uint64_t>(60, 4 * s.loop.sync_every);
  const uint64_t since = s.loop.last_sync ? s.loop.last_sync : s.started_at;
  const uint64_t quiet = now > since ? now - since : 0;
  if (quiet > stale)
    return {false, "unhealthy: " +
                       std::string(s.loop.last_sync ? "no sync finished for " : "no sync finished since the start ") +
                       std::to_string(quiet) + "s (limit " + std::to_string(stale) + "s): the event loop is stuck\n"};
  const auto& l = s.loop;
  if (l.failing_since && l.failures_in_a_row >= limits.failures && now >= l.failing_since + limits.failing_for)
    return {false, "unhealthy: " + std::to_string(l.failures_in_a_row) + " reconciles in a row failed over " +
                       std::to_string(now - l.failing_since) + "s: " +
                       (s.last_error.empty() ? std::string("(no error text)") : printable(s.last_error)) + "\n"};
  std::string body = "ok: ";
  body += s.loop.last_sync ? "last sync " + std::to_string(quiet) + "s ago" : "starting";
  if (l.failures_in_a_row) body += ", " + std::to_string(l.failures_in_a_row) + " failed in a row";
  return {true, body + "\n"};
}

Probe readyz(const AgentStatus& s) {
  if (s.ready) return {true, "ready\n"};
  return {false, "not ready: " +
                     (s.last_error.empty() ? std::string("first reconcile not complete") : printable(s.last_error)) +
                     "\n"};
}

}  // namespace sealnet::status
