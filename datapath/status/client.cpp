#include "datapath/status/client.h"

#include <httplib.h>

#include <iostream>

#include "datapath/host_port.h"
#include "datapath/status/table.h"
#include "datapath/status/text.h"

namespace sealnet::status {

namespace {

constexpr const char* kFetchOp = "fetch agent status from";

Result<std::string> fetch_text(const std::string& endpoint) {
  std::string ep = endpoint;
  if (ep.starts_with("http://")) ep.erase(0, 7);
  while (!ep.empty() && ep.back() == '/') ep.pop_back();
  auto hp = parse_host_port(ep, {.names = true, .port_zero = false});
  if (!hp) return fail(EINVAL, kFetchOp, ep, std::string("expected ") + kHostPortForm);
  const std::string url = "http://" + ep + "/status";
  httplib::Client cli(hp->host, hp->port);
  cli.set_connection_timeout(2, 0);
  cli.set_read_timeout(5, 0);
  cli.set_write_timeout(2, 0);
  auto res = cli.Get("/status");
  if (!res) {
    const auto e = res.error();
    std::string why = e == httplib::Error::Connection || e == httplib::Error::ConnectionTimeout
                          ? "cannot connect"
                          : e == httplib::Error::Read ? "no complete reply within 5s" : httplib::to_string(e);
    return fail(0, kFetchOp, url, why + "; is the sealnet agent running and is metrics.listen this address?");
  }
  if (res->status != 200)
    return fail(0, kFetchOp, url,
                "HTTP " + std::to_string(res->status) + "; is this the sealnet agent's metrics.listen address?");
  return std::move(res->body);
}

}  // namespace

Result<AgentStatus> fetch(const std::string& endpoint) {
  auto text = fetch_text(endpoint);
  if (!text) return std::unexpected(text.error());
  return from_json(*text);
}

int status_main(const std::string& endpoint, bool json, const TableOptions& table) {
  auto text = fetch_text(endpoint);
  if (!text) {
    std::cerr << "sealnet status: " << text.error().message() << "\n";
    return 1;
  }
  // --json prints what the agent served (fields this sealnet does not know
  // included), once it is known to be an agent status this sealnet can read.
  auto s = from_json(*text);
  if (!s) {
    std::cerr << "sealnet status: " << s.error().message() << "\n";
    return 1;
  }
  if (!json && !table.peer.empty() && !find_peer(*s, table.peer)) {
    std::cerr << "sealnet status: no peer \"" << printable(table.peer) << "\" among the agent's " << s->peers.size()
              << " peers (names as `sealnet status --all` lists them)\n";
    return 1;
  }
  if (json) {
    std::cout << *text;
    if (!text->empty() && text->back() != '\n') std::cout << "\n";
  } else {
    std::cout << render_table(*s, table);
  }
  std::cout.flush();
  return std::cout ? 0 : 1;
}

}  // namespace sealnet::status
