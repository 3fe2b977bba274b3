// The probe's kernel over netlink: rtnetlink for devices, ethtool genetlink for
// features and speed, XFRM for the trial SAs, SIOCETHTOOL for driver names.
#include <linux/ethtool.h>
#include <linux/ethtool_netlink.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "core/fd.h"
#include "core/secret.h"
#include "netlink/transport.h"
#include "netlink/xfrm_codec.h"
#include "probe/probe.h"

namespace sealnet::probe {

namespace {

using nl::Bytes;

// The trial key: a public pattern, never used for traffic (see kTrialSpiFirst).
// Still a key buffer, so the one wiped type (core/secret.h) like every other.
SecretBytes trial_key(size_t len) {
  SecretBytes k(len);
  for (size_t i = 0; i < len; ++i) k[i] = static_cast<uint8_t>(0xA0 + i);
  return k;
}

Result<std::vector<nl::MessageView>> views(const Bytes& b) { return nl::split_messages(b); }

class NetlinkKernel final : public ProbeKernel {
 public:
  NetlinkKernel(nl::Socket route, nl::Socket generic, nl::Socket xfrm, Fd ioctl_sock)
      : route_(std::move(route)),
        generic_(std::move(generic)),
        xfrm_(std::move(xfrm)),
        ioctl_(std::move(ioctl_sock)) {
    // Another process's probe may hold an SPI at the same moment: start where a
    // different pid would not.
    next_spi_offset_ = static_cast<uint32_t>(::getpid()) * 37u;
  }

  Result<std::vector<LinkInfo>> links() override {
    auto req = encode_link_dump();
    if (!req) return std::unexpected(req.error());
    auto msgs = route_.request(std::move(*req), "RTM_GETLINK", "dump");
    if (!msgs) return std::unexpected(msgs.error());
    std::vector<LinkInfo> out;
    for (const auto& m : *msgs) {
      auto v = views(m);
      if (!v) return std::unexpected(v.error());
      for (const auto& mv : *v) {
        auto l = decode_link(mv);
        if (!l) return std::unexpected(l.error());
        out.push_back(std::move(*l));
      }
    }
    return out;
  }

  Result<FeatureSet> features(int ifindex) override {
    auto fam = ethtool_family();
    if (!fam) return std::unexpected(fam.error());
    auto names = feature_names();
    if (!names) return std::unexpected(names.error());
    auto req = encode_features_get(*fam, ifindex, true);
    if (!req) return std::unexpected(req.error());
    auto msgs =
        generic_.request(std::move(*req), "ETHTOOL_MSG_FEATURES_GET", "ifindex " + std::to_string(ifindex));
    if (!msgs) return std::unexpected(msgs.error());
    if (msgs->empty()) return fail(EBADMSG, "ETHTOOL_MSG_FEATURES_GET", {}, "no reply");
    auto v = views(msgs->front());
    if (!v || v->empty()) return fail(EBADMSG, "ETHTOOL_MSG_FEATURES_GET", {}, "bad reply");
    return decode_features(v->front(), &*names);
  }

  Result<LinkSpeed> speed(int ifindex) override {
    auto fam = ethtool_family();
    if (!fam) return std::unexpected(fam.error());
    auto req = encode_linkmodes_get(*fam, ifindex);
    if (!req) return std::unexpected(req.error());
    auto msgs =
        generic_.request(std::move(*req), "ETHTOOL_MSG_LINKMODES_GET", "ifindex " + std::to_string(ifindex));
    if (!msgs) return std::unexpected(msgs.error());
    if (msgs->empty()) return LinkSpeed{};
    auto v = views(msgs->front());
    if (!v || v->empty()) return fail(EBADMSG, "ETHTOOL_MSG_LINKMODES_GET", {}, "bad reply");
    return decode_linkmodes(v->front());
  }

