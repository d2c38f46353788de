#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * gunyahctl's human output: aligned tables, colour (only on a tty, never with NO_COLOR or
 * TERM=dumb), the StartVM progress bar, and number formatting. Everything writes to stdout
 * except the progress bar (stderr, so `gunyahctl start vm > log` still shows it).
 * Error contract: table functions return 0 or -ENOMEM.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum Colour {
        COLOUR_NONE,
        COLOUR_GREEN,
        COLOUR_YELLOW,
        COLOUR_RED,
        COLOUR_BLUE,
        COLOUR_BOLD,
        _COLOUR_MAX,
} Colour;

/* Decide once at start-up whether stdout (out) and stderr (err) get colour. */
void output_init(void);
bool output_stdout_is_tty(void);
bool output_stderr_is_tty(void);
/* The escape sequence that starts c, and the reset, or "" when colour is off on stdout. */
const char *output_colour(Colour c);
const char *output_reset(void);
/* The colour that goes with a VM state word ("running" green, "failed" red, ...). */
Colour output_state_colour(const char *state);

/* A table of strings: columns set by the header row, cells copied. */
typedef struct Table Table;
Table *table_new(size_t n_columns, const char *const *headers);
Table *table_free(Table *t);
/* Add one cell (a NULL cell prints "-"), with a colour applied when printed. Rows fill
 * left to right. */
int table_add(Table *t, const char *cell, Colour colour);
int table_addf(Table *t, Colour colour, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Print with columns padded to their widest cell; the header is bold. */
void table_print(const Table *t);

/* "256 MiB", "1.5 GiB", "4096 B" into buf. */
const char *format_bytes(uint64_t bytes, char *buf, size_t size);
/* Parse "256M", "1G", "1GiB", "4096" (binary units, K/M/G/T). 0 or -EINVAL / -ERANGE. */
int parse_bytes(const char *s, uint64_t *ret);
/* "2026-11-21 14:03:07" (UTC) from microseconds since the epoch. */
const char *format_time_usec(int64_t usec, char *buf, size_t size);

/* The progress bar of `start` on a tty: stage i of n with a label, redrawn in place. */
void progress_bar_draw(unsigned done, unsigned total, const char *label);
/* Clear the bar's line before printing anything else. */
void progress_bar_clear(void);
