# SPDX-License-Identifier: MIT
# Helpers shared by every tests/ CMakeLists.txt.
#
# gunyah_add_test(NAME SOURCES f.c... [LIBS l...] [LABELS unit|integration] [ARGS a...]
#                 [TIMEOUT s])
#   builds build/bin/NAME and registers it with ctest.
#
# gunyah_add_fuzzer(NAME SOURCES f.c... [LIBS l...])
#   with GUNYAHD_FUZZ=ON: a libFuzzer binary build/bin/NAME; otherwise the same target
#   linked with tests/fuzz/replay-main.c. Either way ctest case "NAME-corpus" replays
#   every file of tests/fuzz/corpus/NAME/ (label fuzz).

function(gunyah_add_test name)
    cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS;ARGS" ${ARGN})
    add_executable(${name} ${T_SOURCES})
    target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
    target_link_libraries(${name} PRIVATE ${T_LIBS})
    add_test(NAME ${name} COMMAND ${name} ${T_ARGS})
    if(NOT T_LABELS)
        set(T_LABELS unit)
    endif()
    if(NOT T_TIMEOUT)
        set(T_TIMEOUT 120)
    endif()
    set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT}
        ENVIRONMENT "GUNYAH_BUILD_DIR=${CMAKE_BINARY_DIR};GUNYAH_SOURCE_DIR=${PROJECT_SOURCE_DIR};ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
endfunction()

function(gunyah_add_fuzzer name)
    cmake_parse_arguments(F "" "" "SOURCES;LIBS" ${ARGN})
    set(corpus ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus/${name})
    if(GUNYAHD_FUZZ)
        add_executable(${name} ${F_SOURCES})
        target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
        target_link_options(${name} PRIVATE -fsanitize=fuzzer)
        set(replay ${name} -runs=0 ${corpus})
    else()
        add_executable(${name} ${F_SOURCES} ${PROJECT_SOURCE_DIR}/tests/fuzz/replay-main.c)
        set(replay ${name} ${corpus})
    endif()
    target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
    target_link_libraries(${name} PRIVATE ${F_LIBS})
    add_test(NAME ${name}-corpus COMMAND ${replay})
    set_tests_properties(${name}-corpus PROPERTIES LABELS fuzz TIMEOUT 300)
endfunction()
