#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The systemd files of systemd/ as they would be installed:
#  - `systemd-analyze verify` has nothing to say about gunyahd.service and gunyahd.socket
#    (ExecStart pointed at the gunyahd of this build, which must exist and be executable);
#  - `systemd-analyze security --offline=yes` rates gunyahd.service at 2.0 or below;
#  - the socket and service carry the settings architecture.md asks for;
#  - systemd-sysusers and systemd-tmpfiles accept their files in a scratch root and create
#    the users, the group and the image directory as intended.
# usage: test-systemd-units.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=${1:?source dir}
build=${2:?build dir}
max_exposure=2.0

fail() { echo "FAIL: $*" >&2; exit 1; }

tmp=$(mktemp -d /tmp/test-systemd-units.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

gunyahd=$build/bin/gunyahd
[ -x "$gunyahd" ] || fail "$gunyahd is not built"
[ -f "$build/systemd/gunyahd.service" ] || fail "the configured gunyahd.service is missing"

# The unit as installed, with ExecStart's binary moved to this build.
sed "s|^ExecStart=[^ ]*|ExecStart=$gunyahd|" "$build/systemd/gunyahd.service" >"$tmp/gunyahd.service"
cp "$src/systemd/gunyahd.socket" "$tmp/"
grep -q "^ExecStart=$gunyahd " "$tmp/gunyahd.service" || fail "ExecStart not substituted"

echo "== systemd-analyze verify"
out=$(cd "$tmp" && systemd-analyze verify --man=no ./gunyahd.socket ./gunyahd.service 2>&1) ||
    fail "systemd-analyze verify failed: $out"
[ -z "$out" ] || fail "systemd-analyze verify complained: $out"

echo "== systemd-analyze security --offline=yes"
out=$(cd "$tmp" && systemd-analyze security --offline=yes ./gunyahd.service 2>&1) ||
    fail "systemd-analyze security failed: $out"
line=$(printf '%s\n' "$out" | grep 'Overall exposure level for gunyahd.service:') ||
    fail "no overall exposure line in: $out"
score=$(printf '%s\n' "$line" | sed -n 's/.*gunyahd\.service: \([0-9][0-9]*\.[0-9]\).*/\1/p')
[ -n "$score" ] || fail "cannot parse the score of: $line"
echo "exposure $score (at most $max_exposure)"
awk -v s="$score" -v m="$max_exposure" 'BEGIN { exit !(s + 0 <= m + 0) }' ||
    fail "exposure $score is above $max_exposure: $(printf '%s\n' "$out" | grep '✗')"

echo "== required settings"
need() { # file key=value
    grep -qxF "$2" "$1" || fail "$(basename "$1") lacks $2"
}
svc=$tmp/gunyahd.service
sock=$tmp/gunyahd.socket
for kv in Type=notify "DeviceAllow=/dev/gunyah rw" PrivateNetwork=yes \
    RestrictAddressFamilies=AF_UNIX ProtectSystem=strict StateDirectory=gunyahd \
    DevicePolicy=closed NoNewPrivileges=yes CapabilityBoundingSet= Requires=gunyahd.socket; do
    need "$svc" "$kv"
done
for kv in ListenStream=/run/gunyahd/io.gunyah.Manager SocketMode=0660 SocketGroup=gunyah \
    FileDescriptorName=varlink; do
    need "$sock" "$kv"
done

echo "== sysusers.d and tmpfiles.d in a scratch root"
root=$tmp/root
mkdir -p "$root/etc"
printf 'root:x:0:0::/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
systemd-sysusers --root="$root" "$src/systemd/gunyahd.sysusers" >/dev/null 2>&1 ||
    fail "systemd-sysusers rejected gunyahd.sysusers"
gunyah_gid=$(awk -F: '$1 == "gunyah" { print $3 }' "$root/etc/group")
[ -n "$gunyah_gid" ] || fail "group gunyah not created"
grep -q '^gunyahd:x:[0-9]*:[0-9]*:[^:]*:/var/lib/gunyahd:' "$root/etc/passwd" ||
    fail "user gunyahd not created: $(cat "$root/etc/passwd")"
systemd-tmpfiles --root="$root" --create "$src/systemd/gunyahd.tmpfiles" ||
    fail "systemd-tmpfiles rejected gunyahd.tmpfiles"
st=$(stat -c '%a %u %g' "$root/var/lib/gunyah/images")
[ "$st" = "2775 0 $gunyah_gid" ] || fail "image dir is '$st', want '2775 0 $gunyah_gid'"

echo "== udev rule"
grep -q '^KERNEL=="gunyah", SUBSYSTEM=="misc", OWNER="gunyahd"' "$src/systemd/60-gunyah.rules" ||
    fail "60-gunyah.rules does not hand /dev/gunyah to gunyahd"

echo "PASS"
