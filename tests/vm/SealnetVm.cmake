# VM test tier: every registered guest suite runs in ONE boot (TCG boots are slow).
#
#   sealnet_vm_suite(<name> SCRIPT <path> [TIMEOUT <s>] [ENV NAME=VALUE...])
#     registers a guest suite (bash, run as root in the guest; exit 0 pass, 77 skip,
#     anything else fail) as ctest test vm.<name>. SCRIPT is relative to the calling
#     directory; ENV values may hold generator expressions ($<TARGET_FILE:tgt>).
#   sealnet_vm_env(NAME=VALUE...)   exported to every suite (generator expressions too)
#
# Every suite gets SEALNET_SRC, SEALNET_BUILD, SEALNET_VM_LIB (guest/lib.sh: PASS/FAIL
# helpers) and SEALNET_VM_ARTIFACTS (a directory kept with its log).
#
# The tests are created at the end of the top-level directory (cmake_language(DEFER)),
# so suites may be registered from any folder processed after this file is included;
# include it from the top-level CMakeLists.txt to let folders before tests/ register too.
#
# ctest: vm.boot (FIXTURES_SETUP vm) boots once and runs all suites, writing each
# suite's log and exit code under <build>/vm-results/run-*/; vm.<name> (FIXTURES_REQUIRED
# vm) prints its suite's log and returns its verdict. When the VM cannot run here,
# vm.boot exits 77 and leaves the reason for every vm.<name>, which then exit 77 too.
include_guard(GLOBAL)

set(SEALNET_VM_DIR ${CMAKE_CURRENT_LIST_DIR} CACHE INTERNAL "sealnet VM harness directory")

function(sealnet_vm_suite name)
  cmake_parse_arguments(ARG "" "SCRIPT;TIMEOUT" "ENV" ${ARGN})
  if(NOT ARG_SCRIPT)
    message(FATAL_ERROR "sealnet_vm_suite(${name}): SCRIPT is required")
  endif()
  if(NOT name MATCHES "^[A-Za-z0-9_-]+$")
    message(FATAL_ERROR "sealnet_vm_suite(${name}): name must be [A-Za-z0-9_-]+")
  endif()
  get_property(known GLOBAL PROPERTY SEALNET_VM_SUITES)
  if(name IN_LIST known)
    message(FATAL_ERROR "sealnet_vm_suite(${name}): registered twice")
  endif()
  cmake_path(ABSOLUTE_PATH ARG_SCRIPT BASE_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR} NORMALIZE OUTPUT_VARIABLE script)
  if(NOT EXISTS ${script})
    message(FATAL_ERROR "sealnet_vm_suite(${name}): no script ${script}")
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 900)
  endif()
  set_property(GLOBAL APPEND PROPERTY SEALNET_VM_SUITES ${name})
  set_property(GLOBAL PROPERTY SEALNET_VM_SUITE_${name} "${ARG_TIMEOUT} ${script}")
  set_property(GLOBAL PROPERTY SEALNET_VM_SUITE_ENV_${name} "${ARG_ENV}")
endfunction()

function(sealnet_vm_env)
  set_property(GLOBAL APPEND PROPERTY SEALNET_VM_ENV ${ARGN})
endfunction()

# Deferred to the end of the top-level directory: writes the manifest the guest runner
# reads and creates the ctest tests.
function(_sealnet_vm_finalize)
  get_property(suites GLOBAL PROPERTY SEALNET_VM_SUITES)
  if(NOT suites)
    return()
  endif()
  get_property(envs GLOBAL PROPERTY SEALNET_VM_ENV)
  set(results ${CMAKE_BINARY_DIR}/vm-results)
  set(manifest "env SEALNET_SRC=${CMAKE_SOURCE_DIR}\nenv SEALNET_BUILD=${CMAKE_BINARY_DIR}\n")
  set(suite_seconds 0)
  string(APPEND manifest "env SEALNET_VM_LIB=${SEALNET_VM_DIR}/guest/lib.sh\n")
  foreach(e IN LISTS envs)
    string(APPEND manifest "env ${e}\n")
  endforeach()
  foreach(s IN LISTS suites)
    get_property(suite_env GLOBAL PROPERTY SEALNET_VM_SUITE_ENV_${s})
    get_property(spec GLOBAL PROPERTY SEALNET_VM_SUITE_${s})
    string(REGEX MATCH "^[0-9]+" t "${spec}")
    math(EXPR suite_seconds "${suite_seconds} + ${t}")
    # "senv" lines hold for the next suite only; the runner passes them after the common ones.
    foreach(e IN LISTS suite_env)
      string(APPEND manifest "senv ${e}\n")
    endforeach()
    string(APPEND manifest "suite ${s} ${spec}\n")
  endforeach()
  file(GENERATE OUTPUT ${CMAKE_BINARY_DIR}/tests/vm/vm-suites.manifest CONTENT "${manifest}")

  add_test(NAME vm.boot
           COMMAND ${SEALNET_VM_DIR}/vm.sh ctest-boot ${CMAKE_BINARY_DIR}/tests/vm/vm-suites.manifest ${results})
  # Room for a cold cache (download + build, ~1-2 min) and the guest's own backstop
  # (vm.sh: 300 s + the suites' timeouts), never less than 30 minutes.
  math(EXPR boot_timeout "${suite_seconds} + 900")
  if(boot_timeout LESS 1800)
    set(boot_timeout 1800)
  endif()
  set_tests_properties(vm.boot PROPERTIES FIXTURES_SETUP vm LABELS vm TIMEOUT ${boot_timeout} SKIP_RETURN_CODE 77)
  foreach(s IN LISTS suites)
    add_test(NAME vm.${s} COMMAND ${SEALNET_VM_DIR}/vm.sh ctest-result ${results} ${s})
    set_tests_properties(vm.${s} PROPERTIES FIXTURES_REQUIRED vm LABELS vm TIMEOUT 60 SKIP_RETURN_CODE 77)
  endforeach()
endfunction()

cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL _sealnet_vm_finalize)
