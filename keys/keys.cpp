#include "keys/keys.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <ranges>

#include "core/fd.h"
#include "keys/ring.h"

namespace sealnet::keys {

namespace {

struct AeadSpec {
  std::string_view name;
  std::array<size_t, 3> key_bytes;  // accepted lengths, including the salt
};
// RFC 4106: the key is the AES key followed by a 4-byte salt.
constexpr AeadSpec kAead[] = {{"rfc4106(gcm(aes))", {20, 28, 36}}};
constexpr uint32_t kIcvBits[] = {64, 96, 128};
constexpr std::string_view kAuth[] = {"hmac(sha256)", "hmac(sha384)", "hmac(sha512)", "hmac(sha1)"};
constexpr size_t kAuthMinBytes = 16;
constexpr std::string_view kEncCbc = "cbc(aes)";
constexpr size_t kEncBytes[] = {16, 24, 32};

struct LineError {
  const std::string& source;
  size_t line;
  std::unexpected<Error> operator()(size_t field, std::string_view name, std::string what) const {
    return fail(0, "parse key file", source + ":" + std::to_string(line),
                "field " + std::to_string(field) + " (" + std::string(name) + "): " + what);
  }
};

std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t' && line[j] != '\r') ++j;
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// What a field looks like, never what it holds: any field may be key material
// in the wrong column (a line with its columns swapped), so no error about a key
// line quotes a field (tests/unit/keys_test.cpp fuzzes this).
std::string shape(std::string_view f) {
  std::string_view digits = f;
  if (digits.starts_with("0x") || digits.starts_with("0X")) digits.remove_prefix(2);
  const bool hex = !digits.empty() && std::ranges::all_of(digits, [](char c) { return hex_digit(c) >= 0; });
  std::string s = "a field of " + std::to_string(f.size()) + " character" + (f.size() == 1 ? "" : "s");
  if (hex && digits.size() >= 16) s += ", all hex digits: is a key in this column?";
  return s;
}

// Decodes hex (an optional 0x prefix). The error never quotes the text.
std::expected<SecretBytes, std::string> decode_hex(std::string_view text) {
  if (text.starts_with("0x") || text.starts_with("0X")) text.remove_prefix(2);
  if (text.empty()) return std::unexpected("empty");
  if (text.size() % 2) return std::unexpected("odd number of hex digits");
  SecretBytes out;
  out.reserve(text.size() / 2);
  for (size_t i = 0; i < text.size(); i += 2) {
    const int hi = hex_digit(text[i]), lo = hex_digit(text[i + 1]);
    if (hi < 0 || lo < 0) return std::unexpected("not hexadecimal at digit " + std::to_string(i + 1));
    out.push_back(static_cast<uint8_t>(hi << 4 | lo));
  }
  return out;
}

template <typename Range>
std::string join(const Range& r) {
  std::string s;
  for (const auto& v : r) {
    if (!s.empty()) s += ", ";
    if constexpr (std::is_arithmetic_v<std::decay_t<decltype(v)>>)
      s += std::to_string(v);
    else
      s += std::string(v);
  }
  return s;
}

// Newer on the key id ring, as the BPF programs decide it (keys/ring.h).
bool newer(uint8_t a, uint8_t b) {
  const __u32 ahead = sealnet_key_ahead(a, b);
  return ahead >= 1 && ahead <= SEALNET_KEY_HALF_RING;
}

Result<Key> parse_line(const std::vector<std::string_view>& f, const LineError& err) {
  Key k;
  std::string_view id = f[0];
  if (id.ends_with('+')) {
    k.per_pair = true;
    id.remove_suffix(1);
  }
  unsigned v = 0;
  auto [p, ec] = std::from_chars(id.data(), id.data() + id.size(), v);
  if (ec != std::errc() || p != id.data() + id.size() || id.empty() || v < 1 || v > 15)
    return err(1, "key id", shape(f[0]) + ", not a key id from 1 to 15 (optionally followed by +)");
  k.id = static_cast<uint8_t>(v);

  if (f.size() == 4) {
    k.form = KeyForm::Aead;
    auto spec = std::ranges::find(kAead, f[1], &AeadSpec::name);
    if (spec == std::end(kAead))
      return err(2, "algorithm",
                 "unknown AEAD algorithm (" + shape(f[1]) +
                     "); supported: " + join(std::views::transform(kAead, &AeadSpec::name)));
    k.aead_algo = f[1];
    auto key = decode_hex(f[2]);
    if (!key) return err(3, "key", key.error());
    if (std::ranges::find(spec->key_bytes, key->size()) == spec->key_bytes.end())
      return err(3, "key",
                 std::to_string(key->size()) + " bytes; " + std::string(spec->name) + " needs " +
                     join(spec->key_bytes) + " (AES-128/192/256 key + 4-byte salt)");
    k.aead_key = std::move(*key);
    auto [q, ec2] = std::from_chars(f[3].data(), f[3].data() + f[3].size(), k.icv_bits);
    if (ec2 != std::errc() || q != f[3].data() + f[3].size() ||
        std::ranges::find(kIcvBits, k.icv_bits) == std::end(kIcvBits))
      return err(4, "icv bits", shape(f[3]) + ", not one of " + join(kIcvBits));
    return k;
  }
  k.form = KeyForm::AuthEnc;
  if (std::ranges::find(kAuth, f[1]) == std::end(kAuth))
    return err(2, "auth algorithm", "unknown (" + shape(f[1]) + "); supported: " + join(kAuth));
  k.auth_algo = f[1];
  auto auth = decode_hex(f[2]);
  if (!auth) return err(3, "auth key", auth.error());
  if (auth->size() < kAuthMinBytes)
    return err(
        3, "auth key",
        std::to_string(auth->size()) + " bytes; at least " + std::to_string(kAuthMinBytes) + " needed");
  k.auth_key = std::move(*auth);
  if (f[3] != kEncCbc)
    return err(4, "enc algorithm", "unknown (" + shape(f[3]) + "); supported: " + std::string(kEncCbc));
  k.enc_algo = f[3];
  auto enc = decode_hex(f[4]);
  if (!enc) return err(5, "enc key", enc.error());
  if (std::ranges::find(kEncBytes, enc->size()) == std::end(kEncBytes))
    return err(5, "enc key", std::to_string(enc->size()) + " bytes; cbc(aes) needs " + join(kEncBytes));
  k.enc_key = std::move(*enc);
  return k;
}

}  // namespace

std::string Key::describe() const {
  std::string s = "key " + std::to_string(id) + (per_pair ? "+" : "") + " ";
  if (form == KeyForm::Aead)
    s += aead_algo + " " + std::to_string(aead_key.size() * 8) + "-bit key, " + std::to_string(icv_bits) +
         "-bit ICV";
  else
    s += auth_algo + " " + std::to_string(auth_key.size() * 8) + "-bit key + " + enc_algo + " " +
         std::to_string(enc_key.size() * 8) + "-bit key";
  return s;
}

const Key* KeySet::find(uint8_t id) const {
  auto it = std::ranges::find(keys, id, &Key::id);
  return it == keys.end() ? nullptr : &*it;
}

const Key* KeySet::newest() const {
  const Key* best = nullptr;
  for (const auto& k : keys)
    if (!best || newer(k.id, best->id)) best = &k;
  return best;
}

Result<KeySet> parse_key_file(std::string_view text, const std::string& source) {
  KeySet set;
  size_t line_no = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++line_no;
    const auto f = split_fields(line);
    if (f.empty() || f[0].starts_with('#')) continue;
    const LineError err{source, line_no};
    if (f.size() != 4 && f.size() != 5)
      return err(f.size() + 1 > 5 ? 6 : f.size() + 1, "line",
                 std::to_string(f.size()) +
                     " fields; expected '<id>[+] <aead-algo> <hex key> <icv bits>' "
                     "or '<id>[+] <auth-algo> <hex auth key> <enc-algo> <hex enc key>'");
    auto key = parse_line(f, err);
    if (!key) return std::unexpected(key.error());
    if (set.find(key->id)) return err(1, "key id", "key id " + std::to_string(key->id) + " appears twice");
    set.keys.push_back(std::move(*key));
  }
  if (set.keys.empty()) return fail(0, "parse key file", source, "no key in the file");
  // Ids in flight must order unambiguously on the ring, or "newest" means nothing.
  const Key* top = set.newest();
  for (const auto& k : set.keys)
    if (&k != top && !newer(top->id, k.id))
      return fail(0, "parse key file", source,
                  "key ids " + std::to_string(top->id) + " and " + std::to_string(k.id) +
                      " are too far apart to order (keys in flight must lie within 7 steps of each other)");
  return set;
}

