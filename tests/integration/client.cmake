# SPDX-License-Identifier: MIT
# libgunyahctl, gunyahctl and the systemd units.
#   test-client-lib       the library against a scripted in-process Varlink server (unit)
#   test-client-daemon    every method and error against the real gunyahd + gunyah-rm-sim
#   test-client-cli.sh    the CLI: --json output parsed, exit codes
#   test-systemd-units.sh systemd-analyze verify + security score <= 2.0
#   test-systemd-activation.sh  gunyahd under systemd-socket-activate reaches READY=1
if(NOT TARGET libgunyahctl)
    return()
endif()

gunyah_add_test(test-client-lib SOURCES test-client-lib.c
                LIBS libgunyahctl PkgConfig::JSONC LABELS unit)
