// `sealnet lab up|add-node|traffic|status|down [--vm]`: a cluster of network
// namespaces running one agent per node (datapath/lab/lab.sh says what it builds).
#pragma once

#include <string>
#include <vector>

namespace sealnet::lab {

// Replaces the process with the lab script; returns only when that fails.
int lab_main(const std::vector<std::string>& args);

}  // namespace sealnet::lab
