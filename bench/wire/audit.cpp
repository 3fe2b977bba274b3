#include "bench/wire/audit.h"

#include <cstdio>

#include "bench/wire/datagram.h"
#include "core/text.h"

namespace sealnet::wire {

namespace {

std::string spi_hex(uint32_t spi) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%x", spi);
  return buf;
}

Result<uint32_t> parse_number(std::string_view t, const std::string& what) {
  auto v = parse_unsigned(t, UINT32_MAX);
  if (!v) return fail(0, "parse --spi", what, "not a number");
  return static_cast<uint32_t>(*v);
}

}  // namespace

Result<SpiBinding> parse_spi_binding(std::string_view text) {
  const std::string what(text);
  const auto colon = text.find(':');
  auto spi = parse_number(text.substr(0, colon), what);
  if (!spi) return std::unexpected(spi.error());
  // SPIs 0-255 are reserved by RFC 4303 (IANA); Cilium's key ids 1..15 sit in
  // them anyway, so only 0 is refused.
  if (*spi == 0) return fail(0, "parse --spi", what, "SPI 0 is not a valid SPI");
  uint32_t key = *spi;
  if (colon != std::string_view::npos) {
    auto k = parse_number(text.substr(colon + 1), what);
    if (!k) return std::unexpected(k.error());
    key = *k;
  }
  if (key < 1 || key > 15)
    return fail(0, "parse --spi", what, "key id " + std::to_string(key) + " is not 1..15 (write SPI:KEYID)");
  return SpiBinding{*spi, static_cast<uint8_t>(key)};
}

Result<EsnMode> parse_esn_mode(std::string_view text) {
  if (text == "auto") return EsnMode::Auto;
  if (text == "on") return EsnMode::On;
  if (text == "off") return EsnMode::Off;
  return fail(0, "parse --esn", std::string(text), "expected auto, on or off");
}

Result<SaCatalog> SaCatalog::make(keys::KeySet keys, std::vector<SpiBinding> spis, CatalogOptions opts) {
  SaCatalog c;
  c.opts_ = std::move(opts);
  for (const auto& b : spis) {
    const keys::Key* k = keys.find(b.key_id);
    if (!k)
      return fail(0, "bind SPI", "spi " + spi_hex(b.spi),
                  "the key file has no key " + std::to_string(b.key_id));
    if (k->form != keys::KeyForm::Aead)
      return fail(
          0, "bind SPI", "spi " + spi_hex(b.spi),
          "key " + std::to_string(b.key_id) + " is not an AEAD key; the harness decrypts rfc4106(gcm(aes))");
    if (!c.key_of_spi_.emplace(b.spi, b.key_id).second)
      return fail(0, "bind SPI", "spi " + spi_hex(b.spi), "given twice");
  }
  c.keys_ = std::move(keys);
  return c;
}

Result<SaCatalog::Entry> SaCatalog::find(uint32_t spi, const IpAddr& src, const IpAddr& dst) {
  const auto key = std::make_tuple(spi, src, dst);
  if (auto it = index_.find(key); it != index_.end()) return Entry{it->second, &sas_[it->second]->sa, false};
  const keys::Key* k = nullptr;
  std::string origin = "--spi";
  if (auto bound = key_of_spi_.find(spi); bound != key_of_spi_.end()) {
    k = keys_.find(bound->second);
  } else if (!opts_.nodes.empty()) {
    auto parts = opts_.nodes.sender_of(spi, src, dst);
    if (!parts) return std::unexpected(parts.error());
    origin = describe_spi(spi);
    k = keys_.find(parts->key);
    if (!k || k->form != keys::KeyForm::Aead)
      return fail(0, "find SA", origin + " " + src.str() + "->" + dst.str(),
                  k ? "key " + std::to_string(parts->key) + " is not an AEAD key"
                    : "the key file has no key " + std::to_string(parts->key));
  } else {
    return fail(0, "find SA", "spi " + spi_hex(spi) + " " + src.str() + "->" + dst.str(),
                "no --spi names it (sealnet's SPIs: give the nodes, --node or --config)");
  }
  auto sa = esp_sa_from_key(*k, spi, src, dst);
  if (!sa) return std::unexpected(sa.error());
  sa->esn = opts_.esn == EsnMode::On;
  sas_.push_back(std::make_unique<SaState>(
      SaState{std::move(*sa), opts_.esn != EsnMode::Auto, SeqWindow(opts_.window), std::move(origin), 0, 0}));
  index_.emplace(key, sas_.size() - 1);
  return Entry{sas_.size() - 1, &sas_.back()->sa, true};
}

