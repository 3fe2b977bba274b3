# Install rules and the Debian package (CPack DEB).
#   cmake --install build [--prefix P]        (DESTDIR honoured)
#   cpack --config build/CPackConfig.cmake    -> sealnet_<version>_<arch>.deb
# With the default prefix /usr everything lands in its FHS place: /usr/sbin/sealnet,
# /lib/systemd/system/sealnet-agent.service, /etc/sealnet/agent.yaml,
# /usr/share/man/man8/sealnet.8, /usr/share/doc/sealnet/. Another prefix P puts
# the unit under P/lib/systemd/system and the config under P/etc/sealnet, and the
# unit's ExecStart names P/sbin/sealnet and that config.
include(GNUInstallDirs)

install(TARGETS sealnet RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})

# The unit and the config go where the prefix chosen at *install* time says
# (`cmake --install --prefix P` as well as -DCMAKE_INSTALL_PREFIX), so their
# places and the unit's paths are worked out when installing.
install(CODE "set(SEALNET_SRC \"${CMAKE_SOURCE_DIR}\")\nset(SEALNET_SBINDIR \"${CMAKE_INSTALL_SBINDIR}\")")
install(CODE [[
  if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    set(_unitdir /lib/systemd/system)
    set(_confdir /etc/sealnet)
  else()
    set(_unitdir ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
    set(_confdir ${CMAKE_INSTALL_PREFIX}/etc/sealnet)
  endif()
  # The unit as deploy/ has it, pointed at this prefix's binary and config
  # (file(INSTALL) adds DESTDIR by itself).
  file(READ ${SEALNET_SRC}/deploy/systemd/sealnet-agent.service _unit)
  string(REPLACE "/usr/sbin/sealnet" "${CMAKE_INSTALL_PREFIX}/${SEALNET_SBINDIR}/sealnet" _unit "${_unit}")
  string(REPLACE "/etc/sealnet" "${_confdir}" _unit "${_unit}")
  set(_gen ${CMAKE_CURRENT_BINARY_DIR}/generated/unit)
  file(MAKE_DIRECTORY ${_gen})
  file(WRITE ${_gen}/sealnet-agent.service "${_unit}")
  file(INSTALL ${_gen}/sealnet-agent.service DESTINATION "${_unitdir}"
       FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  # The default config (an example to edit: the agent refuses to start on it
  # until the node and key file are real); root-only, like the keys it names.
  file(INSTALL ${SEALNET_SRC}/deploy/agent.yaml DESTINATION "${_confdir}"
       FILE_PERMISSIONS OWNER_READ OWNER_WRITE)
]])
install(FILES ${CMAKE_SOURCE_DIR}/docs/sealnet.8 DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${CMAKE_SOURCE_DIR}/docs/agent-config.md
              ${CMAKE_SOURCE_DIR}/docs/status.md ${CMAKE_SOURCE_DIR}/docs/probe-json.md
              ${CMAKE_SOURCE_DIR}/docs/xfrm-design.md ${CMAKE_SOURCE_DIR}/docs/kernel-facts.md
              ${CMAKE_SOURCE_DIR}/docs/interop.md ${CMAKE_SOURCE_DIR}/docs/security.md
              ${CMAKE_SOURCE_DIR}/docs/events.md ${CMAKE_SOURCE_DIR}/docs/traffic-classes.md
              ${CMAKE_SOURCE_DIR}/deploy/README.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/deploy/kubernetes DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/deploy/grafana DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
install(FILES ${CMAKE_SOURCE_DIR}/deploy/Containerfile DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

# ---- the Debian package ----------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME sealnet)
set(CPACK_PACKAGE_VERSION ${SEALNET_VERSION})
set(CPACK_PACKAGE_CONTACT "sealnet developers <sealnet@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "transparent node-to-node IPsec, NIC offload aware")
set(CPACK_PACKAGE_DESCRIPTION
    "sealnet encrypts every packet that leaves a node for another node with Linux\nIPsec (XFRM, ESP tunnel mode), steered by tc BPF programs, and uses a NIC's ESP\noffload where it really works, falling back automatically where it does not.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # Depends from dpkg-shlibdeps on the binary
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/deploy/debian/conffiles ${CMAKE_SOURCE_DIR}/deploy/debian/postinst
    ${CMAKE_SOURCE_DIR}/deploy/debian/prerm ${CMAKE_SOURCE_DIR}/deploy/debian/postrm)
set(CPACK_STRIP_FILES ON)
include(CPack)