  Result<DriverInfo> driver(const std::string& ifname) override {
    ethtool_drvinfo d{};
    d.cmd = ETHTOOL_GDRVINFO;
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
    ifr.ifr_data = reinterpret_cast<char*>(&d);
    if (::ioctl(ioctl_.get(), SIOCETHTOOL, &ifr) != 0) return fail_errno("ETHTOOL_GDRVINFO", ifname);
    auto field = [](const char* s, size_t n) { return std::string(s, strnlen(s, n)); };
    return DriverInfo{field(d.driver, sizeof d.driver), field(d.bus_info, sizeof d.bus_info),
                      field(d.version, sizeof d.version), field(d.fw_version, sizeof d.fw_version)};
  }

  Result<std::vector<TrialOutcome>> run_trials(const std::vector<TrialSpec>& specs) override {
    std::vector<TrialOutcome> out(specs.size());
    std::vector<size_t> todo(specs.size());
    for (size_t i = 0; i < specs.size(); ++i) todo[i] = i;
    // EEXIST means another prober holds that SPI right now: try another, twice.
    for (int attempt = 0; attempt < 3 && !todo.empty(); ++attempt) {
      std::vector<Bytes> reqs;
      for (size_t i : todo) {
        out[i] = TrialOutcome{};
        out[i].spec = specs[i];
        auto msgs = encode_trial(specs[i], next_spi());
        if (!msgs) return std::unexpected(msgs.error());
        for (auto& m : *msgs) reqs.push_back(std::move(m));
      }
      auto replies = xfrm_.transact(std::move(reqs));
      if (!replies) return std::unexpected(replies.error());
      std::vector<size_t> again;
      for (size_t k = 0; k < todo.size(); ++k) {
        TrialOutcome& o = out[todo[k]];
        const nl::Reply& add = (*replies)[3 * k];
        nl::Reply& get = (*replies)[3 * k + 1];
        const nl::Reply& del = (*replies)[3 * k + 2];
        const WipeOnExit wiped(get.messages);  // the read-back carries the (public) trial key
        o.added = add.status.has_value();
        if (!o.added) {
          o.err = add.status.error().err;
          o.extack = add.status.error().detail;
          o.removed = true;
          if (o.err == EEXIST) again.push_back(todo[k]);
          continue;
        }
        if (get.status && !get.messages.empty()) {
          auto v = views(get.messages.front());
          if (!v || v->empty()) return fail(EBADMSG, "XFRM_MSG_GETSA", "trial SA", "bad reply");
          auto sa = xfrm::decode_sa(v->front());
          if (!sa) return std::unexpected(sa.error());
          o.readback = sa->offload;
        }
        o.removed = del.status.has_value();
      }
      todo = std::move(again);
    }
    // A trial SA that could not be deleted is reported (removed=false) and the
    // next run's remove_leftovers takes it.
    return out;
  }

  Result<int> remove_leftovers() override {
    auto req = encode_leftover_dump();
    if (!req) return std::unexpected(req.error());
    auto msgs = xfrm_.request(std::move(*req), "XFRM_MSG_GETSA", "dump of the trial SAs");
    if (!msgs) return std::unexpected(msgs.error());
    const WipeOnExit wiped(*msgs);  // trial keys only, unless the kernel ignored the filter
    auto dels = leftover_deletes(*msgs);
    if (!dels) return std::unexpected(dels.error());
    if (dels->empty()) return 0;
    auto replies = xfrm_.transact(std::move(*dels));
    if (!replies) return std::unexpected(replies.error());
    int n = 0;
    for (const auto& r : *replies) n += r.status.has_value() ? 1 : 0;
    return n;
  }

