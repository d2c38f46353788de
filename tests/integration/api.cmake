# SPDX-License-Identifier: MIT
# The control API end to end: conformance with Debian's varlink-go-certification client.
set(GUNYAH_API_SERVER_SOURCES_I ${PROJECT_SOURCE_DIR}/daemon/api-server.c
    ${PROJECT_SOURCE_DIR}/daemon/api-json.c ${PROJECT_SOURCE_DIR}/daemon/api-service.c
    ${PROJECT_SOURCE_DIR}/daemon/api-certification.c ${PROJECT_SOURCE_DIR}/daemon/log.c
    ${PROJECT_SOURCE_DIR}/daemon/json-out.c)
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

# io.gunyah.Manager over the core harness (a Manager on the real gunyah-rm-sim). The
# harness target is defined by core.cmake, which is read after this file: look for it once
# the whole directory is read.
function(gunyah_api_manager_tests)
    if(TARGET gunyah-core-test-harness AND TARGET gunyahd-core)
        gunyah_add_test(test-api-manager SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-api-manager.c
                        LIBS gunyah-core-test-harness LABELS integration TIMEOUT 600)
        target_include_directories(test-api-manager PRIVATE ${PROJECT_SOURCE_DIR}/tests/unit)
        add_dependencies(test-api-manager gunyah-rm-sim)
    endif()
endfunction()
cmake_language(DEFER CALL gunyah_api_manager_tests)
