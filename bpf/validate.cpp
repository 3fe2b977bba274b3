// What the BPF maps accept and the names of their metrics: pure functions over
// the layouts of bpf/shared.h, unit-tested without a kernel.
#include <cerrno>
#include <iterator>
#include <string>

#include "bpf/programs.h"

namespace sealnet::bpf {

namespace {

std::unexpected<Error> invalid(std::string object, std::string detail) {
  return fail(EINVAL, "validate", std::move(object), std::move(detail));
}

}  // namespace

Status validate(const sealnet_config& cfg) {
  if (cfg.local_node_id > SEALNET_MAX_NODE_ID)
    return invalid("config.local_node_id", "node ids are 16 bits in the skb mark (max 65535), got " +
                                               std::to_string(cfg.local_node_id));
  if (cfg.local_node_id != 0 && !sealnet_key_valid(cfg.key_id))
    return invalid("config.key_id", "key ids run 1..15, got " + std::to_string(cfg.key_id));
  if (cfg.fail_closed > 1 || cfg.encrypt_host > 1)
    return invalid("config", "fail_closed and encrypt_host are 0 or 1");
  if (cfg.events & ~(SEALNET_EV_F_DROPS | SEALNET_EV_F_FLOWS))
    return invalid("config.events", "only the drops and flows bits exist, got " + std::to_string(cfg.events));
  return {};
}

Status validate(const sealnet_ipcache_value& v) {
  if (v.node_id > SEALNET_MAX_NODE_ID)
    return invalid("ipcache.node_id", "node ids are 16 bits in the skb mark (max 65535), got " +
                                          std::to_string(v.node_id));
  if (v.flags & ~uint32_t{SEALNET_IPCACHE_NODE_ADDR | SEALNET_IPCACHE_POD_CIDR})
    return invalid("ipcache.flags", "unknown flag bits");
  return {};
}

Status validate(uint32_t node_id, const sealnet_node_value& v) {
  const std::string obj = "node " + std::to_string(node_id);
  if (node_id == 0 || node_id > SEALNET_MAX_NODE_ID)
    return invalid(obj, "node ids run 1..65535 (16 bits of the skb mark; 0 means no node)");
  if (v.peer_key_id != 0 && !sealnet_key_valid(v.peer_key_id))
    return invalid(obj + " peer_key_id", "key ids run 1..15 (0: the peer has none yet), got " +
                                             std::to_string(v.peer_key_id));
  if (v.flags & ~uint32_t{SEALNET_NODE_HAS_IPV4 | SEALNET_NODE_HAS_IPV6})
    return invalid(obj + " flags", "unknown flag bits");
  return {};
}

Status validate(const sealnet_device_value& v) {
  if (v.slot >= SEALNET_MAX_SLOTS)
    return invalid("device.slot", "slots are 4 bits of the skb mark (0..15), got " + std::to_string(v.slot));
  if (v.mode >= SEALNET_MODE_COUNT)
    return invalid("device.mode", "mode is software, crypto or packet, got " + std::to_string(v.mode));
  if (v.flags != 0) return invalid("device.flags", "unknown flag bits");
  return {};
}

std::string metric_name(uint32_t reason) {
  switch (reason) {
    case SEALNET_M_MARK_SOFTWARE: return "mark-software";
    case SEALNET_M_MARK_CRYPTO: return "mark-crypto";
    case SEALNET_M_MARK_PACKET: return "mark-packet";
    case SEALNET_M_LOCAL_PASS: return "local-pass";
    case SEALNET_M_NON_CLUSTER_PASS: return "non-cluster-pass";
    case SEALNET_M_NOT_IP: return "not-ip";
    case SEALNET_M_MALFORMED: return "malformed";
    case SEALNET_M_UNKNOWN_NODE: return "unknown-node";
    case SEALNET_M_NO_KEY: return "no-key";
    case SEALNET_M_UNKNOWN_DEVICE: return "unknown-device";
    case SEALNET_M_FIB_FAILED: return "fib-failed";
    case SEALNET_M_WIRE_ESP_SOFTWARE: return "wire-esp-software";
    case SEALNET_M_WIRE_ESP_CRYPTO: return "wire-esp-crypto";
    case SEALNET_M_WIRE_ESP_PACKET: return "wire-esp-packet";
    case SEALNET_M_WIRE_PLAINTEXT_DROPPED: return "plaintext-to-remote";
    case SEALNET_M_WIRE_PLAINTEXT_PASSED: return "plaintext-to-remote-passed";
    case SEALNET_M_WIRE_OTHER: return "wire-other";
    case SEALNET_M_NOT_CONFIGURED: return "not-configured";
    case SEALNET_M_HOST_PASS: return "host-pass";
    case SEALNET_M_NODE_NO_ADDR: return "node-no-address";
    case SEALNET_M_HOST_MISROUTED: return "host-misrouted";
    case SEALNET_M_WIRE_HOST_PASS: return "wire-host-pass";
    default: break;
  }
  if (reason >= SEALNET_M_FIB_RET_BASE && reason < SEALNET_M_COUNT) {
    const uint32_t rc = reason - SEALNET_M_FIB_RET_BASE;
    if (rc == SEALNET_FIB_RET_HELPER_ERROR) return "fib-helper-error";
    // BPF_FIB_LKUP_RET_* (include/uapi/linux/bpf.h), lower case: what a user
    // can look up. 0 (SUCCESS) is never counted.
    static constexpr const char* kFib[] = {"fib-success",      "fib-blackhole",   "fib-unreachable",
                                           "fib-prohibit",     "fib-not-fwded",   "fib-fwd-disabled",
                                           "fib-unsupp-lwt",   "fib-no-neigh",    "fib-frag-needed",
                                           "fib-no-src-addr"};
    if (rc < std::size(kFib)) return kFib[rc];
    return "fib-ret-" + std::to_string(rc);
  }
  return "unknown-" + std::to_string(reason);
}

bool metric_is_drop(uint32_t reason) {
  switch (reason) {
    case SEALNET_M_MALFORMED:
    case SEALNET_M_UNKNOWN_NODE:
    case SEALNET_M_NO_KEY:
    case SEALNET_M_UNKNOWN_DEVICE:
    case SEALNET_M_FIB_FAILED:
    case SEALNET_M_WIRE_PLAINTEXT_DROPPED:
    case SEALNET_M_NODE_NO_ADDR:
    case SEALNET_M_HOST_MISROUTED:
      return true;
    default:
      return false;
  }
}

}  // namespace sealnet::bpf
