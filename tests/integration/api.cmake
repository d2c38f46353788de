# SPDX-License-Identifier: MIT
# The control API end to end: conformance with Debian's varlink-go-certification client.
set(GUNYAH_API_SERVER_SOURCES_I ${PROJECT_SOURCE_DIR}/daemon/api-server.c
    ${PROJECT_SOURCE_DIR}/daemon/api-json.c ${PROJECT_SOURCE_DIR}/daemon/api-service.c
    ${PROJECT_SOURCE_DIR}/daemon/api-certification.c ${PROJECT_SOURCE_DIR}/daemon/log.c)
if(TARGET gunyah-varlink)
    find_program(VARLINK_GO_CERTIFICATION varlink-go-certification)
    if(NOT VARLINK_GO_CERTIFICATION)
        set(VARLINK_GO_CERTIFICATION /usr/bin/varlink-go-certification)
    endif()
    gunyah_add_test(test-api-certification
                    SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-api-certification.c ${GUNYAH_API_SERVER_SOURCES_I}
                    LIBS gunyah-varlink PkgConfig::SYSTEMD LABELS integration
                    ARGS ${VARLINK_GO_CERTIFICATION} TIMEOUT 120)
    target_include_directories(test-api-certification PRIVATE ${PROJECT_SOURCE_DIR}/daemon
                               ${PROJECT_SOURCE_DIR}/tests/unit)
    set_tests_properties(test-api-certification PROPERTIES SKIP_RETURN_CODE 77)
endif()
