// datapath/status/table: the snapshot as `sealnet status` prints it: a header,
// then one aligned table per kind (docs/status.md "Table").
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "datapath/status/model.h"

namespace sealnet::status {

// What of a big node's peers the table shows (docs/status.md "Table"): a
// summary always; at most `limit` peers, problems first; or the one `peer`.
struct TableOptions {
  static constexpr size_t kDefaultLimit = 20;
  size_t limit = kDefaultLimit;  // SIZE_MAX: every peer
  std::string peer;              // a name, node-<id> or address; empty: not one
};

// The peer `want` names (peer_name() or address), nullptr when none does.
const PeerStatus* find_peer(const AgentStatus& s, std::string_view want);

// With `peer` set, the caller has checked that find_peer() finds it.
std::string render_table(const AgentStatus& s, const TableOptions& options = {});

}  // namespace sealnet::status
