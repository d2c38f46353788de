// SPDX-License-Identifier: MIT
/*
 * gunyah-devcheck: checks /dev/gunyah (kernel/gunyah_host.c) from inside an arm64 host,
 * built static for the real-RM lane's initrd (tests/real-rm/run.sh).
 *
 *   gunyah-devcheck contract POOL_BASE POOL_SIZE
 *       Every part of the device contract that needs no hypercall: exclusive open, the
 *       pool ioctl and mmap, argument checks, poll, and unbinding the driver under an open
 *       fd. Safe on a host without Gunyah (the smoke boot under plain QEMU): it never
 *       issues a read() or write() that would reach the hypervisor.
 *   gunyah-devcheck loopback
 *       Against tests/real-rm/loopback-hyp.S (a queue of depth 8 that returns what is sent,
 *       with the two vIRQs): packets of 1..240 bytes come back whole and in order, EAGAIN
 *       on full and empty, POLLIN/POLLOUT follow NotEmpty/NotFull and the vIRQs, a blocked
 *       read wakes on the RX vIRQ and a blocked write on the TX vIRQ.
 *   gunyah-devcheck rm-vmid EXPECTED_VMID [LINK]
 *       Talks to the RM (gunyahd stopped) over LINK (default /dev/gunyah; a path outside
 *       /dev is gunyah-rm-sim's SOCK_SEQPACKET socket): VM_ALLOCATE(0) must hand out
 *       EXPECTED_VMID again (the destroyed guest's VMID is free), then VM_DEALLOCATE it.
 *
 * Prints one line per check; exits 0 when all pass, 1 otherwise.
 * Wire facts: rm-protocol.md sections 1, 2 and the VM_ALLOCATE/VM_DEALLOCATE entries.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "uapi/linux/gunyah-host.h"

#define DEV "/dev/gunyah"
#define DRIVER "/sys/bus/platform/drivers/gunyah-host"

static int failures;

static void check(int ok, const char *what)
{
        printf("devcheck: %s %s\n", ok ? "ok  " : "FAIL", what);
        if (!ok)
                failures++;
}

static int expect_errno(long r, int e)
{
        return r < 0 && errno == e;
}

static int write_file(const char *path, const char *s)
{
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return -errno;
        n = write(fd, s, strlen(s));
        close(fd);
        return n == (ssize_t)strlen(s) ? 0 : -EIO;
}

/* The platform device name bound to the driver, e.g. "hypervisor:qcom,resource-...". */
static int bound_device(char *name, size_t size)
{
        char link[512];
        ssize_t n = readlink("/sys/class/misc/gunyah/device", link, sizeof(link) - 1);
        const char *base;

        if (n < 0)
                return -errno;
        link[n] = 0;
        base = strrchr(link, '/');
        base = base ? base + 1 : link;
        if (strlen(base) >= size)
                return -ENAMETOOLONG;
        memcpy(name, base, strlen(base) + 1);
        return 0;
}

