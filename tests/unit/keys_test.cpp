#include "keys/keys.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace sealnet::keys {
namespace {

constexpr const char* kKey128 = "0x000102030405060708090a0b0c0d0e0f10111213";  // 16 + 4 salt

TEST(KeyFile, ParsesCiliumAeadAndAuthEncLines) {
  auto set =
      parse_key_file(std::string("# rotation in flight\n") + "3+ rfc4106(gcm(aes)) " + kKey128 + " 128\n\n" +
                         "4 hmac(sha256) 00112233445566778899aabbccddeeff cbc(aes) "
                         "000102030405060708090a0b0c0d0e0f\n",
                     "keys");
  ASSERT_TRUE(set) << set.error().message();
  ASSERT_EQ(set->keys.size(), 2u);
  const Key& a = set->keys[0];
  EXPECT_EQ(a.id, 3);
  EXPECT_TRUE(a.per_pair);
  EXPECT_EQ(a.form, KeyForm::Aead);
  EXPECT_EQ(a.aead_key.size(), 20u);
  EXPECT_EQ(a.aead_key[19], 0x13);
  EXPECT_EQ(a.icv_bits, 128u);
  const Key& b = set->keys[1];
  EXPECT_EQ(b.form, KeyForm::AuthEnc);
  EXPECT_FALSE(b.per_pair);
  EXPECT_EQ(b.auth_key.size(), 16u);
  EXPECT_EQ(b.enc_key.size(), 16u);
  EXPECT_EQ(set->newest()->id, 4);
}

TEST(KeyFile, NewestWrapsAroundTheIdRing) {
  std::string text;
  for (int id : {14, 15, 1}) text += std::to_string(id) + " rfc4106(gcm(aes)) " + kKey128 + " 128\n";
  auto set = parse_key_file(text, "keys");
  ASSERT_TRUE(set) << set.error().message();
  EXPECT_EQ(set->newest()->id, 1);
}

TEST(KeyFile, RejectsIdsTooFarApartToOrder) {
  std::string text;
  // 6 comes after 1, 11 after 6, and 1 after 11: a cycle with no newest key.
  for (int id : {1, 6, 11}) text += std::to_string(id) + " rfc4106(gcm(aes)) " + kKey128 + " 128\n";
  auto set = parse_key_file(text, "keys");
  ASSERT_FALSE(set);
  EXPECT_NE(set.error().detail.find("too far apart"), std::string::npos);
}

struct BadLine {
  std::string line;
  std::string want;  // expected in the message: line and field
};

TEST(KeyFile, BadInputNamesLineAndFieldButNeverTheKey) {
  const std::string secret = "deadbeefdeadbeefdeadbeefdeadbeef";  // 16 bytes: wrong for rfc4106
  const BadLine cases[] = {
      {"0 rfc4106(gcm(aes)) " + std::string(kKey128) + " 128", "keys:2: field 1 (key id)"},
      {"16 rfc4106(gcm(aes)) " + std::string(kKey128) + " 128", "keys:2: field 1 (key id)"},
      {"x+ rfc4106(gcm(aes)) " + std::string(kKey128) + " 128", "keys:2: field 1 (key id)"},
      {"1 rfc4106(ccm(aes)) " + std::string(kKey128) + " 128", "keys:2: field 2 (algorithm)"},
      {"1 rfc4106(gcm(aes)) " + secret + " 128", "keys:2: field 3 (key): 16 bytes"},
      {"1 rfc4106(gcm(aes)) " + secret + "zz 128", "keys:2: field 3 (key): not hexadecimal"},
      {"1 rfc4106(gcm(aes)) " + secret + "0 128", "keys:2: field 3 (key): odd number"},
      {"1 rfc4106(gcm(aes)) " + std::string(kKey128) + " 100", "keys:2: field 4 (icv bits)"},
      {"1 hmac(md5) " + secret + " cbc(aes) " + secret, "keys:2: field 2 (auth algorithm)"},
      {"1 hmac(sha256) " + secret + " cbc(des) " + secret, "keys:2: field 4 (enc algorithm)"},
      {"1 hmac(sha256) " + secret + " cbc(aes) " + secret + "00", "keys:2: field 5 (enc key): 17 bytes"},
      {"1 rfc4106(gcm(aes)) " + secret, "keys:2: field 4 (line): 3 fields"},
      // Columns swapped: the key lands where a name or a number is expected, and
      // the message says what the field looks like, not what it holds.
      {"3 " + secret + " rfc4106(gcm(aes)) 128",
       "keys:2: field 2 (algorithm): unknown AEAD algorithm (a field "
       "of 32 characters, all hex digits: is a key in this column?)"},
      {secret + " rfc4106(gcm(aes)) 3 128",
       "keys:2: field 1 (key id): a field of 32 characters, all hex digits"},
      {"3 rfc4106(gcm(aes)) 128 " + secret, "keys:2: field 3 (key): odd number"},
      {"3 rfc4106(gcm(aes)) " + std::string(kKey128) + " " + secret,
       "keys:2: field 4 (icv bits): a field of 32"},
      {"3 hmac(sha256) " + secret + " " + secret + " cbc(aes)",
       "keys:2: field 4 (enc algorithm): unknown (a field"},
      {"3 " + secret + " hmac(sha256) cbc(aes) " + secret,
       "keys:2: field 2 (auth algorithm): unknown (a field"},
  };
  for (const auto& c : cases) {
    auto set = parse_key_file("# header\n" + c.line + "\n", "keys");
    ASSERT_FALSE(set) << c.line;
    const std::string msg = set.error().message();
    EXPECT_NE(msg.find(c.want), std::string::npos) << msg;
    EXPECT_EQ(msg.find(secret), std::string::npos) << "key material in: " << msg;
    EXPECT_EQ(msg.find("0102030405"), std::string::npos) << "key material in: " << msg;
  }
  auto dup = parse_key_file(
      std::string("2 rfc4106(gcm(aes)) ") + kKey128 + " 128\n2 rfc4106(gcm(aes)) " + kKey128 + " 128\n",
      "keys");
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.error().message().find("keys:2: field 1 (key id): key id 2 appears twice"),
            std::string::npos);
  EXPECT_FALSE(parse_key_file("# nothing\n\n", "keys"));
}

