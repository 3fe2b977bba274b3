# The version every binary reports (`sealnet --version`): the project version,
# plus "+g<commit>" (and ".dirty" for a modified tree) when built from git.
# Generated into <build>/generated/sealnet_version.h; re-run when HEAD moves.
set(SEALNET_VERSION ${PROJECT_VERSION})
find_package(Git QUIET)
if(GIT_FOUND AND EXISTS ${CMAKE_SOURCE_DIR}/.git)
  execute_process(COMMAND ${GIT_EXECUTABLE} -C ${CMAKE_SOURCE_DIR} rev-parse --short=12 HEAD
                  OUTPUT_VARIABLE _sealnet_rev OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET
                  RESULT_VARIABLE _sealnet_rev_rc)
  if(_sealnet_rev_rc EQUAL 0 AND _sealnet_rev)
    execute_process(COMMAND ${GIT_EXECUTABLE} -C ${CMAKE_SOURCE_DIR} diff --quiet HEAD --
                    RESULT_VARIABLE _sealnet_dirty ERROR_QUIET)
    set(SEALNET_VERSION "${SEALNET_VERSION}+g${_sealnet_rev}")
    if(NOT _sealnet_dirty EQUAL 0)
      string(APPEND SEALNET_VERSION ".dirty")
    endif()
  endif()
  # Configure again when HEAD (or the branch it names) moves.
  execute_process(COMMAND ${GIT_EXECUTABLE} -C ${CMAKE_SOURCE_DIR} rev-parse --absolute-git-dir
                  OUTPUT_VARIABLE _sealnet_gitdir OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(_sealnet_gitdir AND EXISTS ${_sealnet_gitdir}/HEAD)
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${_sealnet_gitdir}/HEAD)
    file(READ ${_sealnet_gitdir}/HEAD _sealnet_head)
    if(_sealnet_head MATCHES "^ref: ([^\n]+)" AND EXISTS ${_sealnet_gitdir}/${CMAKE_MATCH_1})
      set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${_sealnet_gitdir}/${CMAKE_MATCH_1})
    endif()
  endif()
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/version.h.in ${CMAKE_BINARY_DIR}/generated/sealnet_version.h @ONLY)
message(STATUS "sealnet version ${SEALNET_VERSION}")
