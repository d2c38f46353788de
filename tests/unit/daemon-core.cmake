# SPDX-License-Identifier: MIT
# Unit tests of the daemon's pure domain modules (pool, image, dtb, store, json-out, vm-config).
# They compile the module sources directly (a small private library) so that they build even
# while other daemon modules are in flux; the code is the same that goes into gunyahd-core.
set(DAEMON_DOMAIN_SOURCES
    ${PROJECT_SOURCE_DIR}/daemon/pool.c
    ${PROJECT_SOURCE_DIR}/daemon/image.c
    ${PROJECT_SOURCE_DIR}/daemon/dtb.c
    ${PROJECT_SOURCE_DIR}/daemon/store.c
    ${PROJECT_SOURCE_DIR}/daemon/store-json.c
    ${PROJECT_SOURCE_DIR}/daemon/json-out.c
    ${PROJECT_SOURCE_DIR}/daemon/vm-config.c)
if(NOT TARGET gunyahd-domain)
    add_library(gunyahd-domain STATIC ${DAEMON_DOMAIN_SOURCES})
    target_include_directories(gunyahd-domain PUBLIC ${PROJECT_SOURCE_DIR}/daemon
                               ${PROJECT_SOURCE_DIR}/protocol)
    target_link_libraries(gunyahd-domain PUBLIC PkgConfig::FDT PkgConfig::JSONC Threads::Threads)
endif()

foreach(t vm-config pool image dtb store)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/test-${t}.c)
        set(libs gunyahd-domain)
        if(TARGET gunyah-test-image-header)
            list(APPEND libs gunyah-test-image-header)
        endif()
        gunyah_add_test(test-${t} SOURCES test-${t}.c LIBS ${libs} TIMEOUT 300)
    endif()
endforeach()
if(TARGET test-image AND TARGET gunyah-test-image)
    add_dependencies(test-image gunyah-test-image)
endif()