namespace {

bool trusted_owner(uid_t uid) { return uid == 0 || uid == ::geteuid(); }

// Where the key file really is: the path itself, or through symlinks that stay
// in the key file's directory (a Kubernetes Secret volume: keys -> ..data/keys,
// ..data -> ..<timestamp>/). Every directory from the real file up to the key
// file's directory is owned by root or the agent and writable by no one else
// (unless sticky, as /tmp): whoever can rename in it can swap the keys.
Status check_key_path(const std::string& path) {
  struct stat lst {};
  if (::lstat(path.c_str(), &lst) != 0) return fail_errno("open key file", path);
  const std::filesystem::path given = std::filesystem::absolute(path).lexically_normal();
  std::error_code ec;
  const std::filesystem::path dir = std::filesystem::canonical(given.parent_path(), ec);
  if (ec) return fail(ec.value(), "open key file", path, "its directory: " + ec.message());
  const std::filesystem::path real = std::filesystem::canonical(given, ec);
  if (ec) return fail(ec.value(), "open key file", path, ec.message());
  if (S_ISLNK(lst.st_mode)) {
    auto [d, r] = std::mismatch(dir.begin(), dir.end(), real.begin(), real.end());
    if (d != dir.end())
      return fail(EPERM, "load key file", path,
                  "a symlink that leaves its directory (to " + real.string() +
                      "); only a Secret volume's ..data layout inside the directory is followed");
  }
  for (std::filesystem::path p = real.parent_path();; p = p.parent_path()) {
    struct stat ds {};
    if (::stat(p.c_str(), &ds) != 0) return fail_errno("stat key file directory", p.string());
    if (!trusted_owner(ds.st_uid))
      return fail(EPERM, "load key file", path,
                  "directory " + p.string() + " is owned by uid " + std::to_string(ds.st_uid) +
                      ", who could swap the keys; chown it to root");
    if ((ds.st_mode & 022) && !(ds.st_mode & S_ISVTX))
      return fail(EPERM, "load key file", path,
                  "directory " + p.string() + " is writable by group or others, who could swap the keys");
    if (p == dir || p == p.parent_path()) break;
  }
  return {};
}

// The file itself: a regular file, 0600 or 0400 (what a Secret with
// defaultMode: 0400 gives), owned by root or the agent (whoever owns it can
// rewrite the keys).
Status check_key_file(const std::string& path, const struct stat& st) {
  if (!S_ISREG(st.st_mode)) return fail(0, "load key file", path, "not a regular file");
  const mode_t perm = st.st_mode & 07777;
  if (perm != 0600 && perm != 0400) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", perm);
    return fail(EPERM, "load key file", path,
                std::string("mode ") + mode +
                    ((perm & 077) ? " lets group or others read or write it" : " is neither 0600 nor 0400") +
                    "; chmod 0600 it");
  }
  if (!trusted_owner(st.st_uid))
    return fail(EPERM, "load key file", path,
                "owned by uid " + std::to_string(st.st_uid) + ", who could rewrite the keys; chown it to root");
  return {};
}

}  // namespace

