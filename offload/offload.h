// offload/: XFRM netlink (pure encoders/decoders and one batched transport) and
// the binding of outbound/inbound ESP states and policies to egress devices.
#pragma once
