# SPDX-License-Identifier: MIT
# Varlink: the parser/framer alone, and the API server's connection handling on a socketpair.
if(TARGET gunyah-varlink)
    gunyah_add_fuzzer(fuzz-varlink-parse SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz-varlink-parse.c
                      LIBS gunyah-varlink)
    gunyah_add_fuzzer(fuzz-varlink-stream
                      SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz-varlink-stream.c
                              ${PROJECT_SOURCE_DIR}/daemon/api-server.c
                              ${PROJECT_SOURCE_DIR}/daemon/api-json.c
                              ${PROJECT_SOURCE_DIR}/daemon/api-service.c
                              ${PROJECT_SOURCE_DIR}/daemon/api-certification.c
                              ${PROJECT_SOURCE_DIR}/daemon/json-out.c
                              ${PROJECT_SOURCE_DIR}/daemon/log.c
                      LIBS gunyah-varlink PkgConfig::SYSTEMD)
    target_include_directories(fuzz-varlink-stream PRIVATE ${PROJECT_SOURCE_DIR}/daemon)
endif()
