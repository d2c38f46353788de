# SPDX-License-Identifier: MIT
# Integration tests of the daemon core (daemon/manager*, vm, events) against the real
# build/bin/gunyah-rm-sim: the manager runs in the test process on an sd-event loop.
if(TARGET gunyah-sim-client AND TARGET gunyahd-core AND TARGET gunyah-test-image-header)
    add_library(gunyah-core-test-harness STATIC ${CMAKE_CURRENT_LIST_DIR}/core-harness.c)
    target_include_directories(gunyah-core-test-harness PUBLIC ${CMAKE_CURRENT_LIST_DIR}
                               ${PROJECT_SOURCE_DIR}/tests)
    target_link_libraries(gunyah-core-test-harness PUBLIC gunyahd-core gunyah-sim-client
                          gunyah-test-image-header PkgConfig::JSONC PkgConfig::SYSTEMD)
    # Pure parts (event log, state table, options): no simulator, label unit.
    gunyah_add_test(test-core-units SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-core-units.c
                    LIBS gunyahd-core LABELS unit)
    foreach(t lifecycle scale paging faults recovery daemon persist)
        if(EXISTS ${CMAKE_CURRENT_LIST_DIR}/test-core-${t}.c)
            gunyah_add_test(test-core-${t} SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-core-${t}.c
                            LIBS gunyah-core-test-harness LABELS integration TIMEOUT 600)
            add_dependencies(test-core-${t} gunyah-rm-sim)
            if(TARGET gunyahd)
                add_dependencies(test-core-${t} gunyahd)
            endif()
        endif()
    endforeach()
endif()
