/* The key id ring, one rule for the BPF programs (bpf/shared.h includes this)
 * and the agent (keys/keys.cpp): key ids 1..15, which of two is newer, and
 * which one a packet to a peer is sent with. Plain C, fixed-width types.
 */
#ifndef SEALNET_KEYS_RING_H
#define SEALNET_KEYS_RING_H

#include <linux/types.h>

#define SEALNET_KEY_ID_MIN 1 /* key ids run 1..15 and wrap to 1 */
#define SEALNET_KEY_ID_MAX 15

/* ---- key ids: a ring of 15 ----------------------------------------------
 * Key ids run 1..15 and the one after 15 is 1; 0 means "no key". Which of two
 * ids is newer is serial-number arithmetic (RFC 1982) over that ring: `a` is
 * newer than `b` when it is 1..7 rotations ahead of it, older when 8..14 ahead
 * (= 1..7 behind). The ring is odd, so no distance is ambiguous. This holds as
 * long as the ids live at one time (ours, every peer's) span at most 7
 * rotations, which the agent's one-rotation-at-a-time rule keeps.
 *
 * The key a packet is sent with is the older of ours and the peer's: a peer
 * that has not installed our newest key yet cannot decrypt it, and we have no
 * SA for a key the peer has but we do not. No key on either side: 0 (drop).
 */
#define SEALNET_KEY_RING 15u
#define SEALNET_KEY_HALF_RING 7u

static inline int sealnet_key_valid(__u32 k) { return k >= SEALNET_KEY_ID_MIN && k <= SEALNET_KEY_ID_MAX; }

static inline __u32 sealnet_key_next(__u32 k) { return k >= SEALNET_KEY_ID_MAX ? SEALNET_KEY_ID_MIN : k + 1; }

/* How many rotations `a` is ahead of `b` (0..14); both must be valid. */
static inline __u32 sealnet_key_ahead(__u32 a, __u32 b) {
  /* Not (a + RING - b) % RING: the classifier runs this per packet and a
   * division is the slowest ALU instruction it would execute. */
  return a >= b ? a - b : a + SEALNET_KEY_RING - b;
}

static inline __u32 sealnet_key_select(__u32 ours, __u32 peers) {
  if (!sealnet_key_valid(ours) || !sealnet_key_valid(peers)) return 0;
  return sealnet_key_ahead(ours, peers) <= SEALNET_KEY_HALF_RING ? peers : ours;
}

#endif /* SEALNET_KEYS_RING_H */