// Whatever a key file holds, no run of 8 hex digits of any hex field in it appears
// in what the parser says (errors go to the log, /status and /readyz).
TEST(KeyFile, FuzzedLinesNeverEchoKeyMaterial) {
  std::mt19937 rng(20261203);  // fixed seed: a failure reproduces
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  auto hex = [&](size_t digits) {
    std::string h;
    for (size_t i = 0; i < digits; ++i) h += "0123456789abcdefABCDEF"[pick(22)];
    return h;
  };
  auto junk = [&](size_t n) {
    std::string j;
    for (size_t i = 0; i < n; ++i) j += static_cast<char>(pick(256));
    return j;
  };
  const std::vector<std::string> names = {
      "rfc4106(gcm(aes))", "hmac(sha256)", "cbc(aes)", "128", "96", "3", "3+", "15", "0", "-1", "#"};
  size_t parsed = 0, refused = 0;
  for (int round = 0; round < 4000; ++round) {
    std::string text;
    std::vector<std::string> secrets;
    const size_t lines = 1 + pick(3);
    for (size_t l = 0; l < lines; ++l) {
      std::vector<std::string> f;
      const size_t fields = 1 + pick(6);
      for (size_t i = 0; i < fields; ++i) {
        switch (pick(6)) {
          case 0:
          case 1: {  // a key: right, odd or wrong length, 0x or not, a typo in it
            std::string k = hex(std::array<size_t, 6>{40, 56, 72, 32, 41, 39}[pick(6)]);
            if (pick(4) == 0) k[pick(k.size())] = "gz!\0"[pick(4)];
            secrets.push_back(k);
            f.push_back(pick(2) ? "0x" + k : k);
            break;
          }
          case 2:
            f.push_back(names[pick(names.size())]);
            break;
          case 3:
            f.push_back(junk(1 + pick(12)));
            break;
          case 4: {
            std::string k = hex(4000 + pick(8000));  // a huge field
            secrets.push_back(k);
            f.push_back(k);
            break;
          }
          default:
            f.push_back(std::string(1, '\0') + hex(40));
            secrets.push_back(f.back().substr(1));
            break;
        }
      }
      if (pick(3) == 0) std::shuffle(f.begin(), f.end(), rng);  // columns in any order
      for (size_t i = 0; i < f.size(); ++i) text += (i ? (pick(2) ? " " : "\t") : "") + f[i];
      text += pick(3) == 0 ? "\r\n" : "\n";
    }
    auto set = parse_key_file(text, "keys");
    std::string out;
    if (set) {
      ++parsed;
      for (const auto& k : set->keys) out += k.describe() + "\n";
    } else {
      ++refused;
      out = set.error().message();
    }
    for (const auto& k : secrets)
      for (size_t i = 0; i + 8 <= k.size(); i += 4) {
        std::string window = k.substr(i, 8);
        if (window.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) continue;
        ASSERT_EQ(out.find(window), std::string::npos)
            << "key bytes " << window << " in: " << out << "\nfrom a file of " << text.size() << " bytes";
      }
  }
  EXPECT_GT(refused, 0u);
  RecordProperty("parsed", std::to_string(parsed));
}

