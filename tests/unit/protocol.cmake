# SPDX-License-Identifier: MIT
# Unit tests of the RM wire codec (protocol/rm-*.c).
foreach(t rm-wire rm-vm rm-mem rm-notify)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/test-${t}.c)
        gunyah_add_test(test-${t} SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test-${t}.c
                        LIBS gunyah-protocol LABELS unit)
    endif()
endforeach()
