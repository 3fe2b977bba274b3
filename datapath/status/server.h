// datapath/status/server: the agent's local HTTP endpoint (cpp-httplib):
// GET /metrics (Prometheus), /status (JSON), /healthz, /readyz.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "core/error.h"
#include "datapath/status/model.h"

namespace sealnet::status {

// /healthz and /readyz: datapath/status/health.h (503 with the reason when not). `provider` is
// called on the server's thread and must return a consistent snapshot.
class Server {
 public:
  using Provider = std::function<AgentStatus()>;
  // listen: "ADDRESS:PORT" or "[v6]:PORT"; port 0 picks a free one (port()).
  static Result<std::unique_ptr<Server>> start(const std::string& listen, Provider provider);
  virtual ~Server() = default;
  virtual int port() const = 0;
  virtual void stop() = 0;
};

}  // namespace sealnet::status