Result<KeySet> load_key_file(const std::string& path) {
  if (auto ok = check_key_path(path); !ok) return std::unexpected(ok.error());
  // Checked before it is opened (a mode that forbids reading still gets its
  // reason), and again on what was opened.
  struct stat before {};
  if (::stat(path.c_str(), &before) != 0) return fail_errno("stat key file", path);
  if (auto ok = check_key_file(path, before); !ok) return std::unexpected(ok.error());
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return fail_errno("open key file", path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail_errno("stat key file", path);
  if (auto ok = check_key_file(path, st); !ok) return std::unexpected(ok.error());
  SecretBytes buf(static_cast<size_t>(st.st_size) + 1);
  size_t len = 0;
  for (;;) {
    if (len == buf.size()) buf.resize(buf.size() * 2);
    const ssize_t n = ::read(fd.get(), buf.data() + len, buf.size() - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail_errno("read key file", path);
    if (n == 0) break;
    len += static_cast<size_t>(n);
  }
  return parse_key_file(std::string_view(reinterpret_cast<const char*>(buf.data()), len), path);
}

Result<SecretBytes> derive_pair_key(const SecretBytes& shared, const IpAddr& src, const IpAddr& dst) {
  static constexpr std::string_view kSalt = "sealnet pair key v1";
  std::vector<uint8_t> info;
  info.push_back(src.family);
  info.insert(info.end(), src.bytes.begin(), src.bytes.begin() + static_cast<long>(src.size()));
  info.push_back(dst.family);
  info.insert(info.end(), dst.bytes.begin(), dst.bytes.begin() + static_cast<long>(dst.size()));
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr),
                                                                  EVP_PKEY_CTX_free);
  SecretBytes out(shared.size());
  size_t out_len = out.size();
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) <= 0 ||
      EVP_PKEY_CTX_set_hkdf_md(ctx.get(), EVP_sha256()) <= 0 ||
      EVP_PKEY_CTX_set1_hkdf_salt(ctx.get(), reinterpret_cast<const unsigned char*>(kSalt.data()),
                                  static_cast<int>(kSalt.size())) <= 0 ||
      EVP_PKEY_CTX_set1_hkdf_key(ctx.get(), shared.data(), static_cast<int>(shared.size())) <= 0 ||
      EVP_PKEY_CTX_add1_hkdf_info(ctx.get(), info.data(), static_cast<int>(info.size())) <= 0 ||
      EVP_PKEY_derive(ctx.get(), out.data(), &out_len) <= 0 || out_len != out.size())
    return fail(0, "derive pair key", src.str() + " -> " + dst.str(), "OpenSSL HKDF failed");
  return out;
}

