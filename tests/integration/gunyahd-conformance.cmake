# SPDX-License-Identifier: MIT
# The real gunyahd binary against Debian's varlink-go-certification client.
find_program(VARLINK_GO_CERTIFICATION_BIN varlink-go-certification)
if(NOT VARLINK_GO_CERTIFICATION_BIN)
    set(VARLINK_GO_CERTIFICATION_BIN /usr/bin/varlink-go-certification)
endif()
add_test(NAME test-gunyahd-certification
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/test-gunyahd-certification.sh ${CMAKE_BINARY_DIR}/bin
                 ${VARLINK_GO_CERTIFICATION_BIN})
set_tests_properties(test-gunyahd-certification PROPERTIES LABELS integration TIMEOUT 180
                     SKIP_RETURN_CODE 77)