TEST(KeyFile, DescribeShowsNoKeyBytes) {
  auto set = parse_key_file(std::string("7+ rfc4106(gcm(aes)) ") + kKey128 + " 96\n", "keys");
  ASSERT_TRUE(set);
  EXPECT_EQ(set->keys[0].describe(), "key 7+ rfc4106(gcm(aes)) 160-bit key, 96-bit ICV");
}

TEST(KeyFile, LoadRefusesLoosePermissions) {
  char path[] = "/tmp/sealnet-keys-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::string line = std::string("1 rfc4106(gcm(aes)) ") + kKey128 + " 128\n";
  ASSERT_EQ(::write(fd, line.data(), line.size()), static_cast<ssize_t>(line.size()));
  ::close(fd);
  ASSERT_EQ(::chmod(path, 0600), 0);
  auto ok = load_key_file(path);
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(ok->keys.size(), 1u);
  ASSERT_EQ(::chmod(path, 0640), 0);
  auto loose = load_key_file(path);
  ASSERT_FALSE(loose);
  EXPECT_EQ(loose.error().err, EPERM);
  EXPECT_NE(loose.error().message().find("mode 0640"), std::string::npos) << loose.error().message();
  ::unlink(path);
  EXPECT_EQ(load_key_file(path).error().err, ENOENT);
}

// A 0600 file of another, unprivileged user: that user can rewrite the keys.
TEST(KeyFile, LoadRefusesAFileAnotherUserOwns) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give the file to another user";
  char path[] = "/tmp/sealnet-keys-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::string line = std::string("1 rfc4106(gcm(aes)) ") + kKey128 + " 128\n";
  ASSERT_EQ(::write(fd, line.data(), line.size()), static_cast<ssize_t>(line.size()));
  ASSERT_EQ(::fchmod(fd, 0600), 0);
  ASSERT_EQ(::fchown(fd, 65534, 65534), 0);  // nobody
  ::close(fd);
  auto r = load_key_file(path);
  ::unlink(path);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().err, EPERM);
  EXPECT_NE(r.error().message().find("owned by uid 65534"), std::string::npos) << r.error().message();
}

