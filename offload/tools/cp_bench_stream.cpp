#include "offload/tools/cp_bench_stream.h"

#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string>

#include "core/fd.h"

namespace sealnet::offload::cpbench {

namespace {

constexpr size_t kChunkRequests = 2048;
constexpr size_t kChunkBytes = 1 << 20;
// A chunk's acks as queued skbs (~1 KiB truesize each) must fit; FORCE doubles it.
constexpr int kSocketBuffer = 8 << 20;
constexpr size_t kBatchRecv = 64;      // datagrams per recvmmsg
constexpr size_t kDatagramMax = 8192;  // an ack with extack text is far smaller
constexpr int kReplyTimeoutMs = 10000;
constexpr uint32_t kBarrierSeqBase = 0x80000000u;

nlmsghdr* hdr_of(nl::Bytes& b) { return reinterpret_cast<nlmsghdr*>(b.data()); }

}  // namespace

Result<std::vector<Status>> stream(std::vector<nl::Bytes>& requests, AckMode mode, StreamStats& stats) {
  if (requests.size() >= kBarrierSeqBase) return fail(EINVAL, "netlink stream", {}, "too many requests");
  Fd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_XFRM));
  if (!fd) return fail_errno("open netlink socket", "NETLINK_XFRM");
  const int on = 1;
  ::setsockopt(fd.get(), SOL_NETLINK, NETLINK_EXT_ACK, &on, sizeof on);
  ::setsockopt(fd.get(), SOL_NETLINK, NETLINK_CAP_ACK, &on, sizeof on);
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &kSocketBuffer, sizeof kSocketBuffer) != 0 ||
      ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUFFORCE, &kSocketBuffer, sizeof kSocketBuffer) != 0)
    return fail_errno("size netlink socket buffers", "needs CAP_NET_ADMIN");
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&local), sizeof local) != 0)
    return fail_errno("bind netlink socket");

  std::vector<Status> out(requests.size());
  std::vector<uint8_t> rbuf(kBatchRecv * kDatagramMax);
  std::array<iovec, kBatchRecv> iov{};
  std::array<mmsghdr, kBatchRecv> mm{};
  nl::Bytes batch;
  batch.reserve(kChunkBytes + 64);

  size_t begin = 0;
  for (uint32_t chunk = 0; begin < requests.size(); ++chunk) {
    batch.clear();
    size_t end = begin;
    while (end < requests.size() && end - begin < kChunkRequests) {
      nl::Bytes& m = requests[end];
      if (m.size() < NLMSG_HDRLEN)
        return fail(EINVAL, "netlink stream", {}, "request " + std::to_string(end) + " is not a message");
      if (!batch.empty() && batch.size() + m.size() > kChunkBytes) break;
      if (mode == AckMode::every) hdr_of(m)->nlmsg_flags |= NLM_F_ACK;
      else hdr_of(m)->nlmsg_flags &= static_cast<uint16_t>(~NLM_F_ACK);
      nl::set_seq(m, static_cast<uint32_t>(end + 1), 0);
      batch.insert(batch.end(), m.begin(), m.end());
      ++end;
    }
    const uint32_t barrier = kBarrierSeqBase + chunk;
    if (mode == AckMode::errors_only) {
      nlmsghdr h{};
      h.nlmsg_len = NLMSG_HDRLEN;
      h.nlmsg_type = NLMSG_NOOP;
      h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
      h.nlmsg_seq = barrier;
      const auto* p = reinterpret_cast<const uint8_t*>(&h);
      batch.insert(batch.end(), p, p + sizeof h);
    }
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    const ssize_t sent = ::sendto(fd.get(), batch.data(), batch.size(), 0, reinterpret_cast<sockaddr*>(&kernel),
                                  sizeof kernel);
    if (sent < 0) return fail_errno("netlink send", std::to_string(end - begin) + " requests");
    ++stats.sendmsgs;

    size_t outstanding = mode == AckMode::every ? end - begin : 1;  // every: acks; errors_only: the barrier
    while (outstanding > 0) {
      for (size_t i = 0; i < kBatchRecv; ++i) {
        iov[i] = {rbuf.data() + i * kDatagramMax, kDatagramMax};
        mm[i] = {};
        mm[i].msg_hdr.msg_iov = &iov[i];
        mm[i].msg_hdr.msg_iovlen = 1;
      }
      int n = ::recvmmsg(fd.get(), mm.data(), kBatchRecv, MSG_DONTWAIT, nullptr);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        // The kernel answers inside sendmsg, so an empty queue here is unusual;
        // wait once, then give up.
        pollfd p{fd.get(), POLLIN, 0};
        const int r = ::poll(&p, 1, kReplyTimeoutMs);
        if (r < 0) return fail_errno("poll netlink socket");
        if (r == 0)
          return fail(ETIMEDOUT, "netlink receive", {}, std::to_string(outstanding) + " answers missing");
        continue;
      }
      if (n < 0) {
        if (errno == ENOBUFS)
          return fail(ENOBUFS, "netlink receive", {}, "the kernel dropped messages for this socket; resynchronise");
        return fail_errno("netlink receive");
      }
      ++stats.recv_calls;
      for (int i = 0; i < n; ++i) {
        ++stats.datagrams;
        if (mm[i].msg_hdr.msg_flags & MSG_TRUNC)
          return fail(EMSGSIZE, "netlink receive", {}, "a message did not fit the receive buffer");
        auto msgs = nl::split_messages(nl::ByteView(rbuf.data() + i * kDatagramMax, mm[i].msg_len));
        if (!msgs) return std::unexpected(msgs.error());
        for (const auto& m : *msgs) {
          if (m.type() != NLMSG_ERROR) continue;  // NEWSA/NEWPOLICY answer nothing else
          auto ack = nl::parse_ack(m);
          if (!ack) return std::unexpected(ack.error());
          if (m.seq() == barrier) {
            --outstanding;
            continue;
          }
          if (m.seq() < begin + 1 || m.seq() > end) continue;  // not this chunk's
          const size_t idx = m.seq() - 1;
          if (ack->error != 0)
            out[idx] = fail(ack->error, "netlink request",
                            "type " + std::to_string(hdr_of(requests[idx])->nlmsg_type), ack->extack);
          if (mode == AckMode::every) --outstanding;
        }
      }
    }
    begin = end;
  }
  return out;
}

}  // namespace sealnet::offload::cpbench
