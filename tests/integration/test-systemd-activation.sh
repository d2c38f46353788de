#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# gunyahd under socket activation, as gunyahd.socket starts it: systemd-socket-activate
# binds the API socket (fd name "varlink", as FileDescriptorName= in gunyahd.socket) and
# starts gunyahd on the first connection. The test owns NOTIFY_SOCKET (a datagram socket
# read here) and checks:
#  - gunyahd serves the inherited socket (the connection that triggered the start gets its
#    org.varlink.service.GetInfo reply) and does not bind its own --api-socket path;
#  - READY=1 and STATUS= arrive on our socket; a second connection is served too;
#  - SIGTERM gives STOPPING=1 and exit status 0.
# usage: test-systemd-activation.sh BUILD_DIR
set -euo pipefail
build=${1:?build dir}
for b in gunyahd gunyah-rm-sim; do
    [ -x "$build/bin/$b" ] || { echo "FAIL: $build/bin/$b is not built" >&2; exit 1; }
done
command -v systemd-socket-activate >/dev/null || { echo "FAIL: no systemd-socket-activate" >&2; exit 1; }

tmp=$(mktemp -d /tmp/test-systemd-activation.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

python3 - "$build" "$tmp" <<'EOF'
import atexit, json, os, signal, socket, subprocess, sys, time

build, tmp = sys.argv[1], sys.argv[2]
procs = []

def cleanup():
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
atexit.register(cleanup)

def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    sys.exit(1)

def wait_until(cond, what, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    fail("timed out waiting for " + what)

# Our NOTIFY_SOCKET: a datagram socket, as systemd's own.
notify_path = os.path.join(tmp, "notify")
notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
notify.bind(notify_path)
notify.settimeout(1.0)
messages = []

def read_notify(until, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(until(m) for m in messages):
            return
        try:
            data = notify.recv(4096)
        except socket.timeout:
            if daemon.poll() is not None:
                fail("gunyahd exited (status %d) before %s" % (daemon.returncode, until.__doc__))
            continue
        messages.extend(data.decode().split("\n"))
    fail("no %s on NOTIFY_SOCKET within %.0f s; got %r" % (until.__doc__, timeout, messages))

def recv_reply(sock, what):
    reply = b""
    while not reply.endswith(b"\0"):
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            fail("no reply to %s within %.0f s" % (what, sock.gettimeout()))
        if not chunk:
            fail("gunyahd closed the connection without a reply to " + what)
        reply += chunk
    return json.loads(reply[:-1])

# The simulator.
sim = subprocess.Popen([os.path.join(build, "bin/gunyah-rm-sim"), "--listen", os.path.join(tmp, "rm.sock"),
                        "--pool", os.path.join(tmp, "pool") + ":0x80000000:256M"],
                       stdout=subprocess.PIPE, stderr=open(os.path.join(tmp, "sim.log"), "w"))
procs.append(sim)
if sim.stdout.readline().strip() != b"READY":
    fail("gunyah-rm-sim did not get ready")

api = os.path.join(tmp, "io.gunyah.Manager")
own = os.path.join(tmp, "own.sock")
os.mkdir(os.path.join(tmp, "state"))
log = open(os.path.join(tmp, "gunyahd.log"), "w")
daemon = subprocess.Popen(
    ["systemd-socket-activate", "-l", api, "--fdname=varlink", "-E", "NOTIFY_SOCKET=" + notify_path,
     os.path.join(build, "bin/gunyahd"), "--config=/dev/null",
     "--rm-socket=" + os.path.join(tmp, "rm.sock"),
     "--pool=" + os.path.join(tmp, "pool") + ":0x80000000:256M",
     "--state-dir=" + os.path.join(tmp, "state"), "--api-socket=" + own],
    stdout=log, stderr=log)
procs.append(daemon)
wait_until(lambda: os.path.exists(api), "the activation socket")

# The first connection starts gunyahd; the call waits in the socket until it serves it.
client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
client.settimeout(60.0)
client.connect(api)
client.sendall(b'{"method":"org.varlink.service.GetInfo"}\0')

def ready(m):
    "READY=1"
    return m == "READY=1"
read_notify(ready)
if not any(m.startswith("STATUS=") for m in messages):
    read_notify(lambda m: m.startswith("STATUS="), 15.0)

info = recv_reply(client, "GetInfo on the connection that activated gunyahd")
params = info.get("parameters", {})
if info.get("error") or params.get("product") != "gunyahd" or \
        "io.gunyah.Manager" not in params.get("interfaces", []):
    fail("unexpected GetInfo reply: %r" % info)
if os.path.exists(own):
    fail("gunyahd bound --api-socket although it was socket-activated")
client.close()

# A second, independent connection is served by the same process.
c2 = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
c2.settimeout(30.0)
c2.connect(api)
c2.sendall(b'{"method":"org.varlink.service.GetInterfaceDescription","parameters":{"interface":"io.gunyah.Manager"}}\0')
desc = recv_reply(c2, "GetInterfaceDescription").get("parameters", {}).get("description", "")
if "interface io.gunyah.Manager" not in desc:
    fail("GetInterfaceDescription did not return the IDL")
c2.close()

daemon.send_signal(signal.SIGTERM)
def stopping(m):
    "STOPPING=1"
    return m == "STOPPING=1"
read_notify(stopping, 30.0)
try:
    status = daemon.wait(30)
except subprocess.TimeoutExpired:
    fail("gunyahd did not exit within 30 s of SIGTERM")
if status != 0:
    fail("gunyahd exited with %d; log:\n%s" % (status, open(os.path.join(tmp, "gunyahd.log")).read()))
sim.send_signal(signal.SIGTERM)
sim.wait(30)
print("PASS: READY=1 through our NOTIFY_SOCKET; notifications: %s" %
      ", ".join(m.split("=")[0] for m in messages if m))
EOF
