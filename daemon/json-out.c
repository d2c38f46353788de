/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json-out.h"
#include "macro.h"

bool json_out_reserve(JsonOut *b, size_t n)
{
        if (b->oom)
                return false;
        if (n <= b->cap - b->len)
                return true;
        if (n > SIZE_MAX / 2 - b->len) {
                b->oom = true;
                return false;
        }
        size_t cap = MAX(b->cap * 2, b->len + n);
        char *d = realloc(b->data, cap);
        if (!d) {
                b->oom = true;
                return false;
        }
        b->data = d;
        b->cap = cap;
        return true;
}

void json_out_put(JsonOut *b, const void *p, size_t n)
{
        if (json_out_reserve(b, n)) {
                memcpy(b->data + b->len, p, n);
                b->len += n;
        }
}

void json_out_u64(JsonOut *b, uint64_t v, bool negative)
{
        char d[21];
        size_t i = sizeof(d);

        do {
                d[--i] = (char)('0' + v % 10);
                v /= 10;
        } while (v);
        if (negative)
                d[--i] = '-';
        json_out_put(b, d + i, sizeof(d) - i);
}

void json_out_string(JsonOut *b, const char *s, size_t n, bool escape_slash)
{
        static const char hex[] = "0123456789abcdef";
        size_t start = 0;

        json_out_puts(b, "\"");
        for (size_t i = 0; i < n; i++) {
                unsigned char ch = (unsigned char)s[i];
                char esc[6];
                size_t esc_len = 2;

                if (ch >= 0x20 && ch != '"' && ch != '\\' && (ch != '/' || !escape_slash))
                        continue;
                esc[0] = '\\';
                switch (ch) {
                case '\b': esc[1] = 'b'; break;
                case '\n': esc[1] = 'n'; break;
                case '\r': esc[1] = 'r'; break;
                case '\t': esc[1] = 't'; break;
                case '\f': esc[1] = 'f'; break;
                case '"':  esc[1] = '"'; break;
                case '\\': esc[1] = '\\'; break;
                case '/':  esc[1] = '/'; break;
                default:
                        memcpy(esc + 1, "u00", 3);
                        esc[4] = hex[ch >> 4];
                        esc[5] = hex[ch & 0xf];
                        esc_len = 6;
                }
                json_out_put(b, s + start, i - start);
                json_out_put(b, esc, esc_len);
                start = i + 1;
        }
        json_out_put(b, s + start, n - start);
        json_out_puts(b, "\"");
}

int json_out_finish(JsonOut *b, char **ret, size_t *ret_len)
{
        json_out_put(b, "", 1);
        if (b->oom) {
                free(b->data);
                *b = (JsonOut){ 0 };
                return -ENOMEM;
        }
        *ret = b->data;
        if (ret_len)
                *ret_len = b->len - 1;
        *b = (JsonOut){ 0 };
        return 0;
}
