// XFRM netlink messages as pure functions: typed states and policies in, wire
// bytes out (and back). No socket here: netlink/transport.h sends them. Keys travel
// only inside encoded bytes; decoded states never carry key material.
#pragma once

#include <linux/xfrm.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/ip.h"
#include "core/secret.h"
#include "netlink/transport.h"

namespace sealnet::xfrm {

enum class Direction : uint8_t { out, in };

// How an SA is bound to a device. crypto: the NIC encrypts, the kernel does the
// rest and falls back to software when the route leaves by another device.
// packet: the NIC does all of ESP and the SA works only on that device.
enum class OffloadMode : uint8_t { none, crypto, packet };

const char* to_string(Direction d);
const char* to_string(OffloadMode m);

// An AEAD transform as XFRMA_ALG_AEAD carries it. For rfc4106(gcm(aes)) the key
// is the AES key followed by the 4-byte salt (RFC 4106 section 8.1).
// The key lives in wiped memory (core/secret.h); any byte span converts.
struct Aead {
  std::string name = "rfc4106(gcm(aes))";
  SecretBytes key;
  uint32_t icv_bits = 128;

  Aead() = default;
  Aead(std::string n, std::span<const uint8_t> k, uint32_t icv)
      : name(std::move(n)), key(k.begin(), k.end()), icv_bits(icv) {}
};

// The auth+enc form (Cilium's "<id> <auth-algo> <auth key> <enc-algo> <enc key>"):
// XFRMA_ALG_AUTH_TRUNC (hmac truncated to trunc_bits) plus XFRMA_ALG_CRYPT.
struct AuthEnc {
  std::string auth_name = "hmac(sha256)";
  SecretBytes auth_key;
  uint32_t trunc_bits = 128;  // RFC 4868: HMAC-SHA-256-128
  std::string enc_name = "cbc(aes)";
  SecretBytes enc_key;
};

// A plain cipher (XFRMA_ALG_CRYPT) without authentication: only for probing
// whether the kernel has ESP at all, with "ecb(cipher_null)".
struct Cipher {
  std::string name = "ecb(cipher_null)";
  SecretBytes key;  // empty for cipher_null; wiped like every key buffer
};

struct Mark {
  uint32_t value = 0;
  uint32_t mask = 0;
  bool operator==(const Mark&) const = default;
};

// What identifies an SA in the kernel: (daddr, spi, proto), plus its mark when it
// has one (two SAs may differ only by mark).
struct SaId {
  IpAddr daddr;
  uint32_t spi = 0;    // host order here, network order on the wire
  uint8_t proto = 50;  // IPPROTO_ESP
  bool operator==(const SaId&) const = default;
};

struct Selector {
  IpPrefix src;
  IpPrefix dst;
  uint8_t proto = 0;  // 0: any
  bool operator==(const Selector&) const = default;
};

struct OffloadRequest {
  int ifindex = 0;
  OffloadMode mode = OffloadMode::crypto;
  Direction dir = Direction::out;
  bool operator==(const OffloadRequest&) const = default;
};

enum class SaMode : uint8_t { transport = XFRM_MODE_TRANSPORT, tunnel = XFRM_MODE_TUNNEL };

struct SaSpec {
  SaId id;
  IpAddr saddr;
  uint32_t reqid = 0;
  SaMode mode = SaMode::tunnel;
  Selector selector;  // empty prefixes: the kernel's "any" of the SA's family
  // Exactly one of the three transforms.
  std::optional<Aead> aead;
  std::optional<AuthEnc> auth_enc;
  std::optional<Cipher> cipher;
  // Anti-replay window in packets. With esn, or a window above the legacy
  // 32-bit bitmap's reach, it travels in XFRMA_REPLAY_ESN_VAL (the kernel then
  // refuses a non-zero xfrm_usersa_info.replay_window).
  uint32_t replay_window = 0;
  // 64-bit sequence numbers (RFC 4303 section 2.2.1): the 32-bit counter can no
  // longer run out and silently stop the SA.
  bool esn = false;
  std::optional<Mark> mark;
  // XFRMA_SET_MARK (+ _MASK): the mark the packet carries after this SA, which
  // the policy-routing rules of the egress slot match.
  std::optional<Mark> set_mark;
  uint32_t extra_flags = 0;  // XFRMA_SA_EXTRA_FLAGS (XFRM_SA_XFLAG_*); 0: not sent
  std::optional<OffloadRequest> offload;
};

// XFRM_MSG_NEWSA (create only, fails with EEXIST) or, with update, XFRM_MSG_UPDSA
// (replace in place: no window without a state during rekeys).
Result<nl::Bytes> encode_new_sa(const SaSpec& sa, bool update = false);
// What a NEWSA/UPDSA reserves besides its key bytes (more than any state needs:
// header 240, attributes under 200), so its buffer never reallocates. Callers
// send it through nl::Socket::transact, which wipes it, or nl::wipe it.
inline constexpr size_t kSaMessageRoom = 1024;
Result<nl::Bytes> encode_get_sa(const SaId& id, std::optional<Mark> mark = std::nullopt);
Result<nl::Bytes> encode_delete_sa(const SaId& id, std::optional<Mark> mark = std::nullopt);
// A dump of every SA of one protocol in the socket's namespace.
Result<nl::Bytes> encode_dump_sa(uint8_t proto = 50);
// Only the SAs of one protocol from a source prefix to a destination prefix (one
// family): the kernel filters the walk (XFRMA_ADDRESS_FILTER, xfrm_dump_sa ->
// __xfrm_state_filter_match), so no other SA, and none of its key bytes, is
// copied into the reply.
struct SaDumpFilter {
  IpPrefix src;
  IpPrefix dst;
  uint8_t proto = 50;
};
Result<nl::Bytes> encode_dump_sa(const SaDumpFilter& filter);

// The offload the kernel reports on read-back (XFRMA_OFFLOAD_DEV). Its absence on
// a state that asked for crypto offload means the kernel made it a software SA.
struct OffloadInfo {
  int ifindex = 0;
  uint8_t flags = 0;  // XFRM_OFFLOAD_*
  OffloadMode mode() const;
  Direction dir() const;
};

struct LifetimeCounters {
  uint64_t bytes = 0;
  uint64_t packets = 0;
  uint64_t add_time = 0;  // seconds since the epoch
  uint64_t use_time = 0;
};

// xfrm_usersa_info.stats: packets the state refused.
struct SaStats {
  uint32_t replay_window = 0;     // outside the replay window
  uint32_t replay = 0;            // replayed
  uint32_t integrity_failed = 0;  // ICV check failed
};

// What a dump needs of a state: its identity and its counters, nothing of its
// transform (no algorithm, no key). The reconciler diffs against these and keeps
// the last dump's as its view (offload/reconciler.h); the status reads that view.
struct SaEntry {
  SaId id;
  IpAddr saddr;
  uint32_t reqid = 0;
  SaMode mode = SaMode::tunnel;
  uint32_t replay_window = 0;  // from XFRMA_REPLAY_ESN_VAL when present
  bool esn = false;
  uint8_t flags = 0;  // XFRM_STATE_*
  Selector selector;
  std::optional<Mark> mark;
  std::optional<Mark> set_mark;
  uint32_t extra_flags = 0;
  std::optional<OffloadInfo> offload;
  LifetimeCounters current;
  SaStats stats;
};
// The entry of a NEWSA/UPDSA message (a dump entry, a GETSA reply). The
// algorithm attributes, which hold the key, are not read at all.
Result<SaEntry> decode_sa_entry(const nl::MessageView& msg);

// A state as the kernel reports it, with its transform's names and sizes (the
// probe and the read-backs check them); still without its key.
struct SaInfo : SaEntry {
  std::string aead_name;  // empty when the SA uses no AEAD
  uint32_t aead_key_bits = 0;
  uint32_t aead_icv_bits = 0;
  std::string auth_name;  // the auth+enc form
  uint32_t auth_trunc_bits = 0;
  std::string enc_name;
};
Result<SaInfo> decode_sa(const nl::MessageView& msg);

// Policies: enough for the offload issue to build on (one policy per mark slot).
// The kernel's output lookup wants the state's reqid to equal the template's
// (0 matches only reqid-0 states), and in tunnel mode the addresses to match,
// a template source of 0.0.0.0/:: matching any (xfrm_state_addr_cmp).
struct Template {
  SaId id;  // daddr + proto; spi 0 lets any SA of the reqid match
  IpAddr saddr;
  uint32_t reqid = 0;
  SaMode mode = SaMode::tunnel;
  bool optional = false;  // "level use": a packet without this transform passes too
  bool operator==(const Template&) const = default;
};

enum class PolicyDir : uint8_t { in = XFRM_POLICY_IN, out = XFRM_POLICY_OUT, fwd = XFRM_POLICY_FWD };

struct PolicySpec {
  Selector selector;
  PolicyDir dir = PolicyDir::out;
  uint32_t priority = 0;
  std::optional<Mark> mark;
  std::vector<Template> templates;
  // Packet offload needs the policy on the device too (XFRMA_OFFLOAD_DEV).
  std::optional<OffloadRequest> offload;
  bool operator==(const PolicySpec&) const = default;
};

Result<nl::Bytes> encode_new_policy(const PolicySpec& p, bool update = false);
Result<nl::Bytes> encode_get_policy(const Selector& sel, PolicyDir dir,
                                    std::optional<Mark> mark = std::nullopt);
Result<nl::Bytes> encode_delete_policy(const Selector& sel, PolicyDir dir,
                                       std::optional<Mark> mark = std::nullopt);

// A dump of every policy (main policy database) of the socket's namespace.
Result<nl::Bytes> encode_dump_policy();

struct PolicyInfo {
  PolicySpec spec;
  uint32_t index = 0;
};
Result<PolicyInfo> decode_policy(const nl::MessageView& msg);

}  // namespace sealnet::xfrm