static int contract(uint64_t want_base, uint64_t want_size)
{
        uint8_t buf[GUNYAH_HOST_MSG_SIZE + 1] = { 0 };
        struct gunyah_host_pool pool;
        struct pollfd pfd;
        char devname[512];
        long page = sysconf(_SC_PAGESIZE);
        uint8_t *map;
        int fd, fd2, r;

        fd = open(DEV, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        check(fd >= 0, "open " DEV);
        if (fd < 0)
                return 1;
        fd2 = open(DEV, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        check(expect_errno(fd2, EBUSY), "second open gives EBUSY");

        memset(&pool, 0xff, sizeof(pool));
        r = ioctl(fd, GUNYAH_HOST_GET_POOL, &pool);
        check(r == 0, "GUNYAH_HOST_GET_POOL");
        check(pool.ipa_base == want_base && pool.size == want_size,
              "pool base and size are the DT's");
        printf("devcheck: pool ipa %#llx size %#llx api %u page %u\n",
               (unsigned long long)pool.ipa_base, (unsigned long long)pool.size,
               pool.api_version, pool.page_size);
        check(pool.api_version == GUNYAH_HOST_API_VERSION && pool.page_size == (uint32_t)page,
              "api_version and page_size");
        check(!pool.reserved[0] && !pool.reserved[1] && !pool.reserved[2] && !pool.reserved[3],
              "reserved fields are zero");
        check(expect_errno(ioctl(fd, _IO('G', 0x03)), ENOTTY), "foreign ioctl gives ENOTTY");

        map = mmap(NULL, want_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        check(map != MAP_FAILED, "mmap the whole pool");
        if (map != MAP_FAILED) {
                for (uint64_t off = 0; off < want_size; off += 1u << 20)
                        memcpy(map + off, &off, sizeof(off));
                r = 1;
                for (uint64_t off = 0; off < want_size; off += 1u << 20)
                        r &= memcmp(map + off, &off, sizeof(off)) == 0;
                check(r, "pool memory keeps what was written (one word per MiB)");
                munmap(map, want_size);
        }
        map = mmap(NULL, page, PROT_READ, MAP_SHARED, fd, want_size - page);
        check(map != MAP_FAILED, "mmap the last page by offset");
        if (map != MAP_FAILED)
                munmap(map, page);
        map = mmap(NULL, 2 * page, PROT_READ, MAP_SHARED, fd, want_size - page);
        check(map == MAP_FAILED && errno == EINVAL, "mmap past the end gives EINVAL");
        map = mmap(NULL, page, PROT_READ, MAP_PRIVATE, fd, 0);
        check(map == MAP_FAILED && errno == EINVAL, "MAP_PRIVATE gives EINVAL");

        check(expect_errno(write(fd, buf, 0), EINVAL), "write of 0 bytes gives EINVAL");
        check(expect_errno(write(fd, buf, GUNYAH_HOST_MSG_SIZE + 1), EINVAL),
              "write of 241 bytes gives EINVAL");
        check(expect_errno(read(fd, buf, GUNYAH_HOST_MSG_SIZE - 1), EINVAL),
              "read into 239 bytes gives EINVAL");
        check(expect_errno(lseek(fd, 0, SEEK_SET), ESPIPE), "lseek gives ESPIPE");

        pfd = (struct pollfd){ .fd = fd, .events = POLLIN | POLLOUT };
        r = poll(&pfd, 1, 0);
        check(r == 1 && (pfd.revents & (POLLIN | POLLOUT)) == (POLLIN | POLLOUT),
              "poll after open: POLLIN (drain first) and POLLOUT");

        /* Unbind under the open fd: calls fail with ENODEV, nothing crashes, close works. */
        r = bound_device(devname, sizeof(devname));
        check(r == 0, "misc device has a parent platform device");
        if (r == 0) {
                printf("devcheck: platform device %s\n", devname);
                check(write_file(DRIVER "/unbind", devname) == 0, "unbind the driver");
                check(access(DEV, F_OK) != 0, DEV " is gone");
                check(expect_errno(read(fd, buf, sizeof(buf)), ENODEV), "read gives ENODEV");
                check(expect_errno(write(fd, buf, 8), ENODEV), "write gives ENODEV");
                pfd = (struct pollfd){ .fd = fd, .events = POLLIN | POLLOUT };
                check(poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLERR | POLLHUP)),
                      "poll gives POLLERR|POLLHUP");
                check(close(fd) == 0, "close after unbind");
                fd = -1;
                check(write_file(DRIVER "/bind", devname) == 0, "bind the driver again");
                fd = open(DEV, O_RDWR | O_NONBLOCK | O_CLOEXEC);
                check(fd >= 0, "open after rebind");
        }
        if (fd >= 0)
                close(fd);
        fd = open(DEV, O_RDWR | O_CLOEXEC);
        check(fd >= 0, "open again after close (the opener slot was released)");
        if (fd >= 0)
                close(fd);
        return failures ? 1 : 0;
}

static short poll_now(int fd, int timeout_ms)
{
        struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLOUT };

        return poll(&pfd, 1, timeout_ms) < 0 ? -1 : pfd.revents;
}

/* Wait (bounded) until poll reports all of `want`. */
static int poll_for(int fd, short want)
{
        for (int i = 0; i < 100; i++) {
                short r = poll_now(fd, 100);

                if (r >= 0 && (r & want) == want)
                        return 1;
        }
        return 0;
}

static void packet(uint8_t *p, size_t n, unsigned tag)
{
        for (size_t i = 0; i < n; i++)
                p[i] = (uint8_t)(tag * 31 + i);
}

