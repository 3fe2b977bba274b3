// datapath/status/table: the snapshot as `sealnet status` prints it: a header,
// then one aligned table per kind (docs/status.md "Table").
#pragma once

#include <string>

#include "datapath/status/model.h"

namespace sealnet::status {

std::string render_table(const AgentStatus& s);

}  // namespace sealnet::status
