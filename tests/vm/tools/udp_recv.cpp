// udp_recv: waits for one UDP datagram and prints it. VM test tool: proves a datagram
// crossed a tunnel to a real socket (busybox nc has no UDP mode, python is not a given).
//
//   udp_recv --port N [--bind IP] [--timeout S] [--expect TEXT] [--ready-file PATH]
// --ready-file is created once the socket is bound, so a test can start its sender
// without sleeping. Exit: 0 received (and equal to --expect when given); 1 timeout or
// other payload; 2 usage or socket error.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>

namespace {

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "udp_recv: %s\nusage: udp_recv --port N [--bind IP] [--timeout S] [--expect TEXT] [--ready-file PATH]\n",
               why);
  std::exit(2);
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string bind_addr = "0.0.0.0", expect, ready_file;
  long port = -1, timeout_s = 10;
  bool have_expect = false;
  for (int i = 1; i < argc; i += 2) {
    const std::string_view k = argv[i];
    if (i + 1 >= argc) usage("option without value");
    const char* v = argv[i + 1];
    if (k == "--port") port = std::strtol(v, nullptr, 10);
    else if (k == "--bind") bind_addr = v;
    else if (k == "--timeout") timeout_s = std::strtol(v, nullptr, 10);
    else if (k == "--expect") expect = v, have_expect = true;
    else if (k == "--ready-file") ready_file = v;
    else usage("unknown option");
  }
  if (port <= 0 || port > 65535 || timeout_s <= 0) usage("--port 1..65535 and --timeout > 0 required");

  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, bind_addr.c_str(), &sa.sin_addr) != 1) usage("--bind is an IPv4 address");
  Fd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0 || ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) < 0) {
    std::fprintf(stderr, "udp_recv: socket/bind %s:%ld: %s\n", bind_addr.c_str(), port, std::strerror(errno));
    return 2;
  }
  if (!ready_file.empty()) std::ofstream(ready_file) << "bound\n";

  pollfd p{fd.get(), POLLIN, 0};
  const int n = ::poll(&p, 1, static_cast<int>(timeout_s * 1000));
  if (n <= 0) {
    std::printf("udp_recv: nothing arrived on %s:%ld within %ld s\n", bind_addr.c_str(), port, timeout_s);
    return 1;
  }
  std::array<char, 65536> buf{};
  sockaddr_in from{};
  socklen_t from_len = sizeof from;
  const ssize_t len = ::recvfrom(fd.get(), buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &from_len);
  if (len < 0) {
    std::fprintf(stderr, "udp_recv: recvfrom: %s\n", std::strerror(errno));
    return 2;
  }
  const std::string payload(buf.data(), static_cast<size_t>(len));
  std::array<char, INET_ADDRSTRLEN> src{};
  inet_ntop(AF_INET, &from.sin_addr, src.data(), src.size());
  std::printf("udp_recv: %zd bytes from %s:%u: %s\n", len, src.data(), ntohs(from.sin_port), payload.c_str());
  if (have_expect && payload != expect) {
    std::printf("udp_recv: payload differs from the expected '%s'\n", expect.c_str());
    return 1;
  }
  return 0;
}
