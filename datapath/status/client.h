// datapath/status/client: `sealnet status`: fetch /status from a running agent
// and print it as the table or as the JSON it served.
#pragma once

#include <string>

#include "core/error.h"
#include "datapath/status/model.h"
#include "datapath/status/table.h"

namespace sealnet::status {

// GET http://<endpoint>/status and parse it.
// endpoint: "ADDRESS:PORT", "[v6]:PORT" or "HOST:PORT", with or without http://;
// connect and read time out after a few seconds.
Result<AgentStatus> fetch(const std::string& endpoint);

// `sealnet status [--json] [--endpoint ADDR] [--peer NAME] [--limit N | --all]`:
// prints the table (or the agent's JSON as served, whatever the table options)
// on stdout; returns 0, or 1 with one line on stderr when the agent cannot be
// reached, its reply cannot be read, or it has no peer `table.peer`.
int status_main(const std::string& endpoint, bool json, const TableOptions& table = {});

}  // namespace sealnet::status