  Result<std::string> read_file(const std::string& path) override {
    std::ifstream f(path);
    if (!f) return fail(ENOENT, "read", path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }

 private:
  uint32_t next_spi() {
    const uint32_t span = kTrialSpiLast - kTrialSpiFirst + 1;
    return kTrialSpiFirst + (next_spi_offset_++ % span);
  }

  // NEWSA, GETSA, DELSA of one trial: sent together, the kernel runs them in
  // order, so at most one trial SA exists at a time (netdevsim has 33 slots).
  Result<std::vector<Bytes>> encode_trial(const TrialSpec& t, uint32_t spi) {
    auto src = IpAddr::parse(kTrialSrc);
    auto dst = IpAddr::parse(kTrialDst);
    if (!src || !dst) return fail(EINVAL, "trial addresses");
    xfrm::SaSpec sa;
    sa.id = {*dst, spi, IPPROTO_ESP};
    sa.saddr = *src;
    sa.reqid = kTrialReqid;
    sa.mode = xfrm::SaMode::tunnel;
    sa.selector = {IpPrefix::host(*src), IpPrefix::host(*dst), 0};
    if (t.null_cipher)
      sa.cipher = xfrm::Cipher{};
    else  // key bytes = AES key + 4-byte salt
      sa.aead = xfrm::Aead{t.alg.name, trial_key(t.alg.key_bits / 8 + 4), t.alg.icv_bits};
    if (t.mode != xfrm::OffloadMode::none) sa.offload = xfrm::OffloadRequest{t.ifindex, t.mode, t.dir};
    std::vector<Bytes> msgs;
    auto add = xfrm::encode_new_sa(sa);
    auto get = xfrm::encode_get_sa(sa.id);
    auto del = xfrm::encode_delete_sa(sa.id);
    if (!add) return std::unexpected(add.error());
    if (!get) return std::unexpected(get.error());
    if (!del) return std::unexpected(del.error());
    msgs.push_back(std::move(*add));
    msgs.push_back(std::move(*get));
    msgs.push_back(std::move(*del));
    return msgs;
  }

  Result<uint16_t> ethtool_family() {
    if (ethtool_) return ethtool_->id;
    auto f = nl::resolve_family(generic_, ETHTOOL_GENL_NAME);
    if (!f) return std::unexpected(f.error());
    ethtool_ = *f;
    return f->id;
  }

  // ETH_SS_FEATURES: the names of netdev feature bits, fetched once.
  Result<StringSet> feature_names() {
    if (names_) return *names_;
    auto fam = ethtool_family();
    if (!fam) return std::unexpected(fam.error());
    auto req = encode_strset_get(*fam, ETH_SS_FEATURES);
    if (!req) return std::unexpected(req.error());
    auto msgs = generic_.request(std::move(*req), "ETHTOOL_MSG_STRSET_GET", "netdev features");
    if (!msgs) return std::unexpected(msgs.error());
    if (msgs->empty()) return fail(EBADMSG, "ETHTOOL_MSG_STRSET_GET", {}, "no reply");
    auto v = views(msgs->front());
    if (!v || v->empty()) return fail(EBADMSG, "ETHTOOL_MSG_STRSET_GET", {}, "bad reply");
    auto s = decode_strset(v->front(), ETH_SS_FEATURES);
    if (!s) return std::unexpected(s.error());
    names_ = *s;
    return *s;
  }

  nl::Socket route_;
  nl::Socket generic_;
  nl::Socket xfrm_;
  Fd ioctl_;
  std::optional<nl::genl::Family> ethtool_;
  std::optional<StringSet> names_;
  uint32_t next_spi_offset_ = 0;
};

}  // namespace

Result<std::unique_ptr<ProbeKernel>> make_kernel() {
  auto route = nl::Socket::open(NETLINK_ROUTE);
  if (!route) return std::unexpected(route.error());
  auto generic = nl::Socket::open(NETLINK_GENERIC);
  if (!generic) return std::unexpected(generic.error());
  auto x = nl::Socket::open(NETLINK_XFRM);
  if (!x) return std::unexpected(x.error());
  Fd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s) return fail_errno("socket", "AF_INET (ethtool ioctl)");
  return std::make_unique<NetlinkKernel>(std::move(*route), std::move(*generic), std::move(*x), std::move(s));
}

}  // namespace sealnet::probe
