# SPDX-License-Identifier: MIT
# Varlink framing/parsing (protocol/varlink.c) and the API server framework (daemon/api-*).
if(TARGET gunyah-varlink)
    gunyah_add_test(test-varlink SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-varlink.c
                    LIBS gunyah-varlink LABELS unit)
endif()
