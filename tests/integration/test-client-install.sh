#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# What the client and systemd components install, into a scratch prefix:
#  - the one header, libgunyahctl.so.0 (soname, only gunyahctl_* exported, all under the
#    LIBGUNYAHCTL_0 version node), gunyahctl.pc, the gunyahctl binary, its man page (when
#    scdoc is installed) and bash completion, the units, sysusers, tmpfiles and udev files;
#  - a program built against the installed tree with `pkg-config gunyahctl` links and runs
#    (connecting to a path where nothing listens gives -ENOENT);
#  - the completion offers verbs and per-verb options.
# usage: test-client-install.sh BUILD_DIR
set -euo pipefail
build=${1:?build dir}

fail() { echo "FAIL: $*" >&2; exit 1; }

tmp=$(mktemp -d /tmp/test-client-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

for c in client systemd; do
    cmake --install "$build" --prefix "$prefix" --component "$c" >/dev/null ||
        fail "cmake --install --component $c failed"
done

so=$(find "$prefix" -name 'libgunyahctl.so.0' | head -n 1)
[ -n "$so" ] || fail "libgunyahctl.so.0 not installed"
lib=$(dirname "$so")
for f in include/gunyahctl.h bin/gunyahctl share/bash-completion/completions/gunyahctl \
    lib/systemd/system/gunyahd.service lib/systemd/system/gunyahd.socket \
    lib/sysusers.d/gunyahd.conf lib/tmpfiles.d/gunyahd.conf lib/udev/rules.d/60-gunyah.rules; do
    [ -e "$prefix/$f" ] || fail "$f not installed"
done
for f in libgunyahctl.so libgunyahctl.so.0 pkgconfig/gunyahctl.pc; do
    [ -e "$lib/$f" ] || fail "$lib/$f not installed"
done
if command -v scdoc >/dev/null; then
    head -n 12 "$prefix/share/man/man1/gunyahctl.1" | grep -q '^\.TH "gunyahctl" "1"' ||
        fail "gunyahctl.1 missing or not a man page"
fi

echo "== soname and exports"
soname=$(objdump -p "$lib/libgunyahctl.so.0" | awk '$1 == "SONAME" { print $2 }')
[ "$soname" = libgunyahctl.so.0 ] || fail "soname is '$soname'"
exports=$(nm -D --defined-only "$lib/libgunyahctl.so.0" | awk '{ print $3 }')
bad=$(printf '%s\n' "$exports" | grep -v -e '^gunyahctl_[a-z_]*@@LIBGUNYAHCTL_0$' -e '^LIBGUNYAHCTL_0$' || true)
[ -z "$bad" ] || fail "exported beyond gunyahctl_*: $bad"
n=$(printf '%s\n' "$exports" | grep -c '^gunyahctl_' || true)
# every function the header declares is exported
for fn in $(sed -n 's/^[a-z].*[ *]\(gunyahctl_[a-z_]*\)(.*/\1/p' "$prefix/include/gunyahctl.h"); do
    printf '%s\n' "$exports" | grep -qx "$fn@@LIBGUNYAHCTL_0" || fail "$fn is declared but not exported"
done
echo "$n functions exported, all gunyahctl_*"

echo "== a consumer built with pkg-config"
cat >"$tmp/consumer.c" <<'EOF'
#include <errno.h>
#include <gunyahctl.h>
#include <stdio.h>
int main(void)
{
        gunyahctl *h = NULL;
        int r = gunyahctl_connect(&h, "unix:/nonexistent/io.gunyah.Manager");
        printf("%d\n", r);
        gunyahctl_disconnect(h);
        return r == -ENOENT ? 0 : 1;
}
EOF
export PKG_CONFIG_PATH=$lib/pkgconfig
pkg-config --exists gunyahctl || fail "pkg-config does not find gunyahctl"
[ "$(pkg-config --modversion gunyahctl)" = "$(sed -n 's/^Version: //p' "$lib/pkgconfig/gunyahctl.pc")" ]
flags=$(pkg-config --define-variable=prefix="$prefix" --cflags --libs gunyahctl)
case $flags in *"-I$prefix/include"*"-L$lib "*) ;; *) fail "pkg-config gives '$flags'" ;; esac
# A sanitizer build of the library needs its runtime in the program, first.
san=""
# (ldd's output is taken whole first: grep -q exits early, and under pipefail ldd's SIGPIPE
# would turn a match into a failure.)
lib_deps=$(ldd "$lib/libgunyahctl.so.0")
if grep -q libasan <<<"$lib_deps"; then
    san="-fsanitize=address,undefined"
fi
# shellcheck disable=SC2086
cc -std=c11 -Wall -Werror $san -o "$tmp/consumer" "$tmp/consumer.c" $flags ||
    fail "the consumer does not build against the installed tree"
LD_LIBRARY_PATH=$lib "$tmp/consumer" >/dev/null || fail "the consumer did not get -ENOENT"
ldd_out=$(LD_LIBRARY_PATH=$lib ldd "$tmp/consumer")
printf '%s\n' "$ldd_out" | grep -q "libgunyahctl.so.0 => $lib/libgunyahctl.so.0" ||
    fail "the consumer does not load the installed libgunyahctl.so.0: $ldd_out"

echo "== bash completion"
out=$(bash -c '
    source "$1"
    t() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _gunyahctl; echo "${COMPREPLY[*]}"; }
    t gunyahctl ""
    t gunyahctl de
    t gunyahctl stop vm --f
    t gunyahctl create vm --de
' _ "$prefix/share/bash-completion/completions/gunyahctl")
expected="list info create start stop destroy monitor daemon-info
destroy
--force
--demand-paging"
[ "$out" = "$expected" ] || fail "completion gave:
$out"

echo "PASS"
