#!/bin/sh
# SPDX-License-Identifier: MIT
# Run a program under valgrind memcheck for the "-valgrind" ctest cases: any memory error or
# definite leak turns into exit status 99, which the harness reports as a failed daemon.
exec valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
    --show-leak-kinds=definite --track-fds=no "$@"
