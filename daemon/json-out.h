#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * JsonOut: JSON text printed straight into one growing buffer, for the two hot writers that
 * would otherwise build json-c objects only to print them: the API server's replies
 * (api-server.c) and the runtime records (store-json.c). What it prints is what json-c prints for
 * the same values: integers in decimal, json-c's string escapes (json_escape_str).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct JsonOut {
        char *data; /* owned; not NUL-terminated until json_out_finish() */
        size_t len, cap;
        bool oom; /* an allocation failed: every later call does nothing */
} JsonOut;

/* Room for n more bytes; false (and oom set) when it cannot grow. */
bool json_out_reserve(JsonOut *b, size_t n);
void json_out_put(JsonOut *b, const void *p, size_t n);
#define json_out_puts(b, lit) json_out_put((b), "" lit, sizeof(lit) - 1)
/* v in decimal, with a '-' before it when negative. */
void json_out_u64(JsonOut *b, uint64_t v, bool negative);
static inline void json_out_i64(JsonOut *b, int64_t v)
{
        json_out_u64(b, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v, v < 0);
}
/* A JSON string: \b \n \r \t \f \" \\ by name, other bytes below 0x20 as \u00xx (lower-case
 * hex), '/' as \/ only with escape_slash (json-c's default; JSON_C_TO_STRING_NOSLASHESCAPE
 * leaves it), everything else as is. */
void json_out_string(JsonOut *b, const char *s, size_t n, bool escape_slash);
/* NUL-terminate and hand the text over (*ret, length *ret_len if non-NULL); -ENOMEM after
 * any failed allocation (the buffer is freed then). */
int json_out_finish(JsonOut *b, char **ret, size_t *ret_len);
