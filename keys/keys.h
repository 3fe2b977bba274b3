// The IPsec key file (Cilium's format): strict parsing whose errors never quote
// key material, the KeySet the agent installs, and per-pair key derivation.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/ip.h"
#include "core/secret.h"

namespace sealnet::keys {

// Key memory is wiped on release (core/secret.h); the names stay here for callers.
template <typename T>
using WipingAllocator = sealnet::WipingAllocator<T>;
using SecretBytes = sealnet::SecretBytes;

enum class KeyForm { Aead, AuthEnc };

// One key of the key file. Printing it (describe()) never shows key bytes.
struct Key {
  uint8_t id = 0;         // 1..15: the key id in the packet mark and the SPI
  bool per_pair = false;  // "+": each node pair derives its own key from this one
  KeyForm form = KeyForm::Aead;
  std::string aead_algo;  // rfc4106(gcm(aes))
  SecretBytes aead_key;   // AES key followed by the 4-byte salt
  uint32_t icv_bits = 0;  // 64, 96 or 128
  std::string auth_algo;  // hmac(sha256), ...
  SecretBytes auth_key;
  std::string enc_algo;  // cbc(aes)
  SecretBytes enc_key;

  std::string describe() const;  // "key 3 rfc4106(gcm(aes)) 128-bit ICV, 160-bit key, per-pair"
  bool operator==(const Key&) const = default;  // every field, key bytes included
};

struct KeySet {
  std::vector<Key> keys;  // in file order; ids are unique
  const Key* find(uint8_t id) const;
  // The newest key: the one the others wrap up to (key ids run 1..15, then 1).
  const Key* newest() const;
  bool operator==(const KeySet&) const = default;
};

// Parses the text of a key file in the format of Cilium's IPsec secret, one key
// a line:
//   <id>[+] <aead-algo> <hex key> <icv bits>
//   <id>[+] <auth-algo> <hex auth key> <enc-algo> <hex enc key>
// Blank lines and lines starting with '#' are ignored. `source` names the file in
// errors, which cite the line and field but never the key.
Result<KeySet> parse_key_file(std::string_view text, const std::string& source);

// Reads and parses a key file. Refused, with the reason: a mode other than 0600
// or 0400; an owner other than root or the agent's euid; not a regular file; a
// symlink that leaves the file's directory (the Secret volume's ..data layout
// inside it is followed); a directory on the way owned by another user or
// writable by group or others (unless sticky).
Result<KeySet> load_key_file(const std::string& path);

// Shared AEAD keys (an AEAD line without "+"): every node pair encrypts under the
// same key, so two pairs' sequence numbers (and the GCM nonces made from them)
// repeat under one key — the reason Cilium deprecated such keys after
// CVE-2024-28860. shared_aead_keys lists their ids; shared_key_problem says what
// is wrong and shows the "+" form (never a key byte): the agent refuses such a
// file unless its config says `keys: {allow_shared: true}`, and warns when it
// does.
std::vector<uint8_t> shared_aead_keys(const KeySet& ks);
std::string shared_key_problem(const KeySet& ks);  // empty when every AEAD key is per-pair
// The key file, as load_key_file reads it, refused (with shared_key_problem and
// how to allow it) when it holds a shared AEAD key and allow_shared is false.
Result<KeySet> load_key_file(const std::string& path, bool allow_shared);

// The key of one direction of a node pair for a per-pair ("+") key: HKDF-SHA256
// of the shared key, salted with a fixed label and bound to both node addresses
// in order, so src->dst and dst->src get different keys and both ends derive the
// same one. The derived key has the length of the shared key; for AEAD keys the
// salt is derived with it.
Result<SecretBytes> derive_pair_key(const SecretBytes& shared, const IpAddr& src, const IpAddr& dst);

}  // namespace sealnet::keys
