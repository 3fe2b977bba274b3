// netlink/link_codec.h: rtnetlink and ethtool encoders (golden bytes) and decoders
// against replies recorded from this machine's kernel.
#include <gtest/gtest.h>
#include <linux/ethtool.h>
#include <linux/ethtool_netlink.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>

#include <algorithm>
#include <cerrno>
#include <optional>

#include "netlink/link_codec.h"
#include "tests/unit/probe_recorded_replies.h"

namespace sealnet::probe {
namespace {

template <size_t N>
nl::MessageView only(const uint8_t (&a)[N]) {
  auto m = nl::split_messages(nl::ByteView(a, N));
  EXPECT_TRUE(m && m->size() == 1);
  return m->front();
}

constexpr uint16_t kEthtoolFamily = 21;  // as recorded

StringSet recorded_names() {
  auto s = decode_strset(only(recorded::kStrsetFeatures_0), ETH_SS_FEATURES);
  EXPECT_TRUE(s) << s.error().message();
  return s ? *s : StringSet{};
}

TEST(LinkCodec, DumpAndGetGoldenBytes) {
  const nl::Bytes dump = {
      0x28, 0x00, 0x00, 0x00, 0x12, 0x00, 0x01, 0x03, 0, 0, 0, 0, 0, 0, 0, 0,  // GETLINK|DUMP
      0,    0,    0,    0,    0,    0,    0,    0,    0, 0, 0, 0, 0, 0, 0, 0,  // ifinfomsg AF_UNSPEC
      0x08, 0x00, 0x1d, 0x00, 0x08, 0x00, 0x00, 0x00,  // IFLA_EXT_MASK: RTEXT_FILTER_SKIP_STATS
  };
  EXPECT_EQ(*encode_link_dump(), dump);
  auto get = encode_get_link(3);
  ASSERT_TRUE(get);
  nl::Bytes want = dump;
  want[6] = 0x01;
  want[7] = 0x00;  // no DUMP
  want[20] = 3;    // ifi_index
  EXPECT_EQ(*get, want);
}

TEST(LinkCodec, DecodesRecordedVeth) {
  auto l = decode_link(only(recorded::kLinkReply_0));
  ASSERT_TRUE(l) << l.error().message();
  EXPECT_EQ(l->ifindex, 3);
  EXPECT_EQ(l->name, "va");
  EXPECT_EQ(l->kind, "veth");
  EXPECT_EQ(l->mtu, 1500u);
  EXPECT_TRUE(l->up());
  EXPECT_EQ(l->link, 2);  // the peer, vb
  EXPECT_FALSE(l->link_elsewhere);
  EXPECT_FALSE(l->master);
}

TEST(LinkCodec, DecodesRecordedDownNotification) {
  auto l = decode_link(only(recorded::kLinkNtf_0));
  ASSERT_TRUE(l);
  EXPECT_EQ(l->name, "vb");
  EXPECT_FALSE(l->up());
  EXPECT_STREQ(operstate_name(l->operstate), "down");
}

TEST(LinkCodec, RejectsOtherMessages) { EXPECT_FALSE(decode_link(only(recorded::kGetSaMissing_0))); }

TEST(EthtoolCodec, RequestGoldenBytes) {
  const nl::Bytes features = {
      0x28, 0x00, 0x00, 0x00, 0x15, 0x00, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,  // family 21
      0x0b, 0x01, 0x00, 0x00,                          // ETHTOOL_MSG_FEATURES_GET, version 1
      0x14, 0x00, 0x01, 0x80,                          // FEATURES_HEADER, nested
      0x08, 0x00, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00,  // HEADER_DEV_INDEX 3
      0x08, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00,  // HEADER_FLAGS COMPACT_BITSETS
  };
  EXPECT_EQ(*encode_features_get(kEthtoolFamily, 3, true), features);
  auto verbose = encode_features_get(kEthtoolFamily, 3, false);
  ASSERT_TRUE(verbose);
  EXPECT_EQ(verbose->size(), 32u);  // no flags attribute
  const nl::Bytes strset = {
      0x28, 0x00, 0x00, 0x00, 0x15, 0x00, 0x01, 0x00, 0,    0,
      0,    0,    0,    0,    0,    0,    0x01, 0x01, 0x00, 0x00,  // ETHTOOL_MSG_STRSET_GET
      0x04, 0x00, 0x01, 0x80,                                      // empty header: global sets
      0x10, 0x00, 0x02, 0x80,                                      // STRSET_STRINGSETS
      0x0c, 0x00, 0x01, 0x80,                                      // STRINGSETS_STRINGSET
      0x08, 0x00, 0x01, 0x00, 0x04, 0x00, 0x00, 0x00,              // STRINGSET_ID ETH_SS_FEATURES
  };
  EXPECT_EQ(*encode_strset_get(kEthtoolFamily, ETH_SS_FEATURES), strset);
  auto lm = encode_linkmodes_get(kEthtoolFamily, 3);
  ASSERT_TRUE(lm);
  EXPECT_EQ((*lm)[16], ETHTOOL_MSG_LINKMODES_GET);
}

TEST(EthtoolCodec, DecodesRecordedFeatureNames) {
  auto names = recorded_names();
  ASSERT_GT(names.size(), 60u);
  for (const char* n : {"esp-hw-offload", "esp-tx-csum-hw-offload", "tx-esp-segmentation"})
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
  EXPECT_FALSE(decode_strset(only(recorded::kStrsetFeatures_0), ETH_SS_STATS));
}

// The same device read with compact and with verbose bitsets gives the same set.
TEST(EthtoolCodec, CompactAndVerboseRecordedRepliesAgree) {
  auto names = recorded_names();
  auto compact = decode_features(only(recorded::kFeaturesCompact_0), &names);
  ASSERT_TRUE(compact) << compact.error().message();
  auto verbose = decode_features(only(recorded::kFeaturesVerbose_0), &names);
  ASSERT_TRUE(verbose) << verbose.error().message();
  EXPECT_EQ(compact->ifindex, 3);
  EXPECT_EQ(verbose->ifindex, 3);
  EXPECT_EQ(compact->features, verbose->features);
  // veth: no ESP offload and it cannot be switched on; what ethtool -k shows.
  auto esp = compact->get("esp-hw-offload");
  ASSERT_TRUE(esp);
  EXPECT_FALSE(esp->active);
  EXPECT_FALSE(esp->changeable);
  EXPECT_TRUE(esp->fixed);
  auto sg = compact->get("tx-scatter-gather");
  ASSERT_TRUE(sg);
  EXPECT_TRUE(sg->active);
  EXPECT_TRUE(sg->changeable);
  EXPECT_FALSE(sg->fixed);
  auto lro = compact->get("rx-lro");  // ethtool: large-receive-offload: off [fixed]
  ASSERT_TRUE(lro);
  EXPECT_TRUE(lro->fixed);
  EXPECT_FALSE(lro->active);
}

TEST(EthtoolCodec, VerboseRepliesNeedNoStringSet) {
  auto verbose = decode_features(only(recorded::kFeaturesVerbose_0), nullptr);
  ASSERT_TRUE(verbose);
  auto sg = verbose->get("tx-scatter-gather");
  ASSERT_TRUE(sg);
  EXPECT_TRUE(sg->active);
}

TEST(EthtoolCodec, CompactBitsetWithoutNamesUsesBitNumbers) {
  // SIZE 40, VALUE bits 0 and 33 set, NOMASK.
  nl::MessageBuilder b(1, 0);
  b.put_flag(ETHTOOL_A_BITSET_NOMASK);
  b.put_u32(ETHTOOL_A_BITSET_SIZE, 40);
  const uint32_t words[2] = {1u, 1u << 1};
  b.put(ETHTOOL_A_BITSET_VALUE, nl::ByteView(reinterpret_cast<const uint8_t*>(words), 8));
  auto msg = std::move(b).finish();
  ASSERT_TRUE(msg);
  auto bits = decode_bitset(nl::ByteView(*msg).subspan(NLMSG_HDRLEN), nullptr);
  ASSERT_TRUE(bits) << bits.error().message();
  EXPECT_EQ(*bits, (std::vector<std::string>{"bit0", "bit33"}));
  StringSet names(40);
  names[0] = "zero";
  auto named = decode_bitset(nl::ByteView(*msg).subspan(NLMSG_HDRLEN), &names);
  EXPECT_EQ(*named, (std::vector<std::string>{"zero", "bit33"}));
}

TEST(EthtoolCodec, CompactBitsetShorterThanItsSizeIsAnError) {
  nl::MessageBuilder b(1, 0);
  b.put_u32(ETHTOOL_A_BITSET_SIZE, 64);
  b.put_u32(ETHTOOL_A_BITSET_VALUE, 1);
  auto msg = std::move(b).finish();
  EXPECT_FALSE(decode_bitset(nl::ByteView(*msg).subspan(NLMSG_HDRLEN), nullptr));
}

// A string set reply built by hand, as a hostile or corrupt kernel could send it.
nl::Bytes strset_reply(std::optional<uint32_t> count, uint32_t index) {
  auto b = nl::genl::message(kEthtoolFamily, ETHTOOL_MSG_STRSET_GET_REPLY, ETHTOOL_GENL_VERSION, 0);
  const size_t sets = b.begin_nest(ETHTOOL_A_STRSET_STRINGSETS);
  const size_t set = b.begin_nest(ETHTOOL_A_STRINGSETS_STRINGSET);
  b.put_u32(ETHTOOL_A_STRINGSET_ID, ETH_SS_FEATURES);
  if (count) b.put_u32(ETHTOOL_A_STRINGSET_COUNT, *count);
  const size_t strings = b.begin_nest(ETHTOOL_A_STRINGSET_STRINGS);
  const size_t str = b.begin_nest(ETHTOOL_A_STRINGS_STRING);
  b.put_u32(ETHTOOL_A_STRING_INDEX, index);
  b.put_str(ETHTOOL_A_STRING_VALUE, "esp-hw-offload");
  b.end_nest(str);
  b.end_nest(strings);
  b.end_nest(set);
  b.end_nest(sets);
  auto m = std::move(b).finish();
  EXPECT_TRUE(m);
  return m ? *m : nl::Bytes{};
}

TEST(EthtoolCodec, HostileStringSetCountsAndIndicesAreRefused) {
  auto decode = [](const nl::Bytes& m) {
    auto v = nl::split_messages(m);
    EXPECT_TRUE(v && v->size() == 1);
    return decode_strset(v->front(), ETH_SS_FEATURES);
  };
  // A count of 4 billion would allocate 128 GiB of strings.
  auto huge = decode(strset_reply(0xffffffffu, 0));
  ASSERT_FALSE(huge);
  EXPECT_EQ(huge.error().err, EBADMSG);
  // Index 0xffffffff: *idx + 1 wraps to 0 in 32 bits, then out[*idx] writes past the end.
  auto wrap = decode(strset_reply(2, 0xffffffffu));
  ASSERT_FALSE(wrap);
  EXPECT_EQ(wrap.error().err, EBADMSG);
  EXPECT_FALSE(decode(strset_reply(std::nullopt, kMaxStrings)));
  // Within the bound, an index past the count still grows the set, as before.
  auto ok = decode(strset_reply(1, 3));
  ASSERT_TRUE(ok) << ok.error().message();
  ASSERT_EQ(ok->size(), 4u);
  EXPECT_EQ((*ok)[3], "esp-hw-offload");
  auto last = decode(strset_reply(kMaxStrings, kMaxStrings - 1));
  ASSERT_TRUE(last);
  EXPECT_EQ(last->size(), kMaxStrings);
}

TEST(EthtoolCodec, DecodesRecordedLinkModes) {
  auto s = decode_linkmodes(only(recorded::kLinkModes_0));
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->mbps, 10000u);  // veth reports 10 Gbit/s
  EXPECT_EQ(s->duplex, DUPLEX_FULL);
}

TEST(EthtoolCodec, DecodesRecordedFeatureNotification) {
  auto m = only(recorded::kFeaturesNtf_0);
  EXPECT_EQ(ethtool_ifindex(m), 3);
  auto names = recorded_names();
  auto f = decode_features(m, &names);
  ASSERT_TRUE(f) << f.error().message();
  auto gro = f->get("rx-gro");
  ASSERT_TRUE(gro);
  EXPECT_TRUE(gro->active);  // `ethtool -K va gro on` caused it
}

}  // namespace
}  // namespace sealnet::probe
