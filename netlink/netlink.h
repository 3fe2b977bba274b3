// netlink/: the one netlink transport (libmnl: batched requests, acks matched to
// their requests, extack) and the pure codecs on it: XFRM, rtnetlink links,
// routes and rules, ethtool generic netlink, the tc filter dump. Encoders give
// bytes, decoders take them; golden bytes and recorded kernel replies test both.
#pragma once

#include "netlink/link_codec.h"
#include "netlink/route_codec.h"
#include "netlink/tc_codec.h"
#include "netlink/transport.h"
#include "netlink/xfrm_codec.h"