/* A child blocked in the device: state 'S' in /proc/PID/stat (bounded wait). */
static int sleeping(pid_t pid)
{
        char path[64], buf[256];

        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        for (int i = 0; i < 200; i++) {
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
                char *p;

                if (fd >= 0)
                        close(fd);
                if (n > 0) {
                        buf[n] = 0;
                        p = strrchr(buf, ')');
                        if (p && p[1] == ' ' && p[2] == 'S')
                                return 1;
                }
                usleep(50 * 1000);
        }
        return 0;
}

static int child_ok(pid_t pid)
{
        int status;

        return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static int loopback(void)
{
        static const size_t sizes[8] = { 1, 8, 12, 100, 200, 232, 239, 240 };
        uint8_t out[GUNYAH_HOST_MSG_SIZE], in[4096];
        int fd, ok, flags;
        ssize_t n;
        pid_t pid;

        /* A broken module could leave a blocking call asleep for ever: bound the whole run
         * (SIGALRM kills us, and the host's /init reports the failure). */
        alarm(180);
        fd = open(DEV, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        check(fd >= 0, "open " DEV);
        if (fd < 0)
                return 1;
        check(expect_errno(read(fd, in, sizeof(in)), EAGAIN), "empty queue: read gives EAGAIN");
        check(poll_now(fd, 0) == POLLOUT, "then poll: POLLOUT only");

        ok = 1;
        for (unsigned i = 0; i < 8; i++) {
                packet(out, sizes[i], i);
                ok &= write(fd, out, sizes[i]) == (ssize_t)sizes[i];
                if (i == 0)
                        check(poll_for(fd, POLLIN), "first send (PUSH): POLLIN from the RX vIRQ");
                if (i == 6)
                        check(poll_now(fd, 0) & POLLOUT, "7 queued: POLLOUT (NotFull)");
        }
        check(ok, "8 packets of 1..240 bytes sent");
        check(!(poll_now(fd, 0) & POLLOUT), "8 queued: no POLLOUT (NotFull false)");
        check(expect_errno(write(fd, out, 4), EAGAIN), "full queue: write gives EAGAIN");

        ok = 1;
        for (unsigned i = 0; i < 8; i++) {
                packet(out, sizes[i], i);
                n = read(fd, in, i % 2 ? sizeof(in) : GUNYAH_HOST_MSG_SIZE);
                ok &= n == (ssize_t)sizes[i] && !memcmp(in, out, sizes[i]);
                if (i == 0)
                        check(poll_for(fd, POLLOUT), "full -> 7: POLLOUT from the TX vIRQ");
                if (i == 6)
                        check(poll_now(fd, 0) & POLLIN, "1 left: POLLIN (NotEmpty)");
        }
        check(ok, "the 8 packets come back whole and in order");
        check(!(poll_now(fd, 0) & POLLIN), "drained: no POLLIN (NotEmpty false)");
        check(expect_errno(read(fd, in, sizeof(in)), EAGAIN), "drained: read gives EAGAIN");

        /* Blocking calls (O_NONBLOCK is per open file: the child shares it). */
        flags = fcntl(fd, F_GETFL);
        check(fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0, "clear O_NONBLOCK");
        pid = fork();
        if (pid == 0) {
                alarm(60);
                packet(out, 77, 9);
                n = read(fd, in, sizeof(in));
                _exit(n == 77 && !memcmp(in, out, 77) ? 0 : 1);
        }
        check(pid > 0 && sleeping(pid), "a blocking read on the empty queue sleeps");
        packet(out, 77, 9);
        check(write(fd, out, 77) == 77, "send while it sleeps");
        check(pid > 0 && child_ok(pid), "the RX vIRQ wakes it with the packet");

        ok = 1;
        for (unsigned i = 0; i < 8; i++) {
                packet(out, 16, 20 + i);
                ok &= write(fd, out, 16) == 16;
        }
        check(ok, "queue filled again");
        pid = fork();
        if (pid == 0) {
                alarm(60);
                packet(out, 33, 28);
                _exit(write(fd, out, 33) == 33 ? 0 : 1);
        }
        check(pid > 0 && sleeping(pid), "a blocking write on the full queue sleeps");
        check(read(fd, in, sizeof(in)) == 16, "receive one while it sleeps");
        check(pid > 0 && child_ok(pid), "the TX vIRQ wakes it and its packet is sent");
        ok = 1;
        for (unsigned i = 1; i < 8; i++)
                ok &= read(fd, in, sizeof(in)) == 16;
        n = read(fd, in, sizeof(in));
        packet(out, 33, 28);
        check(ok && n == 33 && !memcmp(in, out, 33), "the rest, then its packet, in order");
        check(fcntl(fd, F_SETFL, flags) == 0, "restore O_NONBLOCK");
        check(expect_errno(read(fd, in, sizeof(in)), EAGAIN), "empty again");
        close(fd);
        return failures ? 1 : 0;
}

/* One RM request and its reply, single packets only. Returns the RM error word or -1. */
static long rm_call(int fd, uint16_t seq, uint32_t msg_id, const uint8_t *payload, size_t n,
                    uint8_t *reply, size_t *reply_len)
{
        uint8_t pkt[GUNYAH_HOST_MSG_SIZE], in[GUNYAH_HOST_MSG_SIZE];
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        time_t deadline = time(NULL) + 30;
        ssize_t r;

        pkt[0] = 0x21; /* api_version 1, header_words 2 */
        pkt[1] = 0x01; /* request, no continuation */
        pkt[2] = seq & 0xff;
        pkt[3] = seq >> 8;
        for (int i = 0; i < 4; i++)
                pkt[4 + i] = (msg_id >> (8 * i)) & 0xff;
        memcpy(pkt + 8, payload, n);
        if (write(fd, pkt, 8 + n) != (ssize_t)(8 + n)) {
                perror("devcheck: write");
                return -1;
        }
        while (time(NULL) < deadline) {
                if (poll(&pfd, 1, 1000) < 0)
                        return -1;
                r = read(fd, in, sizeof(in));
                if (r < 0 && errno == EAGAIN)
                        continue;
                if (r < 12) {
                        perror("devcheck: read");
                        return -1;
                }
                /* Notifications (type 3) may come first: skip anything but our reply. */
                if (in[0] != 0x21 || (in[1] & 3) != 2 || (in[2] | in[3] << 8) != seq)
                        continue;
                *reply_len = r - 12;
                memcpy(reply, in + 12, *reply_len);
                return in[8] | in[9] << 8 | in[10] << 16 | (long)in[11] << 24;
        }
        fprintf(stderr, "devcheck: no reply to %#x\n", msg_id);
        return -1;
}

/* The RM link: the device, or (rehearsal against gunyah-rm-sim) its SEQPACKET socket. */
static int open_link(const char *path)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        if (!strncmp(path, "/dev/", 5))
                return open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (strlen(path) >= sizeof(sa.sun_path))
                return -1;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                close(fd);
                return -1;
        }
        return fd;
}

