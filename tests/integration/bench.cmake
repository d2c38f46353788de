# SPDX-License-Identifier: MIT
# gunyah-bench --smoke: every figure of the benchmark in a seconds-long mode (few
# repetitions, small sizes). It checks that each figure runs; targets are recorded, not
# enforced (CI machines are shared). tests/bench is read after this folder, so the target is
# looked up once the whole project is read.
function(gunyah_bench_smoke_test)
    if(TARGET gunyah-bench)
        add_test(NAME bench-smoke
                 COMMAND gunyah-bench --smoke --json ${CMAKE_BINARY_DIR}/bench-smoke.json)
        set_tests_properties(bench-smoke PROPERTIES LABELS integration TIMEOUT 600
            ENVIRONMENT "GUNYAH_BUILD_DIR=${CMAKE_BINARY_DIR};ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
    endif()
endfunction()
cmake_language(DEFER DIRECTORY ${PROJECT_SOURCE_DIR} CALL gunyah_bench_smoke_test)
