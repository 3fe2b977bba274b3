// Memory for key material: every buffer that held a key is wiped before the
// allocator gives it back, so keys do not linger in freed heap memory. Shared by
// the key-file parser (keys/keys), the XFRM codec (netlink/xfrm_codec) and, for
// plain byte vectors that pass through netlink (requests, replies, receive
// buffers), WipeOnExit.
#pragma once

#include <string.h>  // explicit_bzero: a plain memset before free may be optimised away

#include <cstdint>
#include <memory>
#include <tuple>
#include <type_traits>
#include <vector>

namespace sealnet {

template <typename T>
struct WipingAllocator {
  using value_type = T;
  WipingAllocator() = default;
  template <typename U>
  WipingAllocator(const WipingAllocator<U>&) {}
  T* allocate(size_t n) { return std::allocator<T>().allocate(n); }
  void deallocate(T* p, size_t n) {
    explicit_bzero(p, n * sizeof(T));
    std::allocator<T>().deallocate(p, n);
  }
  template <typename U>
  bool operator==(const WipingAllocator<U>&) const {
    return true;
  }
};

using SecretBytes = std::vector<uint8_t, WipingAllocator<uint8_t>>;

// Zeroes a buffer's elements in place.
template <typename T, typename A>
  requires std::is_trivially_copyable_v<T>
void wipe_buffer(std::vector<T, A>& b) {
  explicit_bzero(b.data(), b.size() * sizeof(T));
}
// Zeroes each buffer of a list (a batch of netlink messages).
template <typename T, typename A, typename B>
void wipe_buffer(std::vector<std::vector<T, A>, B>& list) {
  for (auto& b : list) wipe_buffer(b);
}

// Wipes the buffers it names when the scope ends, on every return path: for
// plain vectors that held key material without owning a SecretBytes (netlink
// messages are std::vector<uint8_t> on the wire side). Buffers are named, not
// owned; they must outlive it.
template <typename... Buffers>
class WipeOnExit {
 public:
  explicit WipeOnExit(Buffers&... buffers) : buffers_(buffers...) {}
  WipeOnExit(const WipeOnExit&) = delete;
  WipeOnExit& operator=(const WipeOnExit&) = delete;
  ~WipeOnExit() {
    std::apply([](auto&... b) { (wipe_buffer(b), ...); }, buffers_);
  }

 private:
  std::tuple<Buffers&...> buffers_;
};

}  // namespace sealnet
