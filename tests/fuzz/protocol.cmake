# SPDX-License-Identifier: MIT
# Fuzz targets of the RM wire codec; corpora in tests/fuzz/corpus/<name>/.
foreach(f fuzz-rm-reassembly fuzz-rm-decoders)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${f}.c)
        gunyah_add_fuzzer(${f} SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/${f}.c LIBS gunyah-protocol)
    endif()
endforeach()
