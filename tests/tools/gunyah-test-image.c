/* SPDX-License-Identifier: MIT */
/*
 * gunyah-test-image: write a small arm64 Image with a valid header and a recognizable
 * payload, for the README demo and the integration tests (no real kernel needed).
 *
 *   gunyah-test-image [--text-offset N] [--image-size N] [--big-endian] [--legacy]
 *                     [--bad-magic] OUTPUT SIZE
 * Sizes accept K/M/G suffixes and 0x hex.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test-image-header.h"

static int parse_num(const char *s, uint64_t *ret)
{
        char *end;
        unsigned long long v;

        errno = 0;
        v = strtoull(s, &end, 0);
        if (errno || end == s || *s == '-')
                return -EINVAL;
        switch (*end) {
        case 'K': case 'k': v <<= 10; end++; break;
        case 'M': case 'm': v <<= 20; end++; break;
        case 'G': case 'g': v <<= 30; end++; break;
        default: break;
        }
        if (*end)
                return -EINVAL;
        *ret = v;
        return 0;
}

static void usage(FILE *f)
{
        fprintf(f, "usage: gunyah-test-image [--text-offset N] [--image-size N] [--big-endian]\n"
                   "                         [--legacy] [--bad-magic] OUTPUT SIZE\n");
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "text-offset", required_argument, NULL, 't' },
                { "image-size", required_argument, NULL, 's' },
                { "big-endian", no_argument, NULL, 'b' },
                { "legacy", no_argument, NULL, 'l' },
                { "bad-magic", no_argument, NULL, 'm' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        TestImageOpts o = { 0 };
        uint64_t size;
        int c, fd, r;

        while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
                switch (c) {
                case 't':
                        if (parse_num(optarg, &o.text_offset) < 0)
                                goto bad;
                        break;
                case 's':
                        if (parse_num(optarg, &o.image_size) < 0)
                                goto bad;
                        break;
                case 'b': o.flags |= 1; break;
                case 'l': o.legacy = true; break;
                case 'm': o.bad_magic = true; break;
                case 'h': usage(stdout); return 0;
                default: goto bad;
                }
        }
        if (argc - optind != 2 || parse_num(argv[optind + 1], &size) < 0 ||
            size < TEST_IMAGE_HEADER_SIZE)
                goto bad;
        fd = open(argv[optind], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
                fprintf(stderr, "gunyah-test-image: %s: %s\n", argv[optind], strerror(errno));
                return 1;
        }
        r = test_image_write_fd(fd, size, &o);
        if (r >= 0 && close(fd) < 0)
                r = -errno;
        if (r < 0) {
                fprintf(stderr, "gunyah-test-image: %s: %s\n", argv[optind], strerror(-r));
                return 1;
        }
        return 0;
bad:
        usage(stderr);
        return 2;
}