std::vector<uint8_t> shared_aead_keys(const KeySet& ks) {
  std::vector<uint8_t> ids;
  for (const Key& k : ks.keys)
    if (k.form == KeyForm::Aead && !k.per_pair) ids.push_back(k.id);
  return ids;
}

std::string shared_key_problem(const KeySet& ks) {
  const auto ids = shared_aead_keys(ks);
  if (ids.empty()) return {};
  std::string list;
  for (uint8_t id : ids) list += (list.empty() ? "" : ", ") + std::to_string(id);
  const Key& k = *ks.find(ids.front());
  return std::string(ids.size() == 1 ? "key " : "keys ") + list +
         (ids.size() == 1 ? " is" : " are") +
         " shared by every node pair (no \"+\" after the id): pairs reuse GCM nonces under one key "
         "(CVE-2024-28860); write \"" + std::to_string(k.id) + "+ " + k.aead_algo + " <hex key> " +
         std::to_string(k.icv_bits) + "\" so each node pair derives its own key";
}

Result<KeySet> load_key_file(const std::string& path, bool allow_shared) {
  auto ks = load_key_file(path);
  if (!ks || allow_shared) return ks;
  if (auto problem = shared_key_problem(*ks); !problem.empty())
    return fail(EPERM, "load key file", path,
                problem + ", or allow shared keys with `keys: {allow_shared: true}` in the agent's config");
  return ks;
}

}  // namespace sealnet::keys
