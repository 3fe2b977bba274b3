// The probe's wire formats as pure functions: rtnetlink links and the ethtool
// generic netlink family (features, string sets, link modes). Byte-tested
// against replies recorded from a real kernel (tests/unit/probe_codec_test.cpp).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "netlink/transport.h"

namespace sealnet::probe {

// ------------------------------------------------------------ rtnetlink --

// One device as RTM_NEWLINK describes it.
struct LinkInfo {
  int ifindex = 0;
  std::string name;
  std::string kind;       // IFLA_INFO_KIND: veth, bond, vlan, ...; empty for drivers without link ops
  unsigned flags = 0;     // IFF_*
  uint8_t operstate = 0;  // IF_OPER_*
  uint32_t mtu = 0;
  std::optional<int> link;      // IFLA_LINK: the lower device (vlan, macvlan) or the veth peer
  bool link_elsewhere = false;  // IFLA_LINK_NETNSID: `link` is in another namespace
  std::optional<int> master;    // IFLA_MASTER: the bond or bridge this device is enslaved to

  bool up() const;       // administratively up (IFF_UP)
  bool running() const;  // carrier (IFF_LOWER_UP)
  bool operator==(const LinkInfo&) const = default;
};

const char* operstate_name(uint8_t operstate);

// RTM_GETLINK dump of every device, statistics left out (they are most of a link
// message and the probe does not read them).
Result<nl::Bytes> encode_link_dump();
Result<nl::Bytes> encode_get_link(int ifindex);
// RTM_NEWLINK or RTM_DELLINK.
Result<LinkInfo> decode_link(const nl::MessageView& msg);

// --------------------------------------------------------------- ethtool --

// One netdev feature (ethtool -k): active is what the device does now, wanted
// what was asked for, changeable that the driver lets ethtool -K switch it
// (ETHTOOL_A_FEATURES_HW), fixed what ethtool shows as "[fixed]": not
// changeable, or in the kernel's never-change set (ETHTOOL_A_FEATURES_NOCHANGE).
struct FeatureState {
  bool active = false;
  bool wanted = false;
  bool changeable = false;
  bool fixed = false;
  bool operator==(const FeatureState&) const = default;
};

// The device's features by name. A name missing from every bitset is a feature
// this kernel does not know.
struct FeatureSet {
  int ifindex = 0;
  std::map<std::string, FeatureState> features;
  std::optional<FeatureState> get(const std::string& name) const;
};

// Bit index -> name for a compact bitset (ETH_SS_FEATURES: netdev feature names).
using StringSet = std::vector<std::string>;
// The most entries a decoded string set may have: ETH_SS_FEATURES has
// NETDEV_FEATURE_COUNT (under 100), the link modes about 100; a reply that
// claims more (its count or an index) is refused.
inline constexpr uint32_t kMaxStrings = 4096;

// ETHTOOL_MSG_FEATURES_GET for one device; compact bitsets need a StringSet to
// decode, verbose ones name their bits.
Result<nl::Bytes> encode_features_get(uint16_t family, int ifindex, bool compact);
// ETHTOOL_MSG_STRSET_GET for one global string set (ETH_SS_FEATURES).
Result<nl::Bytes> encode_strset_get(uint16_t family, uint32_t set_id);
// ETHTOOL_MSG_LINKMODES_GET for one device (speed, duplex).
Result<nl::Bytes> encode_linkmodes_get(uint16_t family, int ifindex);

Result<StringSet> decode_strset(const nl::MessageView& msg, uint32_t set_id);
// ETHTOOL_MSG_FEATURES_GET_REPLY or ETHTOOL_MSG_FEATURES_NTF.
// `names` may be null when the bitsets are verbose.
Result<FeatureSet> decode_features(const nl::MessageView& msg, const StringSet* names);

// Set bits of one ethtool bitset attribute, by name ("bit<N>" when a compact
// bitset has no name for a bit). A bitset with a mask reports only bits whose
// value is 1.
Result<std::vector<std::string>> decode_bitset(nl::ByteView nest, const StringSet* names);

struct LinkSpeed {
  std::optional<uint32_t> mbps;  // absent when the driver does not know
  std::optional<uint8_t> duplex;
};
Result<LinkSpeed> decode_linkmodes(const nl::MessageView& msg);

// Header device index of any ethtool reply or notification.
Result<int> ethtool_ifindex(const nl::MessageView& msg);

}  // namespace sealnet::probe
