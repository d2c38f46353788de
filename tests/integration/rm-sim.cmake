# SPDX-License-Identifier: MIT
# Integration tests of gunyah-rm-sim: raw-byte RM clients and control-socket tests against
# the real build/bin/gunyah-rm-sim binary (spawned through gunyah-sim-client).
if(TARGET gunyah-sim-client)
    add_library(gunyah-sim-test-harness STATIC
                ${CMAKE_CURRENT_LIST_DIR}/test-sim-harness.c)
    target_include_directories(gunyah-sim-test-harness PUBLIC ${CMAKE_CURRENT_LIST_DIR}
                               ${PROJECT_SOURCE_DIR}/tests)
    target_link_libraries(gunyah-sim-test-harness PUBLIC gunyah-sim-client PkgConfig::FDT
                          PkgConfig::JSONC)
    foreach(t wire vm parcel boot control faults)
        if(EXISTS ${CMAKE_CURRENT_LIST_DIR}/test-sim-${t}.c)
            gunyah_add_test(test-sim-${t} SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-sim-${t}.c
                            LIBS gunyah-sim-test-harness LABELS integration TIMEOUT 300)
            add_dependencies(test-sim-${t} gunyah-rm-sim)
        endif()
    endforeach()
endif()
