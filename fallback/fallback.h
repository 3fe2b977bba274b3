// fallback/: software IPsec wherever offload is not real, and the rules that move
// a device's SAs to software (refused add, no offload attached, table full, link
// flap, feature change) and back, each decision recorded with its reason.
#pragma once

#include "fallback/modes.h"
#include "fallback/verdict.h"
