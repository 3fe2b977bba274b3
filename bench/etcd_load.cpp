// sealnet-etcd-load: registers N synthetic nodes on etcd, the way N agents would
// (datapath/discovery record format), for the agent scale bench
// (bench/vm_agent_scale.sh). Records have no lease: they stay until erased.
//
//   sealnet-etcd-load --endpoint URL [--prefix /sealnet] --count N [--first-id ID] [--keys 1,2]
//
// Node id: address 10.200.<id / 250>.<id % 250 + 1>, pod CIDR
// 10.<64 + id / 256>.<id % 256>.0/24, name sim-<id>.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "datapath/discovery/registry.h"

int main(int argc, char** argv) {
  CLI::App app{"sealnet-etcd-load: registers N synthetic nodes on etcd"};
  std::string endpoint, prefix = "/sealnet";
  long count = 0, first = 2;
  std::vector<uint8_t> keys = {1};
  app.add_option("--endpoint", endpoint, "etcd's URL")->required();
  app.add_option("--prefix", prefix, "Key prefix")->capture_default_str();
  app.add_option("--count", count, "Nodes")->required()->check(CLI::Range(1L, 0xFFFDL));
  app.add_option("--first-id", first, "The first node id")
      ->capture_default_str()
      ->check(CLI::Range(1L, 0xFFFDL));
  app.add_option("--keys", keys, "Key ids each node announces")->delimiter(',')->check(CLI::Range(1, 15));
  CLI11_PARSE(app, argc, argv);
  if (first + count > 0xFFFE) {
    std::fprintf(stderr, "--first-id + --count must stay below 0xFFFE (node ids are 16 bits)\n");
    return 2;
  }
  using namespace sealnet;
  discovery::EtcdOptions eo;
  eo.endpoints = {endpoint};
  auto etcd = discovery::EtcdClient::make(eo);
  if (!etcd) {
    std::fprintf(stderr, "%s\n", etcd.error().message().c_str());
    return 1;
  }
  // 100 puts per transaction (etcd's default --max-txn-ops is 128): registering
  // 5,000 nodes one request each takes minutes in the emulated VM.
  std::string body;
  long in_txn = 0;
  auto flush = [&]() -> bool {
    if (in_txn == 0) return true;
    auto r = (*etcd)->call("/v3/kv/txn", "{\"success\": [" + body + "]}");
    if (!r) {
      std::fprintf(stderr, "txn: %s\n", r.error().message().c_str());
      return false;
    }
    body.clear();
    in_txn = 0;
    return true;
  };
  for (long i = 0; i < count; ++i) {
    discovery::NodeRecord r;
    const long id = first + i;
    r.id = static_cast<uint16_t>(id);
    r.name = "sim-" + std::to_string(id);
    r.ipv4 = *IpAddr::parse("10.200." + std::to_string(id / 250) + "." + std::to_string(id % 250 + 1));
    r.pod_cidrs = {*IpPrefix::parse("10." + std::to_string(64 + id / 256) + "." + std::to_string(id % 256) + ".0/24")};
    r.keys = keys;
    r.device_modes = {{"eth0", "software"}};
    r.generations = {0};
    if (!body.empty()) body += ",";
    body += "{\"requestPut\": {\"key\": \"" + discovery::base64_encode(prefix + "/nodes/" + r.name) + "\", \"value\": \"" +
            discovery::base64_encode(discovery::record_to_json(r)) + "\"}}";
    if (++in_txn == 100 && !flush()) return 1;
  }
  if (!flush()) return 1;
  std::printf("registered %ld nodes (ids %ld..%ld)\n", count, first, first + count - 1);
  return 0;
}
