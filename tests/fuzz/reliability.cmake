# SPDX-License-Identifier: MIT
# fuzz-rm-client: the daemon's RM client and link against a hostile RM on a socketpair
# (tests/reliability, docs/reliability.md). Sources compiled in, so that libFuzzer sees
# their edges.
if(TARGET gunyah-protocol)
    file(GLOB REL_FUZZ_CODEC CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/protocol/rm-*.c)
    gunyah_add_fuzzer(fuzz-rm-client
                      SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz-rm-client.c
                              ${PROJECT_SOURCE_DIR}/daemon/rm-client.c
                              ${PROJECT_SOURCE_DIR}/daemon/rm-client-rx.c
                              ${PROJECT_SOURCE_DIR}/daemon/rm-link.c
                              ${PROJECT_SOURCE_DIR}/daemon/log.c
                              ${REL_FUZZ_CODEC}
                      LIBS PkgConfig::SYSTEMD)
    target_include_directories(fuzz-rm-client PRIVATE ${PROJECT_SOURCE_DIR}/daemon
                               ${PROJECT_SOURCE_DIR}/protocol)
endif()
