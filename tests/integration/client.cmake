# SPDX-License-Identifier: MIT
# libgunyahctl, gunyahctl and the systemd units.
#   test-client-lib        the library against a scripted in-process Varlink server (unit)
#   test-client-daemon     every method and named error against gunyahd + gunyah-rm-sim
#   test-client-monitor    Monitor snapshot and resume without loss; a hundred clients
#   test-client-authz      peer-credential authorization (clients run as nobody)
#   test-client-cli        the gunyahctl binary: --json output parsed, exit codes
#   test-client-{daemon,monitor}-valgrind   the same with gunyahd under valgrind memcheck
#   test-client-install    the installed tree: soname, exports, pkg-config consumer, completion
#   test-systemd-units     systemd-analyze verify + security score <= 2.0, sysusers/tmpfiles
#   test-systemd-activation  gunyahd under systemd-socket-activate reaches READY=1
if(NOT TARGET libgunyahctl)
    return()
endif()

gunyah_add_test(test-client-lib SOURCES test-client-lib.c
                LIBS libgunyahctl PkgConfig::JSONC LABELS unit)

if(TARGET gunyah-sim-client AND TARGET gunyah-test-image-header)
    add_library(gunyah-client-harness STATIC test-client-harness.c)
    target_include_directories(gunyah-client-harness PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}
                               ${PROJECT_SOURCE_DIR}/tests)
    target_link_libraries(gunyah-client-harness PUBLIC libgunyahctl gunyah-sim-client
                          gunyah-test-image-header PkgConfig::JSONC)
    foreach(t daemon monitor authz cli)
        gunyah_add_test(test-client-${t} SOURCES test-client-${t}.c
                        LIBS gunyah-client-harness LABELS integration TIMEOUT 300)
        # The binaries these tests drive must be built first.
        foreach(dep gunyahd gunyahctl gunyah-rm-sim)
            if(TARGET ${dep})
                add_dependencies(test-client-${t} ${dep})
            endif()
        endforeach()
    endforeach()
    # The same API tests with gunyahd under valgrind memcheck: a memory error or a definite
    # leak makes gunyahd exit 99, which the harness reports. Not in sanitizer builds (ASan
    # and valgrind exclude each other) nor cross builds. (gunyahctl under valgrind too would
    # take minutes: test-client-cli stays native.)
    find_program(VALGRIND valgrind)
    if(VALGRIND AND NOT GUNYAHD_SANITIZE AND NOT GUNYAHD_FUZZ AND NOT CMAKE_CROSSCOMPILING)
        foreach(t daemon monitor)
            add_test(NAME test-client-${t}-valgrind COMMAND test-client-${t})
            set_tests_properties(test-client-${t}-valgrind PROPERTIES LABELS integration
                TIMEOUT 600 ENVIRONMENT
                "GUNYAH_BUILD_DIR=${CMAKE_BINARY_DIR};GUNYAH_SOURCE_DIR=${PROJECT_SOURCE_DIR};GUNYAHD_WRAPPER=${CMAKE_CURRENT_SOURCE_DIR}/valgrind-wrap.sh")
        endforeach()
    endif()
endif()

add_test(NAME test-client-install
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/test-client-install.sh ${CMAKE_BINARY_DIR})
set_tests_properties(test-client-install PROPERTIES LABELS integration TIMEOUT 120)

foreach(t units activation)
    if(t STREQUAL "units")
        set(args ${PROJECT_SOURCE_DIR} ${CMAKE_BINARY_DIR})
    else()
        set(args ${CMAKE_BINARY_DIR})
    endif()
    add_test(NAME test-systemd-${t}
             COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/test-systemd-${t}.sh ${args})
    set_tests_properties(test-systemd-${t} PROPERTIES LABELS integration TIMEOUT 180
        ENVIRONMENT "GUNYAH_BUILD_DIR=${CMAKE_BINARY_DIR};ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
endforeach()
