# SPDX-License-Identifier: MIT
# Reliability suites (tests/reliability/, docs/reliability.md) against the real gunyahd and
# gunyah-rm-sim processes. ctest runs their short, seeded modes; the full runs are the
# commands in docs/reliability.md.
set(REL_DIR ${PROJECT_SOURCE_DIR}/tests/reliability)
if(TARGET gunyah-sim-client AND TARGET gunyah-protocol AND TARGET gunyah-test-image-header)
    add_library(gunyah-rel-harness STATIC ${REL_DIR}/rel-harness.c ${REL_DIR}/rel-varlink.c
                ${REL_DIR}/rel-proxy.c)
    target_include_directories(gunyah-rel-harness PUBLIC ${REL_DIR} ${PROJECT_SOURCE_DIR}/protocol)
    target_link_libraries(gunyah-rel-harness PUBLIC gunyah-sim-client gunyah-protocol
                          gunyah-test-image-header PkgConfig::JSONC pthread)
    # name, source, short-mode arguments (each case well under 60 s on a loaded 2-core box)
    set(REL_CASES
        "rel-faults-1|test-rel-faults|--short|--seed|7|--part|1/3"
        "rel-faults-2|test-rel-faults|--short|--seed|7|--part|2/3"
        "rel-faults-3|test-rel-faults|--short|--seed|7|--part|3/3"
        "rel-soak|test-rel-soak|--short|--seed|11"
        "rel-load|test-rel-load|--short|--seed|5"
        "rel-hostile|test-rel-hostile|--short")
    foreach(c ${REL_CASES})
        string(REPLACE "|" ";" parts "${c}")
        list(GET parts 0 name)
        list(GET parts 1 prog)
        list(SUBLIST parts 2 -1 args)
        if(NOT EXISTS ${REL_DIR}/${prog}.c)
            continue()
        endif()
        if(NOT TARGET ${prog})
            add_executable(${prog} ${REL_DIR}/${prog}.c)
            target_link_libraries(${prog} PRIVATE gunyah-rel-harness)
            add_dependencies(${prog} gunyah-rm-sim gunyahd)
        endif()
        add_test(NAME ${name} COMMAND ${prog} ${args})
        set_tests_properties(${name} PROPERTIES LABELS integration TIMEOUT 180 SKIP_RETURN_CODE 77
            ENVIRONMENT "GUNYAH_BUILD_DIR=${CMAKE_BINARY_DIR};GUNYAH_SOURCE_DIR=${PROJECT_SOURCE_DIR};ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
    endforeach()
endif()
