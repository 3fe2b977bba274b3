// udp_stream: a numbered UDP stream for the rotation test.
//   udp_stream send --src IP --dst IP --port N --count N --pps N --mark-file PATH
//     Sends datagrams "SEALNET-SEQ <n>" n = 1..count; re-reads PATH (a hex mark)
//     every 20 ms and sets it as SO_MARK, which is how the test stands in for the
//     BPF classifier switching keys. Without --mark-file no mark is set (the
//     sealnet lab, where the real classifier marks the pods' packets).
//     --hold-file PATH: while PATH exists nothing is sent (the numbers go on where
//     they stopped): how the fault suite pauses the application while a link is
//     down, which no datapath can deliver over.
//     --until-file PATH --sent-file S: stop once PATH exists (count is then an upper
//     bound) and write the number of the last datagram sent to S.
//   udp_stream recv --bind IP --port N --count N --timeout S [--ready-file PATH]
//     [--until-file PATH --sent-file S]: with --until-file, once PATH exists wait
//     for S (the sender's last number), drain one second, and judge 1..that.
//     Counts distinct sequence numbers; prints received/missing/duplicates and a
//     `report` line (sent, received, lost, dup, last: the highest number received,
//     max_gap_ms: the longest time between two
//     arrivals, the outage a fault caused); exit 0 when every one of 1..count arrived.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Args {
  std::string src, dst, bind, mark_file, ready_file, hold_file, until_file, sent_file;
  int port = 0;
  long count = 0, pps = 1;
  int timeout_s = 0;
};

sockaddr_in addr(const std::string& ip, int port) {
  sockaddr_in s{};
  s.sin_family = AF_INET;
  s.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, ip.c_str(), &s.sin_addr);
  return s;
}

bool exists(const std::string& path) {
  struct stat st{};
  return !path.empty() && ::stat(path.c_str(), &st) == 0;
}

uint32_t read_mark(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  f >> s;
  return s.empty() ? 0 : static_cast<uint32_t>(std::stoul(s, nullptr, 16));
}

int send(const Args& a) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  auto src = addr(a.src, 0);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) return perror("bind"), 1;
  auto dst = addr(a.dst, a.port);
  const long count = a.count;
  const long pps = a.pps;
  const std::string& mark_file = a.mark_file;
  uint32_t mark = ~0u;
  auto next_check = std::chrono::steady_clock::now();
  const auto gap = std::chrono::microseconds(1000000 / pps);
  auto t = std::chrono::steady_clock::now();
  long errors = 0;
  long held_ms = 0, sent = 0;
  for (long n = 1; n <= count; ++n) {
    if (exists(a.until_file)) break;
    if (!a.hold_file.empty()) {
      bool held = false;
      while (exists(a.hold_file)) {
        held = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        held_ms += 10;
      }
      if (held) t = std::chrono::steady_clock::now();  // pace on from here, no burst
    }
    if (!mark_file.empty() && std::chrono::steady_clock::now() >= next_check) {
      const uint32_t m = read_mark(mark_file);
      if (m != mark) {
        mark = m;
        if (::setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark) != 0) return perror("SO_MARK"), 1;
        std::printf("seq %ld: mark 0x%x\n", n, mark);
        std::fflush(stdout);
      }
      next_check += std::chrono::milliseconds(20);
    }
    char buf[64];
    const int len = std::snprintf(buf, sizeof buf, "SEALNET-SEQ %ld", n);
    if (::sendto(fd, buf, static_cast<size_t>(len), 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst) < 0) ++errors;
    sent = n;
    t += gap;
    std::this_thread::sleep_until(t);
  }
  if (!a.sent_file.empty()) {
    const std::string tmp = a.sent_file + ".tmp";
    std::ofstream(tmp) << sent << "\n";
    ::rename(tmp.c_str(), a.sent_file.c_str());
  }
  std::printf("sent %ld datagrams, %ld send errors, held %ld ms\n", sent, errors, held_ms);
  return errors ? 1 : 0;
}

