// Key bytes in request buffers: an encoded NEWSA/UPDSA is built without
// reallocating (no unwiped copy of the key left in freed memory), and
// nl::Socket::transact wipes every request it sent before it returns.
#include <gtest/gtest.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <algorithm>

#include "netlink/xfrm_codec.h"

namespace sealnet::xfrm {
namespace {

SaSpec aead_state() {
  SaSpec sa;
  sa.id = {*IpAddr::parse("10.0.0.2"), 0x11000, 50};
  sa.saddr = *IpAddr::parse("10.0.0.1");
  const std::vector<uint8_t> key(20, 0x5A);
  sa.aead = Aead{"rfc4106(gcm(aes))", key, 128};
  sa.esn = true;
  sa.replay_window = 4096;
  sa.mark = Mark{0x21e00, 0xfffffff0};
  sa.set_mark = Mark{0xd00, 0xff0};
  sa.offload = OffloadRequest{3, OffloadMode::crypto, Direction::out};
  return sa;
}

bool holds_key(const nl::Bytes& m, uint8_t pattern, size_t n) {
  return std::search_n(m.begin(), m.end(), n, pattern) != m.end();
}

TEST(XfrmWipe, NewSaIsBuiltInOneAllocation) {
  auto m = encode_new_sa(aead_state(), true);
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_TRUE(holds_key(*m, 0x5A, 20));
  // Exactly what it reserved: had the buffer grown, the capacity would differ
  // and the old buffer (with the key, once put) would have gone back unwiped.
  EXPECT_EQ(m->capacity(), kSaMessageRoom + 20);
  EXPECT_LT(m->size(), m->capacity());

  SaSpec ae = aead_state();
  ae.aead.reset();
  ae.auth_enc = AuthEnc{};
  ae.auth_enc->auth_key.assign(32, 0x6B);
  ae.auth_enc->enc_key.assign(16, 0x7C);
  auto n = encode_new_sa(ae);
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(n->capacity(), kSaMessageRoom + 48);
}

TEST(XfrmWipe, WipeZeroesInPlace) {
  auto m = encode_new_sa(aead_state());
  ASSERT_TRUE(m);
  const size_t size = m->size();
  nl::wipe(*m);
  EXPECT_EQ(m->size(), size);
  EXPECT_TRUE(std::all_of(m->begin(), m->end(), [](uint8_t b) { return b == 0; }));
}

TEST(XfrmWipe, TransactWipesWhatItSent) {
  // A harmless request the kernel answers without privilege: RTM_GETLINK of lo
  // (read only), carrying a marker where a key would be.
  nl::MessageBuilder b(RTM_GETLINK, 0);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = 1;
  b.header(ifi);
  b.put_str(IFLA_IFNAME, "lo");
  auto m = std::move(b).finish();
  ASSERT_TRUE(m);
  const size_t size = m->size();
  auto sock = nl::Socket::open(NETLINK_ROUTE);
  if (!sock) GTEST_SKIP() << sock.error().message();
  std::vector<nl::Bytes> reqs;
  reqs.push_back(std::move(*m));
  auto replies = sock->transact(std::move(reqs));
  ASSERT_TRUE(replies) << replies.error().message();
  ASSERT_EQ(replies->size(), 1u);
  EXPECT_TRUE(replies->front().status) << replies->front().status.error().message();
  EXPECT_FALSE(replies->front().messages.empty());  // it was really sent and answered
  // transact takes the requests by rvalue reference and leaves them in place, wiped.
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].size(), size);
  EXPECT_TRUE(std::all_of(reqs[0].begin(), reqs[0].end(), [](uint8_t x) { return x == 0; }));
}

// Whether any `window` consecutive bytes of `key` appear in [p, p + n).
bool contains_any_window(const uint8_t* p, size_t n, const std::vector<uint8_t>& key, size_t window) {
  for (size_t i = 0; i + window <= key.size(); ++i)
    if (std::search(p, p + n, key.begin() + static_cast<long>(i),
                    key.begin() + static_cast<long>(i + window)) != p + n)
      return true;
  return false;
}
template <typename T>
bool object_holds(const T& v, const std::vector<uint8_t>& key) {
  return contains_any_window(reinterpret_cast<const uint8_t*>(&v), sizeof v, key, 4);
}

// A dump entry is decoded without its transform: SaEntry has no field that
// could hold key material, and none of the message's key bytes end up in it.
template <typename T>
concept NamesItsTransform = requires(T e) {
  e.aead_name;
};
static_assert(!NamesItsTransform<SaEntry> && NamesItsTransform<SaInfo>);
TEST(XfrmWipe, ADecodedDumpEntryHoldsNoKeyBytes) {
  std::vector<uint8_t> key(20);
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(0xA0 + i);
  SaSpec sa = aead_state();
  sa.aead = Aead{"rfc4106(gcm(aes))", key, 128};
  auto m = encode_new_sa(sa);
  ASSERT_TRUE(m) << m.error().message();
  ASSERT_TRUE(contains_any_window(m->data(), m->size(), key, 20));  // the message does carry it
  auto views = nl::split_messages(*m);
  ASSERT_TRUE(views && views->size() == 1u);

  auto e = decode_sa_entry(views->front());
  ASSERT_TRUE(e) << e.error().message();
  EXPECT_EQ(e->id, sa.id);
  EXPECT_EQ(e->mark, sa.mark);
  EXPECT_EQ(e->replay_window, 4096u);
  EXPECT_TRUE(e->offload);
  EXPECT_FALSE(object_holds(*e, key));

  // The full decode (probe, read-backs) reads the algorithm's head only.
  auto info = decode_sa(views->front());
  ASSERT_TRUE(info) << info.error().message();
  EXPECT_EQ(info->aead_name, "rfc4106(gcm(aes))");
  EXPECT_EQ(info->aead_key_bits, 160u);
  EXPECT_FALSE(object_holds(*info, key));
  EXPECT_FALSE(contains_any_window(reinterpret_cast<const uint8_t*>(info->aead_name.data()),
                                   info->aead_name.size(), key, 4));
  nl::wipe(*m);
}

}  // namespace
}  // namespace sealnet::xfrm
