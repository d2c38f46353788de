# SPDX-License-Identifier: MIT
# Cross toolchain for arm64 (aarch64-linux-gnu) on a Debian 12 amd64 machine, using Debian's
# cross gcc and the arm64 multiarch -dev packages installed beside the amd64 ones
# (scripts/install-deps.sh --cross). Test programs run under qemu-aarch64 (qemu-user).
#   cmake -S . -B build-cross -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
# scripts/cross-build.sh does this, builds everything and runs the unit tests.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)

# Multiarch: the "sysroot" is / itself; arm64 libraries live in /usr/lib/aarch64-linux-gnu,
# the cross libc in /usr/aarch64-linux-gnu. Programs (cmake, pkg-config) stay amd64.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

# pkg-config sees only arm64 (and arch-independent) .pc files.
set(_gunyah_pc_dirs /usr/lib/aarch64-linux-gnu/pkgconfig /usr/share/pkgconfig)

# Debian 12's libfdt-dev ships no libfdt.pc and is not Multi-Arch: same, so the arm64 one
# cannot sit beside the amd64 one. Describe libfdt1:arm64 (runtime library, Multi-Arch:
# same) with the arch-independent headers of the installed libfdt-dev in a generated .pc.
set(_gunyah_fdt_so /usr/lib/aarch64-linux-gnu/libfdt.so.1)
if(NOT EXISTS /usr/lib/aarch64-linux-gnu/pkgconfig/libfdt.pc AND EXISTS ${_gunyah_fdt_so})
    # try_compile re-reads this file in a scratch dir under CMakeFiles/ of the same process,
    # and the environment it sets stays: always use the top build directory.
    string(REGEX REPLACE "/CMakeFiles/.*$" "" _gunyah_top ${CMAKE_BINARY_DIR})
    set(_gunyah_fdt_dir ${_gunyah_top}/aarch64-libfdt)
    file(REAL_PATH ${_gunyah_fdt_so} _gunyah_fdt_real)
    string(REGEX REPLACE ".*libfdt-([0-9.]+)\\.so$" "\\1" _gunyah_fdt_ver ${_gunyah_fdt_real})
    file(MAKE_DIRECTORY ${_gunyah_fdt_dir}/lib ${_gunyah_fdt_dir}/pkgconfig)
    file(CREATE_LINK ${_gunyah_fdt_so} ${_gunyah_fdt_dir}/lib/libfdt.so SYMBOLIC)
    file(WRITE ${_gunyah_fdt_dir}/pkgconfig/libfdt.pc
        "libdir=${_gunyah_fdt_dir}/lib\nincludedir=/usr/include\n"
        "Name: libfdt\nDescription: Flat Device Tree library (arm64, libfdt1:arm64)\n"
        "Version: ${_gunyah_fdt_ver}\nLibs: -L\${libdir} -lfdt\nCflags: -I\${includedir}\n")
    list(APPEND _gunyah_pc_dirs ${_gunyah_fdt_dir}/pkgconfig)
endif()
list(JOIN _gunyah_pc_dirs ":" _gunyah_pc_libdir)
set(ENV{PKG_CONFIG_LIBDIR} "${_gunyah_pc_libdir}")
set(ENV{PKG_CONFIG_PATH} "")
unset(ENV{PKG_CONFIG_SYSROOT_DIR})

# ctest runs every test binary through qemu-user. "-L /": the multiarch loader
# /lib/ld-linux-aarch64.so.1 of libc6:arm64 (pulled in by the arm64 -dev packages) with its
# own libc. Not "-L /usr/aarch64-linux-gnu": that loader (libc6-arm64-cross, another
# build) finds the multiarch libc.so.6 first and the mismatched pair hangs in
# pthread_create.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /)
