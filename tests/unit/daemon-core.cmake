# SPDX-License-Identifier: MIT
# Unit tests of the daemon's pure domain modules (pool, image, dtb, store, vm-config).
# They compile the module sources directly (a small private library) so that they build even
# while other daemon modules are in flux; the code is the same that goes into gunyahd-core.
set(DAEMON_DOMAIN_SOURCES
    ${PROJECT_SOURCE_DIR}/daemon/pool.c
    ${PROJECT_SOURCE_DIR}/daemon/image.c
    ${PROJECT_SOURCE_DIR}/daemon/dtb.c
    ${PROJECT_SOURCE_DIR}/daemon/store.c
    ${PROJECT_SOURCE_DIR}/daemon/vm-config.c)
if(NOT TARGET gunyahd-domain)
    add_library(gunyahd-domain STATIC ${DAEMON_DOMAIN_SOURCES})
    target_include_directories(gunyahd-domain PUBLIC ${PROJECT_SOURCE_DIR}/daemon
                               ${PROJECT_SOURCE_DIR}/protocol)
    target_link_libraries(gunyahd-domain PUBLIC PkgConfig::FDT PkgConfig::JSONC)
endif()

gunyah_add_test(test-vm-config SOURCES test-vm-config.c LIBS gunyahd-domain)
gunyah_add_test(test-pool SOURCES test-pool.c LIBS gunyahd-domain TIMEOUT 300)
gunyah_add_test(test-image SOURCES test-image.c LIBS gunyahd-domain)
gunyah_add_test(test-dtb SOURCES test-dtb.c LIBS gunyahd-domain)
gunyah_add_test(test-store SOURCES test-store.c LIBS gunyahd-domain)
