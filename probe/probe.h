// probe/: the truth about ESP offload on every egress device — ethtool feature
// flags, then a trial SA read back from the kernel; a verdict with its reason.
#pragma once
