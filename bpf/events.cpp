#include "bpf/events.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <utility>
#include <vector>

namespace sealnet::bpf {

struct EventReader::State {
  Fd map;
  Handler handler;
};

namespace {

int on_record(void* ctx, void* data, size_t size) {
  auto* handler = static_cast<EventReader::Handler*>(ctx);
  // A record from a build with another layout is skipped, not misread.
  if (size < sizeof(sealnet_event)) return 0;
  sealnet_event e;
  __builtin_memcpy(&e, data, sizeof e);
  (*handler)(e);
  return 0;
}

}  // namespace

Result<EventReader> EventReader::from_fd(int map_fd, Handler handler) {
  EventReader r;
  r.st_ = std::make_unique<State>();
  r.st_->map = Fd(::fcntl(map_fd, F_DUPFD_CLOEXEC, 0));
  if (!r.st_->map) return fail_errno("duplicate map fd", kEventsMap);
  r.st_->handler = std::move(handler);
  r.rb_ = ring_buffer__new(r.st_->map.get(), on_record, &r.st_->handler, nullptr);
  if (!r.rb_) return fail_errno("attach to ring buffer", kEventsMap);
  return r;
}

EventReader::EventReader(EventReader&& o) noexcept : st_(std::move(o.st_)), rb_(std::exchange(o.rb_, nullptr)) {}
EventReader& EventReader::operator=(EventReader&& o) noexcept {
  if (this != &o) {
    if (rb_) ring_buffer__free(rb_);
    st_ = std::move(o.st_);
    rb_ = std::exchange(o.rb_, nullptr);
  }
  return *this;
}
EventReader::~EventReader() {
  if (rb_) ring_buffer__free(rb_);
}

Result<int> EventReader::poll(int timeout_ms) {
  const int n = ring_buffer__poll(rb_, timeout_ms);
  if (n == -EINTR) return 0;
  if (n < 0) return fail(-n, "poll ring buffer", kEventsMap);
  return n;
}

Result<int> EventReader::drain() {
  const int n = ring_buffer__consume(rb_);
  if (n < 0) return fail(-n, "read ring buffer", kEventsMap);
  return n;
}

namespace {

Result<Fd> open_map(const std::string& dir, const char* name, bool read_only) {
  const std::string path = dir + "/" + name;
  LIBBPF_OPTS(bpf_obj_get_opts, opts);
  opts.file_flags = read_only ? BPF_F_RDONLY : 0;
  const int fd = bpf_obj_get_opts(path.c_str(), &opts);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT)
      return fail(ENOENT, "open pinned map", path,
                  "no agent has pinned its maps there: is `sealnet agent` running with this bpffs_dir?");
    return fail(err, "open pinned map", path);
  }
  return Fd(fd);
}

}  // namespace

Result<PinnedEvents> open_pinned(const std::string& dir) {
  PinnedEvents p;
  p.dir = dir;
  // The consumer position is written by the reader: the ring buffer needs write access.
  auto events = open_map(dir, kEventsMap, false);
  if (!events) return std::unexpected(events.error());
  p.events = std::move(*events);
  struct {
    const char* name;
    Fd* fd;
  } const ro[] = {{kEventStatsMap, &p.stats}, {kConfigMap, &p.config}, {kDevicesMap, &p.devices},
                  {kDevhashMap, &p.devhash}};
  for (const auto& m : ro) {
    auto fd = open_map(dir, m.name, true);
    if (!fd) return std::unexpected(fd.error());
    *m.fd = std::move(*fd);
  }
  return p;
}

Result<sealnet_config> read_config(int fd) {
  const uint32_t zero = 0;
  sealnet_config c{};
  if (bpf_map_lookup_elem(fd, &zero, &c) != 0) return fail_errno("lookup", kConfigMap);
  return c;
}

Result<sealnet_ev_stats> read_event_stats(int fd) {
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return fail(-ncpu, "count possible CPUs");
  std::vector<sealnet_ev_stats> per_cpu(static_cast<size_t>(ncpu));
  const uint32_t zero = 0;
  if (bpf_map_lookup_elem(fd, &zero, per_cpu.data()) != 0) return fail_errno("lookup", kEventStatsMap);
  sealnet_ev_stats sum{};
  for (const auto& v : per_cpu) {
    sum.sent += v.sent;
    sum.ringbuf_full += v.ringbuf_full;
    sum.rate_limited += v.rate_limited;
  }
  return sum;
}

Result<std::map<uint8_t, uint32_t>> read_slots(int devices_fd, int devhash_fd) {
  std::map<uint8_t, uint32_t> out;
  sealnet_device_value v{};
  for (uint32_t i = 0; i < SEALNET_DEVICES_DIRECT; ++i) {
    if (bpf_map_lookup_elem(devices_fd, &i, &v) != 0) return fail_errno("lookup", kDevicesMap);
    if (v.flags & SEALNET_DEVICE_PRESENT) out[v.slot] = i;
  }
  uint32_t key = 0, next = 0;
  const uint32_t* prev = nullptr;
  while (bpf_map_get_next_key(devhash_fd, prev, &next) == 0) {
    if (bpf_map_lookup_elem(devhash_fd, &next, &v) == 0) out[v.slot] = next;
    key = next;
    prev = &key;
  }
  return out;
}

}  // namespace sealnet::bpf