// Issue 15 item 3: 0600 or 0400 only; the Secret volume's ..data symlinks are
// followed, a symlink out of the directory and a directory others can write are not.
TEST(KeyFile, LoadAcceptsOnlyStrictModesAndTheSecretLayout) {
  char tmpl[] = "/tmp/sealnet-keydir-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::string line = std::string("1+ rfc4106(gcm(aes)) ") + kKey128 + " 128\n";
  auto write = [&](const std::string& path, mode_t mode) {
    std::ofstream(path) << line;
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
  };
  auto err_of = [](const std::string& path) {
    auto r = load_key_file(path);
    return r ? std::string("accepted") : r.error().message();
  };
  const std::string plain = dir + "/keys";
  write(plain, 0600);
  EXPECT_EQ(err_of(plain), "accepted");
  ASSERT_EQ(::chmod(plain.c_str(), 0400), 0);
  EXPECT_EQ(err_of(plain), "accepted");  // a Secret with defaultMode: 0400
  for (mode_t bad : {0700, 0500, 0200, 0000, 0640, 0604, 04600}) {
    ASSERT_EQ(::chmod(plain.c_str(), bad), 0);
    const std::string e = err_of(plain);
    EXPECT_NE(e.find("chmod 0600 it"), std::string::npos) << std::oct << bad << ": " << e;
  }
  ASSERT_EQ(::chmod(plain.c_str(), 0600), 0);

  // The Secret volume: keys -> ..data/keys, ..data -> ..2026_12_04/.
  const std::string vol = dir + "/vol";
  ASSERT_EQ(::mkdir(vol.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((vol + "/..2026_12_04").c_str(), 0755), 0);
  write(vol + "/..2026_12_04/keys", 0400);
  ASSERT_EQ(::symlink("..2026_12_04", (vol + "/..data").c_str()), 0);
  ASSERT_EQ(::symlink("..data/keys", (vol + "/keys").c_str()), 0);
  EXPECT_EQ(err_of(vol + "/keys"), "accepted");

  // A symlink out of its directory: whoever controls the target controls the keys.
  const std::string out = dir + "/vol2";
  ASSERT_EQ(::mkdir(out.c_str(), 0755), 0);
  ASSERT_EQ(::symlink(plain.c_str(), (out + "/keys").c_str()), 0);
  EXPECT_NE(err_of(out + "/keys").find("a symlink that leaves its directory"), std::string::npos)
      << err_of(out + "/keys");
  // A directory group or others can write (not sticky): they could swap the file.
  ASSERT_EQ(::chmod(vol.c_str(), 0777), 0);
  EXPECT_NE(err_of(vol + "/keys").find("is writable by group or others"), std::string::npos) << err_of(vol + "/keys");
  ASSERT_EQ(::chmod(vol.c_str(), 01777), 0);  // sticky, as /tmp: others cannot rename our entries
  EXPECT_EQ(err_of(vol + "/keys"), "accepted");
  ASSERT_EQ(::chmod((vol + "/..2026_12_04").c_str(), 0775), 0);
  EXPECT_NE(err_of(vol + "/keys").find("..2026_12_04 is writable by group or others"), std::string::npos)
      << err_of(vol + "/keys");
  // No key byte in any of these messages.
  for (const std::string& p : {plain, vol + "/keys", out + "/keys"})
    EXPECT_EQ(err_of(p).find("000102"), std::string::npos);
  std::filesystem::remove_all(dir);
}

// Shared AEAD keys (no "+") are named, with the "+" form shown and no key byte;
// load_key_file refuses them unless allowed. Auth+enc keys are not AEAD keys.
TEST(KeyFile, SharedAeadKeysAreRefusedUnlessAllowed) {
  const std::string text = std::string("1 rfc4106(gcm(aes)) ") + kKey128 + " 96\n2+ rfc4106(gcm(aes)) " +
                           kKey128 + " 128\n3 hmac(sha256) 00112233445566778899aabbccddeeff cbc(aes) " +
                           "000102030405060708090a0b0c0d0e0f\n";
  auto set = parse_key_file(text, "keys");
  ASSERT_TRUE(set) << set.error().message();
  EXPECT_EQ(shared_aead_keys(*set), (std::vector<uint8_t>{1}));
  const std::string problem = shared_key_problem(*set);
  EXPECT_NE(problem.find("key 1 is shared by every node pair"), std::string::npos) << problem;
  EXPECT_NE(problem.find("\"1+ rfc4106(gcm(aes)) <hex key> 96\""), std::string::npos) << problem;
  EXPECT_EQ(problem.find("0001020304"), std::string::npos);
  set->keys.erase(set->keys.begin());
  EXPECT_EQ(shared_key_problem(*set), "");

  char path[] = "/tmp/sealnet-keys-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  ASSERT_EQ(::fchmod(fd, 0600), 0);
  ::close(fd);
  auto refused = load_key_file(path, false);
  auto allowed = load_key_file(path, true);
  ::unlink(path);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().err, EPERM);
  const std::string msg = refused.error().message();
  EXPECT_NE(msg.find("keys: {allow_shared: true}"), std::string::npos) << msg;
  EXPECT_NE(msg.find("1+ rfc4106(gcm(aes))"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("0001020304"), std::string::npos) << msg;
  ASSERT_TRUE(allowed) << allowed.error().message();
  EXPECT_EQ(allowed->keys.size(), 3u);
}

TEST(PairKey, DirectionalDeterministicAndKeyLength) {
  SecretBytes shared(20, 0x42);
  auto a = *IpAddr::parse("192.0.2.1"), b = *IpAddr::parse("192.0.2.2");
  auto ab = derive_pair_key(shared, a, b);
  auto ab2 = derive_pair_key(shared, a, b);
  auto ba = derive_pair_key(shared, b, a);
  ASSERT_TRUE(ab && ab2 && ba);
  EXPECT_EQ(ab->size(), 20u);
  EXPECT_EQ(*ab, *ab2);
  EXPECT_NE(*ab, *ba);
  EXPECT_NE(*ab, shared);
  // Golden value: HKDF-SHA256(salt "sealnet pair key v1", ikm 0x42 x 20,
  // info = 02 c0000201 02 c0000202); a change here breaks every mixed-version cluster.
  // (computed independently with Python's hmac module)
  const SecretBytes want = {0x5f, 0xd8, 0x52, 0xf6, 0x3e, 0x0a, 0x57, 0x50, 0x12, 0x6c,
                            0xee, 0x22, 0x10, 0xf4, 0x36, 0xf2, 0x2b, 0xd2, 0x4d, 0x5d};
  EXPECT_EQ(*ab, want);
}

}  // namespace
}  // namespace sealnet::keys
