# SPDX-License-Identifier: MIT
# Fuzz targets of the RM wire codec; corpora in tests/fuzz/corpus/<name>/.
# Under GUNYAHD_FUZZ the codec sources are compiled into each fuzzer, so that they get
# -fsanitize=fuzzer coverage too (the gunyah-protocol archive is built without it, and a
# fuzzer that only sees its own edges runs blind).
file(GLOB RM_FUZZ_CODEC CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/protocol/rm-*.c)
foreach(f fuzz-rm-reassembly fuzz-rm-decoders)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${f}.c)
        if(GUNYAHD_FUZZ)
            gunyah_add_fuzzer(${f} SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/${f}.c ${RM_FUZZ_CODEC})
            target_include_directories(${f} PRIVATE ${PROJECT_SOURCE_DIR}/protocol)
        else()
            gunyah_add_fuzzer(${f} SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/${f}.c
                              LIBS gunyah-protocol)
        endif()
    endif()
endforeach()
