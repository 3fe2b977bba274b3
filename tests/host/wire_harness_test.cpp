// sealnet-wire on the host kernel, in private namespaces, through its real
// attach path (DPDK net_af_packet / net_af_xdp on a veth, no hugepages).
// The host kernel has no ESP, so the ESP a kernel would send is made here
// (bench/wire/esp.h, the RFC 4106 layout Linux writes) and injected with an
// AF_PACKET socket on one end of a veth; the harness captures the other end,
// decrypts (intel-ipsec-mb, or rte_ipsec on crypto_openssl) and checks every datagram.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "bench/wire/datagram.h"
#include "bench/wire/esp.h"
#include "bench/wire/frame.h"
#include "core/fd.h"
#include "offload/binding.h"
#include "tests/host/netns_fixture.h"

namespace sealnet::wire {
namespace {

using sealnet::testing::TestNetns;
using namespace std::chrono_literals;

const IpAddr kNodeA = *IpAddr::parse("192.168.50.1"), kNodeB = *IpAddr::parse("192.168.50.2");
const MacAddr kMacA{{2, 0, 0, 0, 0, 1}}, kMacB{{2, 0, 0, 0, 0, 2}};
constexpr const char* kKeyLine = "3 rfc4106(gcm(aes)) 0x000102030405060708090a0b0c0d0e0f10111213 128\n";

// Files of this run, in a directory of its own (mkdtemp): no predictable name
// in /tmp; removed when the tests end.
std::string scratch(const std::string& name) {
  static const struct Dir {
    std::string path;
    Dir() {
      char t[] = "/tmp/sealnet-wire-test.XXXXXX";
      if (::mkdtemp(t) == nullptr) std::abort();
      path = t;
    }
    ~Dir() { std::filesystem::remove_all(path); }
  } dir;
  return dir.path + "/" + name;
}

// A key file the harness accepts: mode 0600 (keys.h refuses anything looser).
std::string write_key_file(const char* line = kKeyLine) {
  const std::string path = scratch("keys");
  std::ofstream(path) << line;
  chmod(path.c_str(), 0600);
  return path;
}

// sealnet-wire run as a child process; stdout (the JSON summary) and stderr
// (the EAL log) go to files.
class WireRun {
 public:
  explicit WireRun(std::vector<std::string> args)
      : out_(scratch("out" + std::to_string(n_))),
        err_(scratch("err" + std::to_string(n_))),
        ready_(scratch("ready" + std::to_string(n_))) {
    ++n_;
    std::filesystem::remove(ready_);
    for (auto& a : args)
      if (a == "READY") a = ready_;
    pid_ = fork();
    if (pid_ == 0) {
      const int o = open(out_.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
      const int e = open(err_.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
      dup2(o, 1);
      dup2(e, 2);
      std::vector<char*> argv;
      std::string bin = SEALNET_WIRE;
      argv.push_back(bin.data());
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(bin.c_str(), argv.data());
      _exit(127);
    }
  }
  ~WireRun() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    for (const auto& f : {out_, err_, ready_}) std::filesystem::remove(f);
  }
  // Waits for --ready-file (the port is attached).
  bool ready(std::chrono::seconds limit = 30s) const {
    for (auto end = std::chrono::steady_clock::now() + limit; std::chrono::steady_clock::now() < end;) {
      if (std::filesystem::exists(ready_)) return true;
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) return false;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }
  // The exit status, or -1 when it had to be killed.
  int wait(std::chrono::seconds limit = 60s) {
    int st = 0;
    for (auto end = std::chrono::steady_clock::now() + limit; std::chrono::steady_clock::now() < end;) {
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
      }
      std::this_thread::sleep_for(20ms);
    }
    return -1;
  }
  nlohmann::json summary() const {
    std::ifstream f(out_);
    std::string line;
    std::getline(f, line);
    return nlohmann::json::parse(line, nullptr, false);
  }
  std::string log() const {
    std::ifstream o(out_), e(err_);
    std::stringstream s;
    s << "stdout: " << o.rdbuf() << "\nstderr: " << e.rdbuf();
    return s.str();
  }

