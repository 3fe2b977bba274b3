// core/: the few things every sealnet component shares — errors as values that
// name the operation, the object and the errno; move-only RAII file descriptors;
// entering and leaving network namespaces; IP prefixes; wiped secret buffers;
// numbers and hex as the tools write them.
#pragma once

#include "core/error.h"
#include "core/fd.h"
#include "core/ip.h"
#include "core/netns.h"
#include "core/secret.h"
#include "core/text.h"
