// Memory for key material: every buffer that held a key is wiped before the
// allocator gives it back, so keys do not linger in freed heap memory. Shared by
// the key-file parser (keys/keys) and the XFRM codec (netlink/xfrm_codec).
#pragma once

#include <string.h>  // explicit_bzero: a plain memset before free may be optimised away

#include <cstdint>
#include <memory>
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

}  // namespace sealnet
