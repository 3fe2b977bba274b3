# The one build path for BPF programs: clang compiles bpf/<name>.bpf.c to an
# object, `bpftool gen skeleton` turns it into <name>.skel.h, and the target
# <name>_skel (INTERFACE) carries the include directory and libbpf.
find_program(BPF_CLANG NAMES clang REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)

# Debian keeps asm/ headers under the multiarch directory.
# Asked of the BPF clang: a newer clang as the C/C++ compiler (clang-19) no longer
# has -print-multiarch.
execute_process(COMMAND ${BPF_CLANG} -print-multiarch
                OUTPUT_VARIABLE SEALNET_MULTIARCH OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT SEALNET_MULTIARCH)
  message(FATAL_ERROR "${BPF_CLANG} -print-multiarch printed nothing: cannot find the asm/ headers")
endif()

function(sealnet_bpf_object name src)
  cmake_parse_arguments(ARG "" "" "DEPENDS" ${ARGN})
  set(obj ${CMAKE_CURRENT_BINARY_DIR}/${name}.bpf.o)
  set(skel_dir ${CMAKE_CURRENT_BINARY_DIR}/skel)
  set(skel ${skel_dir}/${name}.skel.h)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${BPF_CLANG} -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_x86
            -I/usr/include/${SEALNET_MULTIARCH} -I${CMAKE_SOURCE_DIR}
            -MD -MF ${obj}.d
            -c ${CMAKE_CURRENT_SOURCE_DIR}/${src} -o ${obj}
    DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${src} ${ARG_DEPENDS}
    # clang's depfile: a change to bpf/shared.h or bpf/lib/*.h rebuilds the
    # object (IMPLICIT_DEPENDS is ignored by Ninja).
    DEPFILE ${obj}.d
    COMMENT "BPF ${src}"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${skel_dir}
    COMMAND sh -c "${BPFTOOL} gen skeleton ${obj} name ${name} > ${skel}.tmp && mv ${skel}.tmp ${skel}"
    DEPENDS ${obj}
    COMMENT "BPF skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(${name}_skel_gen DEPENDS ${skel})
  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  target_include_directories(${name}_skel INTERFACE ${skel_dir})
  target_link_libraries(${name}_skel INTERFACE PkgConfig::LIBBPF)
  set_property(GLOBAL APPEND PROPERTY SEALNET_BPF_OBJECTS ${obj})
endfunction()
