// The probe's leftover cleanup against a fake SAD that answers GETSA dumps as
// the kernel does (xfrm_dump_sa: XFRMA_PROTO and XFRMA_ADDRESS_FILTER applied by
// __xfrm_state_filter_match): the dump asks for the trial address pair only, so
// no production SA or key reaches the probe, and only trial SAs are deleted, by
// their identity and mark.
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <algorithm>

#include "probe/probe.h"

namespace sealnet::probe {
namespace {

IpAddr ip(const char* s) { return *IpAddr::parse(s); }

xfrm::SaSpec state(const char* src, const char* dst, uint32_t spi, uint32_t reqid, uint8_t key_byte,
                   std::optional<xfrm::Mark> mark = std::nullopt) {
  xfrm::SaSpec sa;
  sa.id = {ip(dst), spi, IPPROTO_ESP};
  sa.saddr = ip(src);
  sa.reqid = reqid;
  sa.selector = {IpPrefix::host(ip(src)), IpPrefix::host(ip(dst)), 0};
  sa.aead = xfrm::Aead{"rfc4106(gcm(aes))", std::vector<uint8_t>(20, key_byte), 128};
  sa.mark = mark;
  return sa;
}

IpAddr from_xfrm(const xfrm_address_t& a, uint16_t family) {
  IpAddr out;
  out.family = static_cast<uint8_t>(family);
  std::memcpy(out.bytes.data(), &a, out.size());
  return out;
}

// A SAD: production SAs (key bytes 0x5A, 0x5B) and trial leftovers (0xA0..).
struct FakeSad {
  std::vector<xfrm::SaSpec> states = {
      state("10.0.0.1", "10.0.0.2", 0x11000, 1, 0x5A, xfrm::Mark{0x11e00, 0xfffffff0}),
      state("10.0.0.2", "10.0.0.1", 0x12000, 1, 0x5B, xfrm::Mark{0x12e00, 0xfffffff0}),
      state(kTrialSrc, kTrialDst, 0xFFFFFF07, kTrialReqid, 0xA0),
      state(kTrialSrc, kTrialDst, 0xFFFFFF80, kTrialReqid, 0xA0, xfrm::Mark{0x1E00, 0xFF00}),
      // In the trial pair but not the probe's: another reqid, an SPI outside the range.
      state(kTrialSrc, kTrialDst, 0xFFFFFF09, 7, 0xA0),
      state(kTrialSrc, kTrialDst, 0x00001000, kTrialReqid, 0xA0),
  };
  bool honour_filter = true;  // false: a kernel that dumps everything
  std::optional<xfrm_address_filter> filter_seen;

  std::vector<nl::Bytes> dump(const nl::Bytes& request) {
    auto views = nl::split_messages(request);
    EXPECT_TRUE(views && views->size() == 1);
    const nl::MessageView& m = views->front();
    EXPECT_EQ(m.type(), XFRM_MSG_GETSA);
    EXPECT_EQ(m.flags() & NLM_F_DUMP, NLM_F_DUMP);
    auto attrs = nl::AttrTable::parse(m.payload(), 0);  // xfrm_dump_sa: attributes at offset 0
    EXPECT_TRUE(attrs);
    const uint8_t proto = attrs->u8(XFRMA_PROTO).value_or(0);
    filter_seen = attrs->as<xfrm_address_filter>(XFRMA_ADDRESS_FILTER);
    nl::Bytes part;  // one dump part, every message in it
    for (const auto& sa : states) {
      if (honour_filter) {
        if (proto && sa.id.proto != proto) continue;
        if (filter_seen) {
          const auto& f = *filter_seen;
          if (f.family != sa.id.daddr.family) continue;
          if (!IpPrefix{from_xfrm(f.saddr, f.family), f.splen}.contains(sa.saddr)) continue;
          if (!IpPrefix{from_xfrm(f.daddr, f.family), f.dplen}.contains(sa.id.daddr)) continue;
        }
      }
      auto msg = xfrm::encode_new_sa(sa);  // a dump entry has a NEWSA's layout
      EXPECT_TRUE(msg);
      part.insert(part.end(), msg->begin(), msg->end());
    }
    return {part};
  }
};

bool holds(const std::vector<nl::Bytes>& bufs, uint8_t key_byte) {
  return std::any_of(bufs.begin(), bufs.end(),
                     [&](const nl::Bytes& b) { return std::search_n(b.begin(), b.end(), 20, key_byte) != b.end(); });
}

nl::Bytes del(uint32_t spi, std::optional<xfrm::Mark> mark = std::nullopt) {
  return *xfrm::encode_delete_sa({ip(kTrialDst), spi, IPPROTO_ESP}, mark);
}

TEST(ProbeLeftovers, DumpAsksForTheTrialPairOnly) {
  auto req = encode_leftover_dump();
  ASSERT_TRUE(req) << req.error().message();
  FakeSad sad;
  const auto replies = sad.dump(*req);
  ASSERT_TRUE(sad.filter_seen);
  EXPECT_EQ(sad.filter_seen->family, AF_INET);
  EXPECT_EQ(sad.filter_seen->splen, 32);
  EXPECT_EQ(sad.filter_seen->dplen, 32);
  EXPECT_EQ(from_xfrm(sad.filter_seen->saddr, AF_INET), ip(kTrialSrc));
  EXPECT_EQ(from_xfrm(sad.filter_seen->daddr, AF_INET), ip(kTrialDst));
  // No production SA, so no production key, is in what the kernel sends back.
  EXPECT_FALSE(holds(replies, 0x5A));
  EXPECT_FALSE(holds(replies, 0x5B));
}

TEST(ProbeLeftovers, DeletesTrialSasByIdentityAndMark) {
  FakeSad sad;
  const auto replies = sad.dump(*encode_leftover_dump());
  auto dels = leftover_deletes(replies);
  ASSERT_TRUE(dels) << dels.error().message();
  const std::vector<nl::Bytes> want = {del(0xFFFFFF07), del(0xFFFFFF80, xfrm::Mark{0x1E00, 0xFF00})};
  EXPECT_EQ(*dels, want);
  EXPECT_FALSE(holds(*dels, 0xA0));  // a DELSA names the SA; it carries no key
}

TEST(ProbeLeftovers, AKernelThatIgnoresTheFilterStillLosesOnlyTrialSas) {
  FakeSad sad;
  sad.honour_filter = false;
  const auto replies = sad.dump(*encode_leftover_dump());
  ASSERT_TRUE(holds(replies, 0x5A));  // the whole SAD came back
  auto dels = leftover_deletes(replies);
  ASSERT_TRUE(dels);
  const std::vector<nl::Bytes> want = {del(0xFFFFFF07), del(0xFFFFFF80, xfrm::Mark{0x1E00, 0xFF00})};
  EXPECT_EQ(*dels, want);
}

TEST(ProbeLeftovers, NoLeftoversNoDeletes) {
  FakeSad sad;
  sad.states.resize(2);  // production only
  auto dels = leftover_deletes(sad.dump(*encode_leftover_dump()));
  ASSERT_TRUE(dels);
  EXPECT_TRUE(dels->empty());
}

TEST(ProbeLeftovers, ABrokenReplyIsAnError) {
  EXPECT_FALSE(leftover_deletes({nl::Bytes{0x10, 0x00, 0x00}}));
}

}  // namespace
}  // namespace sealnet::probe
