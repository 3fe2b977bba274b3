// `sealnet lab`: runs datapath/lab/lab.sh, embedded in the binary at build time,
// so the lab needs nothing besides the binary (and bash, iproute2, jq, tcpdump).
#include "datapath/lab/lab.h"

#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace sealnet::lab {
namespace {
constexpr const char kScript[] =
#include "lab_script.inc"
    ;
}  // namespace

int lab_main(const std::vector<std::string>& args) {
  char self[PATH_MAX] = {};
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) {
    std::perror("sealnet lab: /proc/self/exe");
    return 2;
  }
  ::setenv("SEALNET_BIN", self, 1);
  ::setenv("SEALNET_SRC", SEALNET_SOURCE_DIR, 0);
  std::vector<const char*> argv = {"bash", "-c", kScript, "sealnet-lab"};
  for (const auto& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  ::execvp("bash", const_cast<char* const*>(argv.data()));
  std::fprintf(stderr, "sealnet lab: cannot run bash: %s\n", std::strerror(errno));
  return 2;
}

}  // namespace sealnet::lab
