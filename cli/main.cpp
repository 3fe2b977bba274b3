// The one sealnet binary: each subcommand is a thin front end over a component.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "bpf/programs.h"

namespace {

int run_selftest() {
  if (geteuid() != 0) {
    std::cerr << "sealnet selftest: loading BPF programs needs root (CAP_BPF and CAP_NET_ADMIN); "
                 "run it with sudo\n";
    return 2;
  }
  auto cases = sealnet::bpf::self_test();
  if (!cases) {
    std::cerr << "sealnet selftest: " << cases.error().message() << "\n";
    return 1;
  }
  int failed = 0;
  std::cout << "BPF datapath on this kernel (loaded, verified, run with BPF_PROG_TEST_RUN):\n";
  for (const auto& c : *cases) {
    std::cout << "  " << (c.ok() ? "ok  " : "FAIL") << "  " << c.name << "\n";
    failed += c.ok() ? 0 : 1;
  }
  std::cout << (failed ? "selftest FAILED\n" : "selftest passed\n");
  return failed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sealnet: transparent, hardware-offload-aware IPsec for bare-metal clusters"};
  app.require_subcommand(1);
  auto* selftest = app.add_subcommand(
      "selftest", "Load the BPF datapath into this kernel and run known frames through it");
  CLI11_PARSE(app, argc, argv);
  if (*selftest) return run_selftest();
  return 0;
}