int recv(const Args& a) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  auto local = addr(a.bind, a.port);
  int big = 4 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) return perror("bind"), 2;
  if (!a.ready_file.empty()) std::ofstream(a.ready_file) << "ready\n";
  long count = a.count;
  const int timeout_s = a.timeout_s;
  std::vector<uint8_t> seen(static_cast<size_t>(count) + 1, 0);
  long got = 0, dups = 0, other = 0;
  std::chrono::steady_clock::time_point last{};
  std::chrono::steady_clock::duration max_gap{};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  std::chrono::steady_clock::time_point drain_until{};
  while (got < count && std::chrono::steady_clock::now() < deadline) {
    if (exists(a.until_file) && drain_until == std::chrono::steady_clock::time_point{} && exists(a.sent_file)) {
      std::ifstream f(a.sent_file);
      long n = 0;
      if (f >> n && n >= 0 && n <= count) {
        count = n;
        drain_until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      }
    }
    if (drain_until != std::chrono::steady_clock::time_point{} && std::chrono::steady_clock::now() >= drain_until)
      break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    char buf[128];
    const ssize_t n = ::recv(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) continue;
    buf[n] = 0;
    long seq = 0;
    if (std::sscanf(buf, "SEALNET-SEQ %ld", &seq) != 1 || seq < 1 || seq > count) {
      ++other;
      continue;
    }
    const auto now = std::chrono::steady_clock::now();
    if (last != std::chrono::steady_clock::time_point{}) max_gap = std::max(max_gap, now - last);
    last = now;
    if (seen[static_cast<size_t>(seq)]++) ++dups;
    else ++got;
  }
  got = 0;  // counted again: with --until-file the sender may have stopped short of --count
  for (long i = 1; i <= count; ++i) got += seen[static_cast<size_t>(i)] != 0;
  long last_seen = 0;
  for (long i = count; i >= 1; --i)
    if (seen[static_cast<size_t>(i)]) {
      last_seen = i;
      break;
    }
  long first_missing = 0;
  for (long i = 1; i <= count; ++i)
    if (!seen[static_cast<size_t>(i)]) {
      first_missing = i;
      break;
    }
  std::printf("received %ld of %ld, missing %ld (first %ld), duplicates %ld, other %ld\n", got, count, count - got,
              first_missing, dups, other);
  std::printf("report sent=%ld received=%ld lost=%ld dup=%ld last=%ld max_gap_ms=%lld\n", count, got, count - got,
              dups, last_seen,
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(max_gap).count()));
  return got == count ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"udp_stream: a numbered UDP stream"};
  app.require_subcommand(1);
  Args a;
  auto* send_cmd = app.add_subcommand("send", "Send SEALNET-SEQ 1..count");
  send_cmd->add_option("--src", a.src, "Source address")->required()->check(CLI::ValidIPV4);
  send_cmd->add_option("--dst", a.dst, "Destination address")->required()->check(CLI::ValidIPV4);
  send_cmd->add_option("--port", a.port, "Destination port")->required()->check(CLI::Range(1, 65535));
  send_cmd->add_option("--count", a.count, "Datagrams")->required()->check(CLI::Range(1L, 100000000L));
  send_cmd->add_option("--pps", a.pps, "Datagrams per second")->required()->check(CLI::Range(1L, 1000000L));
  send_cmd->add_option("--mark-file", a.mark_file, "File with the hex SO_MARK, re-read every 20 ms");
  send_cmd->add_option("--hold-file", a.hold_file, "Send nothing while this file exists");
  send_cmd->add_option("--until-file", a.until_file, "Stop once this file exists");
  send_cmd->add_option("--sent-file", a.sent_file, "Write the last number sent here at the end");
  auto* recv_cmd = app.add_subcommand("recv", "Count distinct sequence numbers");
  recv_cmd->add_option("--bind", a.bind, "Local address")->required()->check(CLI::ValidIPV4);
  recv_cmd->add_option("--port", a.port, "Local port")->required()->check(CLI::Range(1, 65535));
  recv_cmd->add_option("--count", a.count, "Datagrams expected")
      ->required()
      ->check(CLI::Range(1L, 100000000L));
  recv_cmd->add_option("--timeout", a.timeout_s, "Seconds")->required()->check(CLI::Range(1, 86400));
  recv_cmd->add_option("--ready-file", a.ready_file, "Written once the socket is bound");
  recv_cmd->add_option("--until-file", a.until_file, "Once it exists, judge 1..(the number in --sent-file)");
  recv_cmd->add_option("--sent-file", a.sent_file, "The sender's --sent-file");
  CLI11_PARSE(app, argc, argv);
  return *send_cmd ? send(a) : recv(a);
}
