// datapath/status/client: `sealnet status`: fetch /status from a running agent
// and print it as the table or as the JSON it served.
#pragma once

#include <string>

#include "core/error.h"
#include "datapath/status/model.h"

namespace sealnet::status {

// GET http://<endpoint>/status and parse it.
// endpoint: "ADDRESS:PORT", "[v6]:PORT" or "HOST:PORT", with or without http://;
// connect and read time out after a few seconds.
Result<AgentStatus> fetch(const std::string& endpoint);

// `sealnet status [--json] [--endpoint ADDR]`: prints the table (or the agent's JSON
// as served) on stdout; returns 0, or 1 with one line on stderr when the agent
// cannot be reached or its reply cannot be read.
int status_main(const std::string& endpoint, bool json);

}  // namespace sealnet::status