static int rm_vmid(unsigned long want, const char *link)
{
        uint8_t req[4] = { 0 }, rep[GUNYAH_HOST_MSG_SIZE];
        size_t n = 0;
        long err;
        unsigned long vmid;
        int fd = open_link(link);

        printf("devcheck: RM link %s\n", link);
        check(fd >= 0, "open the RM link (gunyahd stopped)");
        if (fd < 0)
                return 1;
        err = rm_call(fd, 1, 0x56000001, req, sizeof(req), rep, &n); /* VM_ALLOCATE(0) */
        check(err == 0 && n >= 4, "VM_ALLOCATE(0) succeeds");
        if (err == 0 && n >= 4) {
                vmid = rep[0] | rep[1] << 8;
                printf("devcheck: VM_ALLOCATE(0) -> VMID %#lx (want %#lx)\n", vmid, want);
                check(vmid == want, "the destroyed guest's VMID is free again");
                req[0] = vmid & 0xff;
                req[1] = vmid >> 8;
                err = rm_call(fd, 2, 0x56000002, req, sizeof(req), rep, &n); /* DEALLOCATE */
                check(err == 0, "VM_DEALLOCATE of it succeeds");
        }
        close(fd);
        return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
        setvbuf(stdout, NULL, _IOLBF, 0);
        if (argc == 4 && !strcmp(argv[1], "contract"))
                return contract(strtoull(argv[2], NULL, 0), strtoull(argv[3], NULL, 0));
        if (argc == 2 && !strcmp(argv[1], "loopback"))
                return loopback();
        if ((argc == 3 || argc == 4) && !strcmp(argv[1], "rm-vmid"))
                return rm_vmid(strtoul(argv[2], NULL, 0), argc == 4 ? argv[3] : DEV);
        fprintf(stderr, "usage: %s contract POOL_BASE POOL_SIZE | loopback | rm-vmid VMID [LINK]\n", argv[0]);
        return 2;
}
