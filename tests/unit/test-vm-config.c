/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "test.h"
#include "vm-config.h"

static void valid_config(VmConfig *c)
{
        vm_config_init(c);
        c->name = strdup("guest-1");
        c->vcpus = 2;
        c->memory_size = 256u << 20;
        c->kernel = strdup("Image");
        ASSERT_OK(vm_uuid_generate(c->uuid));
}

static void expect_field(VmConfig *c, const char *field)
{
        const char *got = NULL;

        ASSERT_EQ(vm_config_validate(c, 0, &got), -EINVAL);
        ASSERT_STREQ(got, field);
}

TEST(defaults)
{
        VmConfig c;

        vm_config_init(&c);
        ASSERT_EQ(c.vcpus, 1);
        ASSERT_U64_EQ(c.memory_base, VM_MEMORY_BASE_DEFAULT);
        ASSERT_U64_EQ(VM_MEMORY_BASE_DEFAULT % (2u << 20), 0);
        ASSERT_TRUE(c.name == NULL && c.kernel == NULL);
        vm_config_done(&c);
}

TEST(valid)
{
        VmConfig c;
        const char *f = "untouched";

        valid_config(&c);
        ASSERT_OK(vm_config_validate(&c, 0, &f));
        ASSERT_STREQ(f, "untouched");
        c.initrd = strdup("boot/initrd.img");
        c.cmdline = strdup("console=hvc0 quiet");
        ASSERT_OK(vm_config_validate(&c, 0, NULL));
        free(c.kernel);
        c.kernel = strdup(VM_SOURCE_FD);
        ASSERT_OK(vm_config_validate(&c, 0, NULL));
        vm_config_done(&c);
}

TEST(names)
{
        char long_name[80];

        ASSERT_TRUE(vm_name_is_valid("a"));
        ASSERT_TRUE(vm_name_is_valid("A.b_c-9"));
        ASSERT_TRUE(vm_name_is_valid("9lives"));
        ASSERT_TRUE(vm_name_is_valid("_x"));
        ASSERT_TRUE(!vm_name_is_valid(""));
        ASSERT_TRUE(!vm_name_is_valid(NULL));
        ASSERT_TRUE(!vm_name_is_valid(".hidden"));
        ASSERT_TRUE(!vm_name_is_valid("-opt"));
        ASSERT_TRUE(!vm_name_is_valid("a/b"));
        ASSERT_TRUE(!vm_name_is_valid("a b"));
        ASSERT_TRUE(!vm_name_is_valid("caf\xc3\xa9"));
        memset(long_name, 'x', sizeof(long_name));
        long_name[63] = '\0';
        ASSERT_TRUE(vm_name_is_valid(long_name));
        long_name[63] = 'x';
        long_name[64] = '\0';
        ASSERT_TRUE(!vm_name_is_valid(long_name));
}

TEST(sources)
{
        ASSERT_TRUE(vm_source_is_valid("Image"));
        ASSERT_TRUE(vm_source_is_valid("a/b/c.img"));
        ASSERT_TRUE(vm_source_is_valid("fd"));
        ASSERT_TRUE(vm_source_is_valid("..x/y"));
        ASSERT_TRUE(!vm_source_is_valid(""));
        ASSERT_TRUE(!vm_source_is_valid("/etc/passwd"));
        ASSERT_TRUE(!vm_source_is_valid("../Image"));
        ASSERT_TRUE(!vm_source_is_valid("a/../../b"));
        ASSERT_TRUE(!vm_source_is_valid("a/./b"));
        ASSERT_TRUE(!vm_source_is_valid("a//b"));
        ASSERT_TRUE(!vm_source_is_valid("a/"));
        ASSERT_TRUE(!vm_source_is_valid("a\nb"));
}

