/* SPDX-License-Identifier: MIT */
/* gunyahctl: tables, colour, progress bar and number formatting (see output.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "output.h"

static bool stdout_tty, stderr_tty, use_colour;

void output_init(void)
{
        const char *term = getenv("TERM");
        stdout_tty = isatty(STDOUT_FILENO);
        stderr_tty = isatty(STDERR_FILENO);
        /* https://no-color.org: any non-empty NO_COLOR disables colour. */
        const char *no_colour = getenv("NO_COLOR");
        use_colour = stdout_tty && !(no_colour && *no_colour) &&
                     !(term && strcmp(term, "dumb") == 0);
}

bool output_stdout_is_tty(void)
{
        return stdout_tty;
}

bool output_stderr_is_tty(void)
{
        return stderr_tty;
}

static const char *const colour_codes[_COLOUR_MAX] = {
        [COLOUR_NONE] = "",
        [COLOUR_GREEN] = "\033[32m",
        [COLOUR_YELLOW] = "\033[33m",
        [COLOUR_RED] = "\033[31m",
        [COLOUR_BLUE] = "\033[34m",
        [COLOUR_BOLD] = "\033[1m",
};

const char *output_colour(Colour c)
{
        if (!use_colour || c <= COLOUR_NONE || c >= _COLOUR_MAX)
                return "";
        return colour_codes[c];
}

const char *output_reset(void)
{
        return use_colour ? "\033[0m" : "";
}

static const struct {
        const char *state;
        Colour colour;
} state_colours[] = {
        { "running", COLOUR_GREEN },    { "starting", COLOUR_BLUE },
        { "recovering", COLOUR_BLUE },  { "connecting", COLOUR_BLUE },
        { "stopping", COLOUR_YELLOW },  { "releasing", COLOUR_YELLOW },
        { "destroying", COLOUR_YELLOW }, { "exited", COLOUR_YELLOW },
        { "failed", COLOUR_RED },       { "lost", COLOUR_RED },
        { "up", COLOUR_GREEN },         { "down", COLOUR_RED },
};

Colour output_state_colour(const char *state)
{
        for (size_t i = 0; state && i < ELEMENTSOF(state_colours); i++)
                if (strcmp(state, state_colours[i].state) == 0)
                        return state_colours[i].colour;
        return COLOUR_NONE;
}

/* ---- tables ---- */

typedef struct Cell {
        char *text;
        Colour colour;
} Cell;

struct Table {
        size_t n_columns;
        size_t n_cells;
        size_t cap;
        Cell *cells;
};

Table *table_new(size_t n_columns, const char *const *headers)
{
        Table *t = calloc(1, sizeof(*t));
        if (!t)
                return NULL;
        t->n_columns = n_columns;
        for (size_t i = 0; i < n_columns; i++)
                if (table_add(t, headers[i], COLOUR_BOLD) < 0)
                        return table_free(t);
        return t;
}

Table *table_free(Table *t)
{
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_cells; i++)
                free(t->cells[i].text);
        free(t->cells);
        free(t);
        return NULL;
}

int table_add(Table *t, const char *cell, Colour colour)
{
        if (t->n_cells == t->cap) {
                size_t ncap = t->cap ? t->cap * 2 : 64;
                Cell *n = reallocarray(t->cells, ncap, sizeof(*n));
                if (!n)
                        return -ENOMEM;
                t->cells = n;
                t->cap = ncap;
        }
        char *s = strdup(cell ? cell : "-");
        if (!s)
                return -ENOMEM;
        t->cells[t->n_cells++] = (Cell){ s, cell ? colour : COLOUR_NONE };
        return 0;
}

int table_addf(Table *t, Colour colour, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        char *s = NULL;
        int r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        r = table_add(t, s, colour);
        free(s);
        return r;
}

void table_print(const Table *t)
{
        size_t width[32] = { 0 };
        size_t n_columns = MIN(t->n_columns, ELEMENTSOF(width));
        for (size_t i = 0; i < t->n_cells; i++) {
                size_t col = i % t->n_columns;
                if (col < n_columns)
                        width[col] = MAX(width[col], strlen(t->cells[i].text));
        }
        for (size_t i = 0; i < t->n_cells; i++) {
                size_t col = i % t->n_columns;
                bool last = col + 1 == t->n_columns || i + 1 == t->n_cells;
                const Cell *c = &t->cells[i];
                bool coloured = *output_colour(c->colour) != 0;
                fputs(output_colour(c->colour), stdout);
                fputs(c->text, stdout);
                if (coloured)
                        fputs(output_reset(), stdout);
                if (last)
                        fputc('\n', stdout);
                else
                        printf("%*s", (int)(width[col] - strlen(c->text) + 2), "");
        }
}

/* ---- numbers ---- */

const char *format_bytes(uint64_t bytes, char *buf, size_t size)
{
        static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
        size_t u = 0;
        uint64_t whole = bytes, rem = 0;
        while (whole >= 1024 && u + 1 < ELEMENTSOF(units)) {
                rem = whole % 1024;
                whole /= 1024;
                u++;
        }
        if (rem == 0)
                snprintf(buf, size, "%" PRIu64 " %s", whole, units[u]);
        else
                snprintf(buf, size, "%" PRIu64 ".%" PRIu64 " %s", whole, rem * 10 / 1024,
                         units[u]);
        return buf;
}

int parse_bytes(const char *s, uint64_t *ret)
{
        static const struct {
                const char *suffix;
                unsigned shift;
        } suffixes[] = {
                { "", 0 },     { "B", 0 },     { "K", 10 },    { "KiB", 10 }, { "M", 20 },
                { "MiB", 20 }, { "G", 30 },    { "GiB", 30 },  { "T", 40 },   { "TiB", 40 },
                { "k", 10 },   { "m", 20 },    { "g", 30 },    { "t", 40 },
        };
        if (!s || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        char *end;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                if (strcmp(end, suffixes[i].suffix) != 0)
                        continue;
                if (v > (UINT64_MAX >> suffixes[i].shift))
                        return -ERANGE;
                *ret = (uint64_t)v << suffixes[i].shift;
                return 0;
        }
        return -EINVAL;
}

const char *format_time_usec(int64_t usec, char *buf, size_t size)
{
        time_t t = (time_t)(usec / 1000000);
        struct tm tm;
        if (usec <= 0 || !gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
                snprintf(buf, size, "-");
        return buf;
}

/* ---- progress bar ---- */

#define BAR_WIDTH 30

void progress_bar_draw(unsigned done, unsigned total, const char *label)
{
        if (total == 0)
                total = 1;
        done = MIN(done, total);
        unsigned fill = done * BAR_WIDTH / total;
        char bar[BAR_WIDTH + 1];
        memset(bar, '#', fill);
        memset(bar + fill, '.', BAR_WIDTH - fill);
        bar[BAR_WIDTH] = 0;
        fprintf(stderr, "\r\033[K[%s] %3u%% %s", bar, done * 100 / total, label);
        fflush(stderr);
}

void progress_bar_clear(void)
{
        fputs("\r\033[K", stderr);
        fflush(stderr);
}
