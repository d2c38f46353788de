# SPDX-License-Identifier: MIT
# Unit tests of daemon/rm-link*, daemon/rm-client* and daemon/log.c. They compile those
# sources directly (not gunyahd-core) so that they build on their own; the fake RM in each
# test writes hand-made bytes from rm-protocol.md into one end of a SEQPACKET socketpair.
set(RM_CLIENT_UNIT_SOURCES
    ${PROJECT_SOURCE_DIR}/daemon/log.c
    ${PROJECT_SOURCE_DIR}/daemon/rm-link.c
    ${PROJECT_SOURCE_DIR}/daemon/rm-client.c
    ${PROJECT_SOURCE_DIR}/daemon/rm-client-rx.c)

foreach(t test-rm-client test-rm-client-hostile test-rm-link)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${t}.c)
        gunyah_add_test(${t} SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/${t}.c ${RM_CLIENT_UNIT_SOURCES}
                        LIBS gunyah-protocol PkgConfig::SYSTEMD LABELS unit TIMEOUT 180)
        target_include_directories(${t} PRIVATE ${PROJECT_SOURCE_DIR}/daemon
                                   ${PROJECT_SOURCE_DIR}/protocol)
    endif()
endforeach()
