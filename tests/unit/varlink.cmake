# SPDX-License-Identifier: MIT
# Varlink framing/parsing (protocol/varlink.c), API names (protocol/api*.c), the IDL files,
# and the API server framework (daemon/api-*).
if(TARGET gunyah-varlink)
    gunyah_add_test(test-varlink SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-varlink.c
                    LIBS gunyah-varlink LABELS unit)
    gunyah_add_test(test-varlink-api SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-varlink-api.c
                    LIBS gunyah-varlink LABELS unit)
endif()

# protocol/api-idl.c carries the text of the .varlink files: it must be current.
add_test(NAME varlink-idl-embedded
         COMMAND ${CMAKE_COMMAND} -DCHECK=ON -P ${PROJECT_SOURCE_DIR}/protocol/api-idl.cmake)
set_tests_properties(varlink-idl-embedded PROPERTIES LABELS unit)

# Each IDL parses with an off-the-shelf parser (Debian's varlink-go). Its parser accepts
# only lower-case interface names, so the check runs on a copy whose interface line is
# lower-cased; every declaration below it is parsed as written.
find_program(VARLINK_GO_GENERATOR varlink-go-interface-generator)
if(VARLINK_GO_GENERATOR)
    foreach(iface io.gunyah.Manager org.varlink.service org.varlink.certification)
        add_test(NAME varlink-idl-parses-${iface}
                 COMMAND sh -c "set -e; d=$(mktemp -d); trap 'rm -rf $d' EXIT; \
sed '/^interface /s/.*/\\L&/' '${PROJECT_SOURCE_DIR}/protocol/${iface}.varlink' > $d/x.varlink; \
cd $d; '${VARLINK_GO_GENERATOR}' x.varlink; test -s $d/x.go || ls $d/*.go >/dev/null")
        set_tests_properties(varlink-idl-parses-${iface} PROPERTIES LABELS unit)
    endforeach()
endif()

# The API server framework, built from its own sources so these tests do not depend on
# the rest of gunyahd-core.
set(GUNYAH_API_SERVER_SOURCES ${PROJECT_SOURCE_DIR}/daemon/api-server.c
    ${PROJECT_SOURCE_DIR}/daemon/api-json.c ${PROJECT_SOURCE_DIR}/daemon/api-service.c
    ${PROJECT_SOURCE_DIR}/daemon/api-certification.c ${PROJECT_SOURCE_DIR}/daemon/log.c
    ${PROJECT_SOURCE_DIR}/daemon/json-out.c)
if(TARGET gunyah-varlink)
    gunyah_add_test(test-varlink-server
                    SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-varlink-server.c ${GUNYAH_API_SERVER_SOURCES}
                    LIBS gunyah-varlink PkgConfig::SYSTEMD LABELS unit TIMEOUT 300)
    target_include_directories(test-varlink-server PRIVATE ${PROJECT_SOURCE_DIR}/daemon)
    gunyah_add_test(test-varlink-json
                    SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-varlink-json.c ${PROJECT_SOURCE_DIR}/daemon/api-json.c
                    LIBS gunyah-varlink LABELS unit)
    target_include_directories(test-varlink-json PRIVATE ${PROJECT_SOURCE_DIR}/daemon)
endif()
