# SPDX-License-Identifier: MIT
# Fuzz targets of the daemon's pure domain modules (image header/layout, dtb builder, store
# record loader). They compile the module sources directly, like tests/unit/daemon-core.cmake.
set(DAEMON_FUZZ_SOURCES
    ${PROJECT_SOURCE_DIR}/daemon/pool.c
    ${PROJECT_SOURCE_DIR}/daemon/image.c
    ${PROJECT_SOURCE_DIR}/daemon/dtb.c
    ${PROJECT_SOURCE_DIR}/daemon/store.c
    ${PROJECT_SOURCE_DIR}/daemon/store-json.c
    ${PROJECT_SOURCE_DIR}/daemon/json-out.c
    ${PROJECT_SOURCE_DIR}/daemon/vm-config.c)
foreach(t image-header dtb-builder store-loader)
    gunyah_add_fuzzer(fuzz-${t} SOURCES fuzz-${t}.c ${DAEMON_FUZZ_SOURCES}
                      LIBS PkgConfig::FDT PkgConfig::JSONC Threads::Threads)
    target_include_directories(fuzz-${t} PRIVATE ${PROJECT_SOURCE_DIR}/daemon
                               ${PROJECT_SOURCE_DIR}/protocol)
endforeach()