bool SaCatalog::settle_esn(size_t i, const Ipv4View& outer) {
  SaState& s = *sas_[i];
  if (s.esn_settled) return true;
  const auto hdr = parse_esp_header(outer.payload);
  if (!hdr) return false;
  // ESN first: the agent's software SAs, the common case.
  for (bool esn : {true, false}) {
    s.sa.esn = esn;
    const auto seq = s.seq.full(hdr->seq);
    if (open_tunnel(s.sa, outer, static_cast<uint32_t>(seq >> 32))) {
      s.esn_settled = true;
      return true;
    }
  }
  s.sa.esn = false;
  return false;
}

nlohmann::json SaCatalog::sas_json() const {
  auto out = nlohmann::json::array();
  for (const auto& s : sas_) {
    char spi[16];
    std::snprintf(spi, sizeof spi, "0x%08x", s->sa.spi);
    out.push_back({{"spi", spi},
                   {"src", s->sa.outer_src.str()},
                   {"dst", s->sa.outer_dst.str()},
                   {"origin", s->origin},
                   {"esn", s->esn_settled ? nlohmann::json(s->sa.esn) : nlohmann::json()},
                   {"highest_seq", s->seq.top()},
                   {"decrypted", s->decrypted},
                   {"decrypt_failures", s->failures}});
  }
  return out;
}

WireAudit::WireAudit(bool require_esp, std::vector<IpPrefix> protect)
    : require_esp_(require_esp), protect_(std::move(protect)) {
  r_.require_esp = require_esp;
}

WireAudit::Next WireAudit::on_frame(std::span<const uint8_t> frame, uint64_t rx_ns) {
  ++r_.frames;
  const auto c = classify_frame(frame, protect_);
  switch (c.kind) {
    case FrameKind::Esp:
      ++r_.esp_frames;
      return Next::Decrypt;
    case FrameKind::Plaintext:
      if (require_esp_) {
        ++r_.plaintext_frames;
        r_.note("plaintext: " + c.why);
        return Next::Done;
      }
      // Without a key this is a plain-traffic capture: count what arrived.
      check_datagram(frame.subspan(kEthHeaderLen), rx_ns, false);
      return Next::Done;
    case FrameKind::Other:
      ++r_.other_frames;
      return Next::Done;
  }
  return Next::Done;
}

std::optional<SaCatalog::Entry> WireAudit::sa_for(std::span<const uint8_t> frame, SaCatalog& catalog) {
  const auto ip = parse_ipv4(frame.subspan(kEthHeaderLen));
  const auto hdr = ip ? parse_esp_header(ip->payload) : std::unexpected(ip.error());
  auto entry = hdr ? catalog.find(hdr->spi, ip->src, ip->dst) : std::unexpected(hdr.error());
  if (!entry) {
    on_unknown_sa(entry.error().message());
    return std::nullopt;
  }
  entry->seq_lo = hdr->seq;
  return *entry;
}

void WireAudit::on_decrypted(std::span<const uint8_t> inner_ip, uint64_t rx_ns) {
  ++r_.decrypted;
  check_datagram(inner_ip, rx_ns, true);
}

void WireAudit::on_decrypt_failure(std::string why) {
  ++r_.decrypt_failures;
  r_.note("decrypt: " + why);
}

void WireAudit::on_unknown_sa(std::string why) {
  ++r_.unknown_sa;
  r_.note("unknown SA: " + why);
}

void WireAudit::check_datagram(std::span<const uint8_t> ip_packet, uint64_t rx_ns, bool was_esp) {
  const char* where = was_esp ? "inner packet: " : "datagram: ";
  auto ip = parse_ipv4(ip_packet);
  if (!ip) {
    ++r_.invalid_inner;
    r_.note(where + ip.error().message());
    return;
  }
  // Only our own datagrams can be checked byte for byte; anything else the
  // tunnel carried (pings, the agent's own traffic) is counted, not judged.
  const bool ours = ip->proto == kProtoUdp && ip->payload.size() >= kUdpHeaderLen &&
                    looks_like_datagram(ip->payload.subspan(kUdpHeaderLen));
  if (!ours) {
    ++r_.foreign_inner;
    return;
  }
  // Clear frames off a wire may carry offload's partial checksum (frame.h);
  // their payload is still checked byte for byte by verify_datagram.
  auto udp = parse_udp(*ip, /*check_sum=*/was_esp);
  auto stamp = udp ? verify_datagram(*udp) : std::unexpected(udp.error());
  if (!stamp) {
    ++r_.invalid_inner;
    r_.note(where + stamp.error().message());
    return;
  }
  ledger_.record(*stamp, rx_ns);
}

CaptureReport WireAudit::report(std::optional<uint64_t> expected, double seconds) const {
  CaptureReport r = r_;
  r.flows = ledger_.totals(expected);
  r.seconds = seconds;
  return r;
}

}  // namespace sealnet::wire
