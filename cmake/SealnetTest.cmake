# Test tiers, each a ctest label:
#   unit  no privileges, no kernel state
#   host  root on the host kernel; every test makes its own network namespace
#   vm    inside the project's VM (real ESP, netdevsim); see tests/vm/
# A test that cannot run exits 77 with its reason and ctest reports it skipped.
set(SEALNET_SKIP_CODE 77)

function(sealnet_unit_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gtest_main GTest::gmock)
  gtest_discover_tests(${name} TEST_PREFIX "unit." DISCOVERY_MODE PRE_TEST
                       PROPERTIES LABELS unit)
endfunction()

# Host tests link sealnet_host_main: it checks for root and namespaces before any
# test runs and exits 77 with the reason when they are missing.
function(sealnet_host_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} sealnet_host_main GTest::gtest GTest::gmock)
  gtest_discover_tests(${name} TEST_PREFIX "host." DISCOVERY_MODE PRE_TEST
                       PROPERTIES LABELS host SKIP_RETURN_CODE ${SEALNET_SKIP_CODE}
                                  RUN_SERIAL TRUE TIMEOUT 120)
endfunction()