TEST(each_field_named)
{
        VmConfig c;
        char *cmd;

        valid_config(&c);
        free(c.name);
        c.name = strdup("-bad");
        expect_field(&c, "name");
        vm_config_done(&c);

        valid_config(&c);
        c.vcpus = 0;
        expect_field(&c, "vcpus");
        c.vcpus = VM_VCPUS_MAX + 1;
        expect_field(&c, "vcpus");
        c.vcpus = VM_VCPUS_MAX;
        ASSERT_OK(vm_config_validate(&c, 0, NULL));

        c.memory_size = VM_MEMORY_MIN - (2u << 20);
        expect_field(&c, "memory_size");
        c.memory_size = (256u << 20) + 4096;
        expect_field(&c, "memory_size");
        c.memory_size = VM_MEMORY_MIN;
        ASSERT_OK(vm_config_validate(&c, 0, NULL));
        /* bounded by the pool */
        c.memory_size = 64u << 20;
        ASSERT_EQ(vm_config_validate(&c, 32u << 20, NULL), -EINVAL);
        ASSERT_OK(vm_config_validate(&c, 64u << 20, NULL));

        c.memory_base = VM_MEMORY_BASE_DEFAULT + 4096;
        expect_field(&c, "memory_base");
        c.memory_base = VM_IPA_LIMIT - (32u << 20);
        expect_field(&c, "memory_base");
        c.memory_base = VM_MEMORY_BASE_DEFAULT;

        free(c.kernel);
        c.kernel = NULL;
        expect_field(&c, "kernel");
        c.kernel = strdup("/abs");
        expect_field(&c, "kernel");
        free(c.kernel);
        c.kernel = strdup("Image");

        c.initrd = strdup("../initrd");
        expect_field(&c, "initrd");
        free(c.initrd);
        c.initrd = NULL;

        cmd = malloc(VM_CMDLINE_MAX + 2);
        memset(cmd, 'a', VM_CMDLINE_MAX + 1);
        cmd[VM_CMDLINE_MAX] = '\0';
        c.cmdline = cmd;
        ASSERT_OK(vm_config_validate(&c, 0, NULL));
        cmd[VM_CMDLINE_MAX] = 'a';
        cmd[VM_CMDLINE_MAX + 1] = '\0';
        expect_field(&c, "cmdline");
        vm_config_done(&c);
}

TEST(copy)
{
        VmConfig a, b;

        valid_config(&a);
        a.cmdline = strdup("x");
        ASSERT_OK(vm_config_copy(&b, &a));
        ASSERT_TRUE(b.name != a.name);
        ASSERT_STREQ(b.name, a.name);
        ASSERT_STREQ(b.cmdline, "x");
        ASSERT_TRUE(b.initrd == NULL);
        ASSERT_MEMEQ(b.uuid, a.uuid, VM_UUID_SIZE);
        vm_config_done(&a);
        vm_config_done(&b);
}

TEST(uuid)
{
        static const uint8_t u[16] = { 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0,
                                       0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef };
        uint8_t back[16], g1[16], g2[16];
        char s[VM_UUID_STRING_MAX];

        vm_uuid_format(u, s);
        ASSERT_STREQ(s, "12345678-9abc-def0-0123-456789abcdef");
        ASSERT_OK(vm_uuid_parse("12345678-9ABC-def0-0123-456789abcdef", back));
        ASSERT_MEMEQ(back, u, 16);
        ASSERT_EQ(vm_uuid_parse("12345678-9abc-def0-0123-456789abcde", back), -EINVAL);
        ASSERT_EQ(vm_uuid_parse("12345678-9abc-def0-0123x456789abcdef", back), -EINVAL);
        ASSERT_EQ(vm_uuid_parse("1234567g-9abc-def0-0123-456789abcdef", back), -EINVAL);
        ASSERT_EQ(vm_uuid_parse("12345678-9abc-def0-0123-456789abcdef0", back), -EINVAL);

        ASSERT_OK(vm_uuid_generate(g1));
        ASSERT_OK(vm_uuid_generate(g2));
        ASSERT_TRUE(memcmp(g1, g2, 16) != 0);
        ASSERT_EQ(g1[6] >> 4, 4);
        ASSERT_EQ(g1[8] >> 6, 2);
        ASSERT_TRUE(!vm_uuid_is_null(g1));
        memset(g1, 0, 16);
        ASSERT_TRUE(vm_uuid_is_null(g1));
}

TEST_MAIN()
