// offload/: the binding of outbound/inbound ESP states and policies to egress
// devices, the XFRM and route reconcilers over netlink/'s codecs and transport,
// and the per-slot policy routing that sends each ESP packet out of its SA's device.
#pragma once

#include "offload/binding.h"
#include "offload/reconciler.h"
#include "offload/route_kernel.h"
#include "offload/route_reconciler.h"
#include "offload/xfrm_kernel.h"
