#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * A tiny test harness (seatd/systemd-sized). Each test file defines TEST(name) functions and
 * ends with TEST_MAIN(). Assertions print file:line and the values, then abort the test
 * program (so ctest reports the failure). Output ends with "N passed, N failed".
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct TestCase {
        const char *name;
        void (*fn)(void);
} TestCase;

#define TEST_MAX 512
extern TestCase test_cases_[TEST_MAX];
extern unsigned test_count_;

#define TEST(n)                                                                                \
        static void test_##n(void);                                                            \
        __attribute__((constructor)) static void test_register_##n(void)                       \
        {                                                                                      \
                if (test_count_ < TEST_MAX)                                                    \
                        test_cases_[test_count_++] = (TestCase){ #n, test_##n };               \
        }                                                                                      \
        static void test_##n(void)

#define TEST_FAIL_(fmt, ...)                                                                   \
        do {                                                                                   \
                fprintf(stderr, "%s:%d: " fmt "\n", __FILE__, __LINE__, __VA_ARGS__);          \
                abort();                                                                       \
        } while (0)

#define ASSERT_TRUE(x)                                                                         \
        do {                                                                                   \
                if (!(x))                                                                      \
                        TEST_FAIL_("assertion failed: %s", #x);                                \
        } while (0)
#define ASSERT_EQ(a, b)                                                                        \
        do {                                                                                   \
                long long a_ = (long long)(a), b_ = (long long)(b);                            \
                if (a_ != b_)                                                                  \
                        TEST_FAIL_("%s == %s: %lld != %lld (0x%llx != 0x%llx)", #a, #b, a_, b_, \
                                   a_, b_);                                                    \
        } while (0)
#define ASSERT_U64_EQ(a, b)                                                                    \
        do {                                                                                   \
                unsigned long long a_ = (a), b_ = (b);                                         \
                if (a_ != b_)                                                                  \
                        TEST_FAIL_("%s == %s: 0x%llx != 0x%llx", #a, #b, a_, b_);              \
        } while (0)
#define ASSERT_OK(x)                                                                           \
        do {                                                                                   \
                long long r_ = (long long)(x);                                                 \
                if (r_ < 0)                                                                    \
                        TEST_FAIL_("%s failed: %lld (%s)", #x, r_, strerror((int)-r_));        \
        } while (0)
#define ASSERT_STREQ(a, b)                                                                     \
        do {                                                                                   \
                const char *a_ = (a), *b_ = (b);                                               \
                if (!a_ || !b_ || strcmp(a_, b_) != 0)                                         \
                        TEST_FAIL_("%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)",   \
                                   b_ ? b_ : "(null)");                                        \
        } while (0)
#define ASSERT_MEMEQ(a, b, n)                                                                  \
        do {                                                                                   \
                const unsigned char *a_ = (const void *)(a), *b_ = (const void *)(b);          \
                size_t n_ = (n);                                                               \
                for (size_t i_ = 0; i_ < n_; i_++)                                             \
                        if (a_[i_] != b_[i_])                                                  \
                                TEST_FAIL_("%s == %s: differ at byte %zu: 0x%02x != 0x%02x",   \
                                           #a, #b, i_, a_[i_], b_[i_]);                        \
        } while (0)

/* Define once per test program, after all TEST()s. argv[1], if given, runs only the tests
 * whose name contains it. */
#define TEST_MAIN()                                                                            \
        TestCase test_cases_[TEST_MAX];                                                        \
        unsigned test_count_;                                                                  \
        int main(int argc, char **argv)                                                        \
        {                                                                                      \
                unsigned run = 0;                                                              \
                for (unsigned i = 0; i < test_count_; i++) {                                   \
                        if (argc > 1 && !strstr(test_cases_[i].name, argv[1]))                 \
                                continue;                                                      \
                        fprintf(stderr, "[ RUN  ] %s\n", test_cases_[i].name);                 \
                        test_cases_[i].fn();                                                   \
                        fprintf(stderr, "[  OK  ] %s\n", test_cases_[i].name);                 \
                        run++;                                                                 \
                }                                                                              \
                printf("%u passed, 0 failed\n", run);                                          \
                return run > 0 ? 0 : 1;                                                        \
        }

/* JSONTestSuite's test_parsing directory: shared/data beside the checkout (found from
 * GUNYAH_SOURCE_DIR), else /work/shared/data. The opened directory or NULL; path holds the
 * last name tried. */
static inline DIR *test_open_json_test_suite(char *path, size_t size)
{
        const char *src = getenv("GUNYAH_SOURCE_DIR");
        DIR *d;

        snprintf(path, size, "%s/../shared/data/JSONTestSuite/test_parsing", src ? src : "/work/main");
        d = opendir(path);
        if (!d) {
                snprintf(path, size, "/work/shared/data/JSONTestSuite/test_parsing");
                d = opendir(path);
        }
        return d;
}
