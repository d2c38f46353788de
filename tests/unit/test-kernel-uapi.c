/* SPDX-License-Identifier: MIT */
/*
 * The userspace ABI of the gunyah host module. The module (kernel/gunyah_host.c) and
 * gunyahd (daemon/manager.c, --pool device) compile against the same header; this pins
 * what both sides agreed on, so a change to it is a visible ABI change.
 * Values are computed by hand from asm-generic/ioctl.h: dir READ = 2 in bits 31:30, size
 * in bits 29:16, type in 15:8, nr in 7:0.
 */
#include <stddef.h>

#include "test.h"
#include "uapi/linux/gunyah-host.h"

TEST(message_size_is_the_rm_packet_size)
{
        /* rm-protocol.md section 1: 240-byte packets on the HLOS<->RM queues */
        ASSERT_EQ(GUNYAH_HOST_MSG_SIZE, 240);
}

TEST(pool_struct_layout)
{
        ASSERT_EQ(sizeof(struct gunyah_host_pool), 56);
        ASSERT_EQ(offsetof(struct gunyah_host_pool, ipa_base), 0);
        ASSERT_EQ(offsetof(struct gunyah_host_pool, size), 8);
        ASSERT_EQ(offsetof(struct gunyah_host_pool, api_version), 16);
        ASSERT_EQ(offsetof(struct gunyah_host_pool, page_size), 20);
        ASSERT_EQ(offsetof(struct gunyah_host_pool, reserved), 24);
}

TEST(get_pool_ioctl_number)
{
        /* _IOR('G', 0x80, 56 bytes): (2 << 30) | (56 << 16) | (0x47 << 8) | 0x80 */
        ASSERT_U64_EQ((unsigned long)GUNYAH_HOST_GET_POOL, 0x80384780ul);
        ASSERT_EQ(GUNYAH_HOST_API_VERSION, 1);
}

TEST(ioctl_number_is_outside_the_upstream_range)
{
        /* upstream /dev/gunyah lineages use 'G' 0x00-0x0a (gunyah-kernel-uapi.md 2.1) */
        ASSERT_TRUE((GUNYAH_HOST_GET_POOL & 0xff) > 0x0a);
}

TEST_MAIN()
