// datapath/why: what the status says about why, kept apart from the agent's
// loop so it is tested without a kernel: which decision explains one peer's
// mode, and which errors `last_error` shows (docs/status.md).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>

#include "fallback/modes.h"

namespace sealnet::agent {

// The newest decision that concerns this peer: one about one of its own states
// (an outbound state to its address, or an inbound state whose SPI carries its
// node id), or one about its device slot as a whole (no destination named: a
// probe verdict, a link or feature change). A decision about another peer's
// state on the same slot (a table-full refusal) is not this peer's. nullptr: none.
const fallback::Decision* peer_decision(const std::deque<fallback::Decision>& log, uint16_t peer_id,
                                        const std::string& address, uint8_t slot);

// `last_error`: a failed step (a reconcile, a probe) shows until the next clean
// reconcile; a refused key or config file shows until a good one is loaded,
// whatever the reconciles do meanwhile (the running one stays in force, and the
// user must see that theirs was not taken).
class ErrorNotes {
 public:
  enum class File { keys, config };
  void failed(std::string what) { failed_ = std::move(what); }
  void clean() { failed_.clear(); }
  void refused(File f, std::string what) { refused_[f] = std::move(what); }
  void accepted(File f) { refused_.erase(f); }
  bool has_failed() const { return !failed_.empty(); }
  // The failed step, then the refusals (key file first), joined by "; ".
  std::string last_error() const;

 private:
  std::string failed_;
  std::map<File, std::string> refused_;
};

}  // namespace sealnet::agent
