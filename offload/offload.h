// offload/: XFRM netlink (pure encoders/decoders and one batched transport) and
// the binding of outbound/inbound ESP states and policies to egress devices, with
// the per-slot policy routing that sends each ESP packet out of its SA's device.
#pragma once

#include "offload/binding.h"
#include "offload/reconciler.h"
#include "offload/route_codec.h"
#include "offload/route_kernel.h"
#include "offload/route_reconciler.h"
#include "offload/xfrm_codec.h"
#include "offload/xfrm_kernel.h"