 private:
  static inline int n_ = 0;
  std::string out_, err_, ready_;
  pid_t pid_ = -1;
};

// A namespace with veth wa <-> wb, both up, IPv6 off so only our frames cross.
struct Wire {
  TestNetns ns;
  Wire() {
    ns.must("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1");
    ns.must("ip link add wa type veth peer name wb && ip link set wa up && ip link set wb up");
  }
  // Sends frames out of `dev` with an AF_PACKET socket inside the namespace.
  void inject(const std::vector<std::vector<uint8_t>>& frames, const char* dev = "wa",
              std::chrono::microseconds pause = 200us) const {
    auto scope = ns.enter();
    Fd s(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(s) << "socket(AF_PACKET)";
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_ifindex = static_cast<int>(if_nametoindex(dev));
    to.sll_halen = 6;
    for (const auto& f : frames) {
      ASSERT_EQ(sendto(s.get(), f.data(), f.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
                static_cast<ssize_t>(f.size()));
      // veth delivers synchronously; a short pause keeps af_packet's ring
      // (and the capture's one shared core) from being the thing under test.
      std::this_thread::sleep_for(pause);
    }
  }
};

FlowPlan plan(uint64_t count) {
  FlowPlan p;
  p.base = {*IpAddr::parse("10.1.0.1"), *IpAddr::parse("10.2.0.1"), 40000, 5001};
  p.flows = 4;
  p.count = count;
  p.size = 200;
  return p;
}

std::vector<uint8_t> inner(const FlowPlan& p, uint64_t i) {
  const Stamp st = p.stamp(i, 0);  // no timestamp: latency is not judged here
  return build_ipv4_udp(st.ep, encode_datagram(st, p.size), static_cast<uint16_t>(i));
}

EspSa test_sa() {
  auto keys = keys::parse_key_file(kKeyLine, "test");
  return *esp_sa_from_key(keys->keys[0], 3, kNodeA, kNodeB);
}

std::vector<uint8_t> esp(const FlowPlan& p, uint64_t i) {
  return build_ethernet(kMacB, kMacA, kEtherTypeIpv4,
                        *seal_tunnel(test_sa(), uint32_t(i + 1), i + 1, inner(p, i)));
}

std::vector<std::string> capture_args(const Wire& w, const std::string& keys, const std::string& crypto,
                                      const std::string& driver, const std::string& more = "") {
  std::vector<std::string> a = {"--netns", w.ns.name(), "capture", "--iface",      "wb",   "--driver",
                                driver,    "--crypto",  crypto,    "--key-file",   keys,   "--spi",
                                "3",       "--timeout", "30",      "--ready-file", "READY"};
  std::istringstream extra(more);
  for (std::string t; extra >> t;) a.push_back(t);
  return a;
}

class WireCapture : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(WireCapture, DecryptsEveryInjectedEspFrameThroughRteIpsec) {
  const auto [crypto, driver] = GetParam();
  Wire w;
  const auto keys = write_key_file();
  const auto p = plan(200);
  WireRun cap(capture_args(w, keys, crypto, driver, "--expect 200"));
  ASSERT_TRUE(cap.ready()) << cap.log();
  std::vector<std::vector<uint8_t>> frames;
  for (uint64_t i = 0; i < p.count; ++i) frames.push_back(esp(p, i));
  w.inject(frames);
  ASSERT_EQ(cap.wait(), 0) << cap.log();
  const auto j = cap.summary();
  EXPECT_EQ(j["esp_frames"], 200);
  EXPECT_EQ(j["decrypted"], 200);
  EXPECT_EQ(j["received"], 200);
  EXPECT_EQ(j["flows"], 4);
  EXPECT_EQ(j["lost"], 0);
  EXPECT_EQ(j["plaintext_frames"], 0);
  EXPECT_EQ(j["decrypt_failures"], 0);
  EXPECT_EQ(j["invalid_inner"], 0);
  EXPECT_EQ(j["crypto"], crypto);
  EXPECT_TRUE(j["decrypt_ns_per_frame"].is_number());
  std::filesystem::remove(keys);
}

INSTANTIATE_TEST_SUITE_P(EnginesAndDrivers, WireCapture,
                         ::testing::Values(std::make_tuple("aesni_gcm", "af_packet"),
                                           std::make_tuple("openssl", "af_packet"),
                                           std::make_tuple("aesni_gcm", "af_xdp")),
                         [](const auto& info) {
                           return std::get<0>(info.param) + "_" + std::get<1>(info.param);
                         });

TEST(WireHarness, FlagsPlaintextTamperedMissingAndReorderedFrames) {
  Wire w;
  const auto keys = write_key_file();
  const auto p = plan(10);
  WireRun cap(capture_args(w, keys, "aesni_gcm", "af_packet", "--expect 10 --idle 2"));
  ASSERT_TRUE(cap.ready()) << cap.log();
  auto tampered = esp(p, 3);
  tampered[tampered.size() - 30] ^= 0x01;  // one ciphertext bit
  w.inject({esp(p, 0), esp(p, 1),
            build_ethernet(kMacB, kMacA, kEtherTypeIpv4, inner(p, 2)),  // plaintext leak
            tampered,
            // 4 missing
            esp(p, 6), esp(p, 7), esp(p, 8), esp(p, 9),
            esp(p, 5)});  // reordered: after 9, the next of its flow (4 flows)
  EXPECT_EQ(cap.wait(), 1) << cap.log();
  const auto j = cap.summary();
  EXPECT_EQ(j["plaintext_frames"], 1) << j.dump();
  EXPECT_EQ(j["decrypt_failures"], 1) << j.dump();
  EXPECT_EQ(j["received"], 7) << j.dump();
  EXPECT_EQ(j["lost"], 3) << "the leaked, the tampered and the missing one: " << j.dump();
  EXPECT_EQ(j["reordered"], 1) << j.dump();
  EXPECT_EQ(j["failures"].size(), 3u) << j.dump();  // plaintext, decrypt, loss
  std::filesystem::remove(keys);
}

// Frames whose ICV is right but whose ESP payload is not what Linux sends:
// each engine must refuse every one (aesni_gcm checks the trailer itself,
// openssl through rte_ipsec), and the good frame around them still counts.
class WireMalformedEsp : public ::testing::TestWithParam<std::string> {};

TEST_P(WireMalformedEsp, RefusesBadTrailersAndLengthsWithAValidIcv) {
  const std::string crypto = GetParam();
  Wire w;
  const auto keys = write_key_file();
  const auto p = plan(2);
  WireRun cap(capture_args(w, keys, crypto, "af_packet", "--expect 2 --idle 2"));
  ASSERT_TRUE(cap.ready()) << cap.log();
  // plan(): 228-byte inner packets, so Linux pads with 1, 2 (then pad length 2, next header 4).
  const auto in = inner(p, 1);
  ASSERT_EQ((in.size() + 2) % 4, 2u);
  const auto payload = [&](std::vector<uint8_t> trailer) {
    std::vector<uint8_t> c = in;
    c.insert(c.end(), trailer.begin(), trailer.end());
    return c;
  };
  const auto frame = [&](const std::vector<uint8_t>& clear, uint32_t seq) {
    return build_ethernet(kMacB, kMacA, kEtherTypeIpv4, *seal_esp(test_sa(), seq, seq, clear));
  };
  w.inject({esp(p, 0), frame(payload({1, 2, 2, 41}), 10),  // next header 41 (IPv6), not 4
            frame(payload({1, 1, 2, 4}), 11),              // padding bytes not 1, 2
            frame(payload({1, 2, 255, 4}), 12),            // pad length beyond the payload
            frame(payload({1, 2, 2, 4, 0}), 13),           // ciphertext not a multiple of 4
            frame({1, 2, 3, 4}, 14),                       // pad length 3 in a 4-byte payload
            frame({}, 15),                                 // nothing but header, IV and ICV
            frame(payload({1, 2, 2, 4}), 16)});            // the good one: datagram 1
  EXPECT_EQ(cap.wait(), 1) << cap.log();
  const auto j = cap.summary();
  EXPECT_EQ(j["esp_frames"], 8) << j.dump();
  EXPECT_EQ(j["decrypt_failures"], 6) << j.dump();
  EXPECT_EQ(j["decrypted"], 2) << j.dump();
  EXPECT_EQ(j["received"], 2) << j.dump();
  EXPECT_EQ(j["invalid_inner"], 0) << j.dump();
  std::filesystem::remove(keys);
}

INSTANTIATE_TEST_SUITE_P(Engines, WireMalformedEsp, ::testing::Values("aesni_gcm", "openssl"));

TEST(WireHarness, ExitsCleanlyWhenAKeyFileIsTooOpen) {
  Wire w;
  const auto keys = write_key_file();
  chmod(keys.c_str(), 0644);
  WireRun cap(capture_args(w, keys, "aesni_gcm", "af_packet"));
  EXPECT_EQ(cap.wait(), 2) << cap.log();
  EXPECT_EQ(cap.log().find("0102030405"), std::string::npos) << "no key bytes in any output";
  std::filesystem::remove(keys);
}

TEST(WireHarness, DpdkSenderEspReachesTheCapture) {
  Wire w;
  const auto keys = write_key_file();
  WireRun cap(capture_args(w, keys, "aesni_gcm", "af_packet", "--expect 300"));
  ASSERT_TRUE(cap.ready()) << cap.log();
  WireRun snd({"--netns",   w.ns.name(),   "send",       "--via",       "dpdk",      "--iface",
               "wa",        "--src",       "10.1.0.1",   "--dst",       "10.2.0.1",  "--dst-mac",
               kMacB.str(), "--flows",     "3",          "--count",     "300",       "--rate",
               "5000",      "--size",      "500",        "--key-file",  keys,        "--spi",
               "3",         "--outer-src", kNodeA.str(), "--outer-dst", kNodeB.str()});
  ASSERT_EQ(snd.wait(), 0) << snd.log();
  EXPECT_EQ(snd.summary()["sent"], 300);
  ASSERT_EQ(cap.wait(), 0) << cap.log();
  const auto j = cap.summary();
  EXPECT_EQ(j["received"], 300);
  EXPECT_EQ(j["decrypted"], 300);
  EXPECT_EQ(j["flows"], 3);
  EXPECT_TRUE(j["latency_ns"]["p50"].is_number()) << "the DPDK sender stamps CLOCK_MONOTONIC";
  std::filesystem::remove(keys);
}

// `send --via dpdk --esn on` (a manual SA with 64-bit sequence numbers): the
// capture's --esn auto settles it on ESN.
TEST(WireHarness, DpdkSenderEsnIsSettledAsEsn) {
  Wire w;
  const auto keys = write_key_file();
  WireRun cap(capture_args(w, keys, "openssl", "af_packet", "--expect 100"));
  ASSERT_TRUE(cap.ready()) << cap.log();
  WireRun snd({"--netns", w.ns.name(), "send",        "--via",      "dpdk",        "--iface",   "wa",
               "--src",   "10.1.0.1",  "--dst",       "10.2.0.1",   "--dst-mac",   kMacB.str(), "--count",
               "100",     "--rate",    "5000",        "--key-file", keys,          "--spi",     "3",
               "--esn",   "on",        "--outer-src", kNodeA.str(), "--outer-dst", kNodeB.str()});
  ASSERT_EQ(snd.wait(), 0) << snd.log();
  ASSERT_EQ(cap.wait(), 0) << cap.log();
  const auto j = cap.summary();
  EXPECT_EQ(j["decrypted"], 100) << j.dump();
  ASSERT_EQ(j["sas"].size(), 1u) << j.dump();
  EXPECT_EQ(j["sas"][0]["esn"], true) << j.dump();
  EXPECT_EQ(j["sas"][0]["origin"], "--spi");
  std::filesystem::remove(keys);
}

// Kernel UDP traffic between two namespaces: `recv` counts it on the far
// socket, a keyless capture counts it on the wire, and a capture that holds
// a key (so ESP is mandatory) fails on it: the leak check on real traffic.
TEST(WireHarness, KernelTrafficIsCountedAndClearTrafficIsALeak) {
  TestNetns a, b;
  sealnet::testing::shell("ip link add wa netns " + a.name() + " type veth peer name wb netns " + b.name());
  a.must("ip addr add 10.9.0.1/24 dev wa && ip link set wa up");
  b.must("ip addr add 10.9.0.2/24 dev wb && ip link set wb up");
  const auto keys = write_key_file();
  WireRun rcv({"--netns", b.name(), "recv", "--port", "5001", "--expect", "200", "--timeout", "30",
               "--ready-file", "READY"});
  WireRun plain({"--netns", b.name(), "capture", "--iface", "wb", "--expect", "200", "--timeout", "30",
                 "--ready-file", "READY"});
  WireRun strict({"--netns", a.name(), "capture", "--iface", "wa", "--key-file", keys, "--spi", "3", "--idle",
                  "2", "--timeout", "30", "--ready-file", "READY"});
  ASSERT_TRUE(rcv.ready() && plain.ready() && strict.ready()) << rcv.log() << plain.log() << strict.log();
  WireRun snd({"--netns", a.name(), "send", "--via", "socket", "--dst", "10.9.0.2", "--port", "5001",
               "--flows", "2", "--count", "200", "--rate", "2000"});
  ASSERT_EQ(snd.wait(), 0) << snd.log();
  ASSERT_EQ(rcv.wait(), 0) << rcv.log();
  EXPECT_EQ(rcv.summary()["received"], 200);
  EXPECT_EQ(rcv.summary()["lost"], 0);
  EXPECT_TRUE(rcv.summary()["latency_ns"]["p99"].is_number());
  ASSERT_EQ(plain.wait(), 0) << plain.log();
  EXPECT_EQ(plain.summary()["received"], 200);
  EXPECT_EQ(plain.summary()["plaintext_frames"], 0);
  EXPECT_EQ(strict.wait(), 1) << strict.log();
  EXPECT_EQ(strict.summary()["plaintext_frames"], 200) << strict.log();
  std::filesystem::remove(keys);
}

// sealnet's own wire: a per-pair key ("+"), SPIs of sealnet's layout
// (offload::make_spi) and ESN, as the agent's software SAs send. The capture
// gets the key file and the nodes, no --spi: it resolves every SPI, derives
// each direction's key and infers seq_hi (RFC 4303 Appendix A), here across
// the 2^32 wrap of one SA, on both engines.
constexpr const char* kPairKeyLine = "1+ rfc4106(gcm(aes)) 0x000102030405060708090a0b0c0d0e0f10111213 128\n";
constexpr uint64_t kBlock = uint64_t{1} << 32;

EspSa agent_sa(uint16_t node, const IpAddr& from, const IpAddr& to, uint8_t generation) {
  auto keys = keys::parse_key_file(kPairKeyLine, "test");
  auto sa = esp_sa_from_key(keys->keys[0], offload::make_spi(node, 1, 0, generation), from, to);
  sa->esn = true;
  return *sa;
}

std::vector<uint8_t> agent_frame(const EspSa& sa, const FlowPlan& p, uint64_t i, uint64_t seq) {
  return build_ethernet(kMacB, kMacA, kEtherTypeIpv4, *seal_tunnel(sa, seq, i + 1, inner(p, i)));
}

std::vector<std::string> node_capture_args(const Wire& w, const std::string& keys, const std::string& crypto,
                                           const std::string& more) {
  std::vector<std::string> a = {"--netns",           w.ns.name(), "capture",           "--iface",   "wb",
                                "--crypto",          crypto,      "--key-file",        keys,        "--node",
                                "1=" + kNodeA.str(), "--node",    "2=" + kNodeB.str(), "--timeout", "30",
                                "--ready-file",      "READY"};
  std::istringstream extra(more);
  for (std::string t; extra >> t;) a.push_back(t);
  return a;
}

class WireEsn : public ::testing::TestWithParam<std::string> {};

TEST_P(WireEsn, DecryptsSealnetSpisPerPairKeysAndEsnAcrossTheWrap) {
  const std::string crypto = GetParam();
  Wire w;
  const auto keys = write_key_file(kPairKeyLine);
  const auto p = plan(200);
  WireRun cap(node_capture_args(w, keys, crypto, "--expect 200"));
  ASSERT_TRUE(cap.ready()) << cap.log();
  const EspSa ab = agent_sa(1, kNodeA, kNodeB, 0), ba = agent_sa(2, kNodeB, kNodeA, 5);
  std::vector<std::vector<uint8_t>> frames;
  // 1 -> 2 from 2^32 - 50 on: 50 frames before the wrap, 50 after; 2 -> 1 from 1.
  for (uint64_t i = 0; i < p.count; ++i)
    frames.push_back(i % 2 ? agent_frame(ba, p, i, i / 2 + 1) : agent_frame(ab, p, i, kBlock - 50 + i / 2));
  w.inject(frames);
  ASSERT_EQ(cap.wait(), 0) << cap.log();
  const auto j = cap.summary();
  EXPECT_EQ(j["decrypted"], 200) << j.dump();
  EXPECT_EQ(j["received"], 200) << j.dump();
  EXPECT_EQ(j["unknown_sa"], 0) << j.dump();
  EXPECT_EQ(j["esn"], "auto");
  ASSERT_EQ(j["sas"].size(), 2u) << j.dump();
  for (const auto& sa : j["sas"]) {
    EXPECT_EQ(sa["esn"], true) << sa.dump();
    EXPECT_EQ(sa["decrypted"], 100) << sa.dump();
  }
  EXPECT_EQ(j["sas"][0]["spi"], "0x00011000");
  EXPECT_EQ(j["sas"][0]["origin"], "spi 0x00011000 (node 1 key 1 slot 0 generation 0)");
  EXPECT_EQ(j["sas"][0]["highest_seq"], kBlock + 49) << "seq_hi 1 after the wrap";
  EXPECT_EQ(j["sas"][1]["spi"], "0x00021005");
  EXPECT_EQ(cap.log().find("0102030405"), std::string::npos) << "no key bytes in any output";
  std::filesystem::remove(keys);
}

TEST_P(WireEsn, TheEngineRefusesAWrongSeqHiAndEsnOffRefusesEsn) {
  const std::string crypto = GetParam();
  Wire w;
  const auto keys = write_key_file(kPairKeyLine);
  const auto p = plan(4);
  const EspSa ab = agent_sa(1, kNodeA, kNodeB, 0);
  {
    // --esn on: straight to the engine. Frame 1 is sent as 2^33 + 2: a
    // receiver at 1 infers seq_hi 0, so its AAD cannot match.
    WireRun cap(node_capture_args(w, keys, crypto, "--esn on --expect 3 --idle 2"));
    ASSERT_TRUE(cap.ready()) << cap.log();
    w.inject({agent_frame(ab, p, 0, 1), agent_frame(ab, p, 1, 2 * kBlock + 2), agent_frame(ab, p, 2, 3),
              agent_frame(ab, p, 3, 4)});
    EXPECT_EQ(cap.wait(), 1) << cap.log();
    const auto j = cap.summary();
    EXPECT_EQ(j["decrypted"], 3) << j.dump();
    EXPECT_EQ(j["decrypt_failures"], 1) << j.dump();
    EXPECT_EQ(j["sas"][0]["esn"], true) << j.dump();
  }
  {
    WireRun cap(node_capture_args(w, keys, crypto, "--esn off --idle 2"));
    ASSERT_TRUE(cap.ready()) << cap.log();
    w.inject({agent_frame(ab, p, 0, 1), agent_frame(ab, p, 1, 2)});
    EXPECT_EQ(cap.wait(), 1) << cap.log();
    const auto j = cap.summary();
    EXPECT_EQ(j["decrypted"], 0) << j.dump();
    EXPECT_EQ(j["decrypt_failures"], 2) << "an ESN frame under a non-ESN SA: " << j.dump();
  }
  std::filesystem::remove(keys);
}

TEST_P(WireEsn, OpensTheGoldenEsnFrameOnceTheWindowPassedTheWrap) {
  // tests/unit/wire_codec_test.cpp's kEspEsn (wire_golden.py "esp_esn", and made
  // there from RFC 4106/4303 with OpenSSL alone): SPI 0x00013000, key 3, sequence
  // number 2^32 + 5, 192.168.0.1 -> 192.168.0.2. Two frames of the same SA at
  // 2^32 - 2 and 2^32 - 1 move the receiver's window there, so it infers seq_hi 1.
  const std::string crypto = GetParam();
  Wire w;
  const auto keys = write_key_file();
  const auto golden = [] {
    const char* h =
        "45000090000940004032b8dfc0a80001c0a8000200013000000000050102030405060708d55657f8d03aa7f15d"
        "a97f40d757824d51c491de9ce58790dd8d0d5f14e71c0f836d532f0825631149d5b4b482dc5e7c54199c2003"
        "35437022293fb1e34366603e48ee016a4ebf2391bd068315366ed7e6fd84601243ef2e35f7200d7dd58d0a41"
        "0854b2267fda11e7662682";
    std::vector<uint8_t> b;
    for (size_t i = 0; h[i] && h[i + 1]; i += 2)
      b.push_back(static_cast<uint8_t>(std::stoi(std::string(h + i, 2), nullptr, 16)));
    return b;
  }();
  auto parsed = keys::parse_key_file(kKeyLine, "test");
  auto sa = *esp_sa_from_key(parsed->keys[0], 0x00013000, *IpAddr::parse("192.168.0.1"),
                             *IpAddr::parse("192.168.0.2"));
  sa.esn = true;
  const auto p = plan(2);
  WireRun cap({"--netns", w.ns.name(), "capture", "--iface", "wb", "--crypto", crypto, "--key-file", keys,
               "--spi", "0x13000:3", "--expect", "3", "--timeout", "10", "--ready-file", "READY"});
  ASSERT_TRUE(cap.ready()) << cap.log();
  // Back to back: most likely one burst, whose frames cross the wrap.
  w.inject({build_ethernet(kMacB, kMacA, kEtherTypeIpv4, *seal_tunnel(sa, kBlock - 2, 1, inner(p, 0))),
            build_ethernet(kMacB, kMacA, kEtherTypeIpv4, *seal_tunnel(sa, kBlock - 1, 2, inner(p, 1))),
            build_ethernet(kMacB, kMacA, kEtherTypeIpv4, golden)},
           "wa", 0us);
  ASSERT_EQ(cap.wait(), 0) << cap.log();
  const auto j = cap.summary();
  EXPECT_EQ(j["decrypted"], 3) << j.dump();
  EXPECT_EQ(j["received"], 3) << "the golden frame's datagram (flow 3, seq 5) checked too: " << j.dump();
  EXPECT_EQ(j["sas"][0]["highest_seq"], kBlock + 5) << j.dump();
  std::filesystem::remove(keys);
}

INSTANTIATE_TEST_SUITE_P(Engines, WireEsn, ::testing::Values("aesni_gcm", "openssl"));

// `capture --config`: the agent's config file is the node table (its node and
// static peers) and names the key file; nothing else is given.
TEST(WireHarness, TheAgentConfigGivesTheNodesAndTheKeyFile) {
  Wire w;
  const auto keys = write_key_file(kPairKeyLine);
  const std::string config = scratch("agent.yaml");
  std::ofstream(config) << "node: {name: b, id: 2, addresses: [" << kNodeB.str()
                        << "], pod_cidrs: [10.2.0.0/24]}\n"
                        << "peers:\n  - {name: a, id: 1, addresses: [" << kNodeA.str()
                        << "], pod_cidrs: [10.1.0.0/24]}\n"
                        << "keys: {file: " << keys << "}\n";
  const auto p = plan(20);
  WireRun cap({"--netns", w.ns.name(), "capture", "--iface", "wb", "--config", config, "--expect", "20",
               "--timeout", "30", "--ready-file", "READY"});
  ASSERT_TRUE(cap.ready()) << cap.log();
  const EspSa ab = agent_sa(1, kNodeA, kNodeB, 0), ba = agent_sa(2, kNodeB, kNodeA, 0);
  std::vector<std::vector<uint8_t>> frames;
  for (uint64_t i = 0; i < p.count; ++i) frames.push_back(agent_frame(i % 2 ? ba : ab, p, i, i / 2 + 1));
  w.inject(frames);
  ASSERT_EQ(cap.wait(), 0) << cap.log();
  const auto j = cap.summary();
  EXPECT_EQ(j["decrypted"], 20) << j.dump();
  EXPECT_EQ(j["sas"].size(), 2u) << j.dump();
  std::filesystem::remove(keys);
  std::filesystem::remove(config);
}

}  // namespace
}  // namespace sealnet::wire
