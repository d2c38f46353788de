/* SPDX-License-Identifier: MIT */
/*
 * Varlink framing and message parsing (see varlink.h for the contract).
 *
 * Buffer invariants: data[0, start) was handed out, [start, len) is pending, [start, scanned)
 * is known to hold no NUL (so a slow sender costs O(n), not O(n^2), memchr work), and
 * cap <= max_message + 1 unless append was handed a bigger chunk by its caller. Pending
 * bytes without a NUL never exceed max_message + 1: past that the buffer reports -EMSGSIZE
 * and does not grow. An idle buffer that once grew past VARLINK_BUFFER_KEEP gives its
 * memory back.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"
#include "varlink.h"

#define VARLINK_BUFFER_MIN 4096u
#define VARLINK_BUFFER_KEEP (64u * 1024u)

DEFINE_TRIVIAL_CLEANUP_FUNC(struct json_object *, json_object_put);

void varlink_buffer_init(VarlinkBuffer *b, size_t max_message)
{
        *b = (VarlinkBuffer){ .max_message = max_message ? max_message
                                                         : VARLINK_DEFAULT_MAX_MESSAGE };
}

void varlink_buffer_free(VarlinkBuffer *b)
{
        free(b->data);
        size_t max = b->max_message;
        *b = (VarlinkBuffer){ .max_message = max };
}

size_t varlink_buffer_pending(const VarlinkBuffer *b)
{
        return b->len - b->start;
}

/* Move pending bytes to the front; release a large allocation once nothing is pending. */
static void buffer_compact(VarlinkBuffer *b)
{
        if (b->start == 0)
                return;
        if (b->start == b->len && b->cap > VARLINK_BUFFER_KEEP) {
                free(b->data);
                b->data = NULL;
                b->cap = 0;
        } else if (b->len > b->start)
                memmove(b->data, b->data + b->start, b->len - b->start);
        b->len -= b->start;
        b->scanned -= b->start;
        b->start = 0;
}

/* Make room for at least want more bytes, growing geometrically up to limit. */
static int buffer_grow(VarlinkBuffer *b, size_t want, size_t limit)
{
        if (b->cap - b->len >= want)
                return 0;
        if (b->len + want > limit)
                return -EMSGSIZE;
        size_t ncap = b->cap ? b->cap : VARLINK_BUFFER_MIN;
        while (ncap < b->len + want)
                ncap = ncap > SIZE_MAX / 2 ? SIZE_MAX : ncap * 2;
        ncap = MIN(ncap, limit);
        char *n = realloc(b->data, ncap);
        if (!n)
                return -ENOMEM;
        b->data = n;
        b->cap = ncap;
        return 0;
}

/* The unterminated tail: bytes after the last NUL we know of. */
static bool buffer_tail_too_long(const VarlinkBuffer *b)
{
        const char *from = b->data + b->start;
        size_t n = b->len - b->start;
        const char *nul = memrchr(from, 0, n);
        size_t tail = nul ? (size_t)(b->data + b->len - (nul + 1)) : n;
        return tail > b->max_message;
}

int varlink_buffer_reserve(VarlinkBuffer *b, void **ret_ptr, size_t *ret_avail)
{
        buffer_compact(b);
        size_t limit = MAX(b->max_message + 1, b->cap);
        if (b->len >= limit)
                return -EMSGSIZE;
        size_t want = MIN((size_t)VARLINK_BUFFER_MIN, limit - b->len);
        if (b->len == b->cap || b->cap - b->len < want) {
                int r = buffer_grow(b, MAX(want, b->cap - b->len + 1), limit);
                if (r < 0)
                        return r;
        }
        *ret_ptr = b->data + b->len;
        *ret_avail = b->cap - b->len;
        return 0;
}

int varlink_buffer_commit(VarlinkBuffer *b, size_t n)
{
        b->len += n;
        return buffer_tail_too_long(b) ? -EMSGSIZE : 0;
}

ssize_t varlink_buffer_read(VarlinkBuffer *b, int fd)
{
        void *p;
        size_t avail;
        int r = varlink_buffer_reserve(b, &p, &avail);
        if (r < 0)
                return r;
        ssize_t n = read(fd, p, avail);
        if (n < 0)
                return errno == EINTR ? -EAGAIN : -errno;
        if (n == 0)
                return 0;
        r = varlink_buffer_commit(b, (size_t)n);
        return r < 0 ? r : n;
}

int varlink_buffer_append(VarlinkBuffer *b, const void *data, size_t len)
{
        if (len == 0)
                return 0;
        buffer_compact(b);
        /* A caller's chunk may hold several messages: allow it on top of one whole message. */
        size_t limit = b->max_message + 1;
        if (len > SIZE_MAX - limit)
                return -EMSGSIZE;
        limit += len;
        int r = buffer_grow(b, len, limit);
        if (r < 0)
                return r;
        memcpy(b->data + b->len, data, len);
        return varlink_buffer_commit(b, len);
}

bool varlink_buffer_has_message(VarlinkBuffer *b)
{
        if (b->scanned < b->start)
                b->scanned = b->start;
        char *nul = b->len > b->scanned ? memchr(b->data + b->scanned, 0, b->len - b->scanned)
                                        : NULL;
        if (!nul) {
                b->scanned = b->len;
                return false;
        }
        b->scanned = (size_t)(nul - b->data); /* next() finds it at once */
        return true;
}

int varlink_buffer_next(VarlinkBuffer *b, const char **ret_msg, size_t *ret_len)
{
        if (b->scanned < b->start)
                b->scanned = b->start;
        char *nul = b->len > b->scanned ? memchr(b->data + b->scanned, 0, b->len - b->scanned)
                                        : NULL;
        if (!nul) {
                b->scanned = b->len;
                return b->len - b->start > b->max_message ? -EMSGSIZE : 0;
        }
        size_t n = (size_t)(nul - (b->data + b->start));
        if (n > b->max_message)
                return -EMSGSIZE;
        *ret_msg = b->data + b->start;
        *ret_len = n;
        b->start += n + 1;
        b->scanned = b->start;
        return 1;
}

/* ---- names ---- */

static bool is_alpha(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_alnum(char c)
{
        return is_alpha(c) || (c >= '0' && c <= '9');
}

bool varlink_interface_name_valid(const char *s, size_t len)
{
        /* varlink.org: [A-Za-z]([-]*[A-Za-z0-9])*(\.[A-Za-z0-9]([-]*[A-Za-z0-9])*)+ */
        if (len == 0 || len > 255 || !is_alpha(s[0]))
                return false;
        unsigned parts = 1;
        for (size_t i = 1; i < len; i++) {
                char c = s[i];
                if (c == '.') {
                        if (s[i - 1] == '.' || s[i - 1] == '-' || i + 1 == len ||
                            !is_alnum(s[i + 1]))
                                return false;
                        parts++;
                } else if (c != '-' && !is_alnum(c))
                        return false;
        }
        return parts >= 2 && s[len - 1] != '-';
}

bool varlink_member_name_valid(const char *s, size_t len)
{
        if (len == 0 || len > 255 || !(s[0] >= 'A' && s[0] <= 'Z'))
                return false;
        for (size_t i = 1; i < len; i++)
                if (!is_alnum(s[i]))
                        return false;
        return true;
}

bool varlink_qualified_name_valid(const char *s, const char **ret_dot)
{
        const char *dot = strrchr(s, '.');
        if (!dot || !varlink_interface_name_valid(s, (size_t)(dot - s)) ||
            !varlink_member_name_valid(dot + 1, strlen(dot + 1)))
                return false;
        if (ret_dot)
                *ret_dot = dot;
        return true;
}

bool varlink_utf8_valid(const char *str, size_t len)
{
        const unsigned char *s = (const unsigned char *)str;
        size_t i = 0;
        while (i < len) {
                unsigned char c = s[i];
                if (c < 0x80) {
                        i++;
                        continue;
                }
                size_t n;
                uint32_t cp, min;
                if ((c & 0xe0) == 0xc0)
                        n = 1, cp = c & 0x1f, min = 0x80;
                else if ((c & 0xf0) == 0xe0)
                        n = 2, cp = c & 0x0f, min = 0x800;
                else if ((c & 0xf8) == 0xf0)
                        n = 3, cp = c & 0x07, min = 0x10000;
                else
                        return false;
                if (len - i <= n)
                        return false;
                for (size_t k = 1; k <= n; k++) {
                        if ((s[i + k] & 0xc0) != 0x80)
                                return false;
                        cp = (cp << 6) | (s[i + k] & 0x3f);
                }
                if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                        return false;
                i += n + 1;
        }
        return true;
}

/* ---- parsing ---- */

/*
 * RFC 8259 syntax check of the raw bytes, run before json-c builds the tree: json-c's strict
 * mode still takes NaN, Infinity and some number forms, so the grammar is enforced here.
 * Returns 0, -EBADMSG or -ELOOP (more than max_depth nested arrays/objects).
 */
typedef struct JsonScan {
        const char *p, *end;
        unsigned depth, max_depth;
} JsonScan;

static void scan_ws(JsonScan *s)
{
        while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
                s->p++;
}

static bool scan_lit(JsonScan *s, const char *lit)
{
        size_t n = strlen(lit);
        if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
                return false;
        s->p += n;
        return true;
}

static bool is_digit(char c)
{
        return c >= '0' && c <= '9';
}

static bool is_xdigit(char c)
{
        return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int scan_string(JsonScan *s)
{
        s->p++; /* opening quote */
        while (s->p < s->end) {
                unsigned char c = (unsigned char)*s->p++;
                if (c == '"')
                        return 0;
                if (c < 0x20)
                        return -EBADMSG;
                if (c != '\\')
                        continue;
                if (s->p >= s->end)
                        return -EBADMSG;
                c = (unsigned char)*s->p++;
                if (c == 'u') {
                        if (s->end - s->p < 4)
                                return -EBADMSG;
                        for (unsigned i = 0; i < 4; i++)
                                if (!is_xdigit(s->p[i]))
                                        return -EBADMSG;
                        s->p += 4;
                } else if (!strchr("\"\\/bfnrt", c) || c == 0)
                        return -EBADMSG;
        }
        return -EBADMSG;
}

static int scan_number(JsonScan *s)
{
        if (s->p < s->end && *s->p == '-')
                s->p++;
        if (s->p >= s->end || !is_digit(*s->p))
                return -EBADMSG;
        if (*s->p == '0')
                s->p++;
        else
                while (s->p < s->end && is_digit(*s->p))
                        s->p++;
        if (s->p < s->end && *s->p == '.') {
                s->p++;
                if (s->p >= s->end || !is_digit(*s->p))
                        return -EBADMSG;
                while (s->p < s->end && is_digit(*s->p))
                        s->p++;
        }
        if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
                s->p++;
                if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
                        s->p++;
                if (s->p >= s->end || !is_digit(*s->p))
                        return -EBADMSG;
                while (s->p < s->end && is_digit(*s->p))
                        s->p++;
        }
        return 0;
}

static int scan_value(JsonScan *s);

/* Arrays and objects share one loop: for objects each member is "string" ws ':' value. */
static int scan_container(JsonScan *s, char close, bool object)
{
        if (++s->depth > s->max_depth)
                return -ELOOP;
        s->p++;
        scan_ws(s);
        if (s->p < s->end && *s->p == close) {
                s->p++;
                s->depth--;
                return 0;
        }
        for (;;) {
                int r;
                if (object) {
                        if (s->p >= s->end || *s->p != '"')
                                return -EBADMSG;
                        r = scan_string(s);
                        if (r < 0)
                                return r;
                        scan_ws(s);
                        if (s->p >= s->end || *s->p != ':')
                                return -EBADMSG;
                        s->p++;
                }
                r = scan_value(s);
                if (r < 0)
                        return r;
                if (s->p >= s->end)
                        return -EBADMSG;
                if (*s->p == close) {
                        s->p++;
                        s->depth--;
                        return 0;
                }
                if (*s->p != ',')
                        return -EBADMSG;
                s->p++;
                scan_ws(s);
        }
}

static int scan_value(JsonScan *s)
{
        int r = 0;
        scan_ws(s);
        if (s->p >= s->end)
                return -EBADMSG;
        switch (*s->p) {
        case '{':
                r = scan_container(s, '}', true);
                break;
        case '[':
                r = scan_container(s, ']', false);
                break;
        case '"':
                r = scan_string(s);
                break;
        case 't':
                r = scan_lit(s, "true") ? 0 : -EBADMSG;
                break;
        case 'f':
                r = scan_lit(s, "false") ? 0 : -EBADMSG;
                break;
        case 'n':
                r = scan_lit(s, "null") ? 0 : -EBADMSG;
                break;
        default:
                r = scan_number(s);
        }
        if (r < 0)
                return r;
        scan_ws(s);
        return 0;
}

static int json_scan(const char *msg, size_t len, unsigned max_depth)
{
        JsonScan s = { .p = msg, .end = msg + len, .max_depth = max_depth };
        int r = scan_value(&s);
        if (r < 0)
                return r;
        return s.p == s.end ? 0 : -EBADMSG;
}

#define VARLINK_PARSER_KEEP (64u * 1024u)

void varlink_parser_done(VarlinkParser *p)
{
        if (p->tok) /* json-c 0.16's json_tokener_free() does not take NULL */
                json_tokener_free(p->tok);
        *p = (VarlinkParser){};
}

/* A tokener for max_depth levels: p's own, reset, when it has one of that depth. */
static struct json_tokener *parser_tokener(VarlinkParser *p, unsigned max_depth)
{
        if (p && p->tok && p->depth == max_depth) {
                json_tokener_reset(p->tok);
                return p->tok;
        }
        if (p)
                varlink_parser_done(p);
        /* json-c counts one level more than we do; the scan already bounded depth. */
        struct json_tokener *tok = json_tokener_new_ex((int)max_depth + 1);
        if (!tok)
                return NULL;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
        if (p)
                *p = (VarlinkParser){ .tok = tok, .depth = max_depth };
        return tok;
}

/* json-c's verdict on msg[0, len), which json_scan() accepted. */
static int json_parse_tokener(struct json_tokener *tok, const char *msg, size_t len,
                              struct json_object **ret)
{
        _cleanup_(json_object_putp) struct json_object *o = json_tokener_parse_ex(tok, msg,
                                                                                  (int)len);
        enum json_tokener_error e = json_tokener_get_error(tok);
        if (e == json_tokener_error_depth)
                return -ELOOP;
        if (e == json_tokener_continue) {
                /* json-c needs a terminator to finish a bare top-level number. */
                json_object_put(o);
                o = json_tokener_parse_ex(tok, "", 1);
                e = json_tokener_get_error(tok);
                if (e != json_tokener_success)
                        return -EBADMSG;
        } else if (e != json_tokener_success)
                return -EBADMSG;
        else if (json_tokener_get_parse_end(tok) != len) {
                /* Only JSON whitespace may follow the value. */
                for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
                        if (!strchr(" \t\r\n", msg[i]))
                                return -EBADMSG;
        }
        /* "null" parses to NULL with success: a value, but not an object. */
        *ret = TAKE_PTR(o);
        return 0;
}

/* One strict JSON value covering exactly msg[0, len); returns an object or a negative errno.
 * p (may be NULL) lends its tokener. */
static int json_parse_strict(VarlinkParser *p, const char *msg, size_t len,
                             unsigned max_depth, struct json_object **ret)
{
        if (len > INT32_MAX || memchr(msg, 0, len) || !varlink_utf8_valid(msg, len))
                return -EBADMSG;
        max_depth = max_depth ? MIN(max_depth, 1024u) : VARLINK_DEFAULT_MAX_DEPTH;
        int r = json_scan(msg, len, max_depth);
        if (r < 0)
                return r;
        struct json_tokener *tok = parser_tokener(p, max_depth);
        if (!tok)
                return -ENOMEM;
        r = json_parse_tokener(tok, msg, len, ret);
        if (!p)
                json_tokener_free(tok);
        else if (len > VARLINK_PARSER_KEEP)
                varlink_parser_done(p);
        else
                json_tokener_reset(tok); /* drop what a failed parse left */
        return r;
}

static int get_bool(struct json_object *root, const char *key, bool *ret)
{
        struct json_object *v;
        if (!json_object_object_get_ex(root, key, &v) || !v) {
                *ret = false;
                return 0;
        }
        if (!json_object_is_type(v, json_type_boolean))
                return -EPROTO;
        *ret = json_object_get_boolean(v);
        return 0;
}

/* Missing, null and {} all give an (owned-by-root) empty object. */
static int get_parameters(struct json_object *root, struct json_object **ret)
{
        struct json_object *p;
        if (json_object_object_get_ex(root, "parameters", &p) && p) {
                if (!json_object_is_type(p, json_type_object))
                        return -EPROTO;
                *ret = p;
                return 0;
        }
        p = json_object_new_object();
        if (!p)
                return -ENOMEM;
        if (json_object_object_add(root, "parameters", p) < 0) {
                json_object_put(p);
                return -ENOMEM;
        }
        *ret = p;
        return 0;
}

static int get_name(struct json_object *root, const char *key, bool required,
                    const char **ret, const char **ret_dot)
{
        struct json_object *v;
        if (!json_object_object_get_ex(root, key, &v) || !v) {
                *ret = NULL;
                return required ? -EPROTO : 0;
        }
        if (!json_object_is_type(v, json_type_string))
                return -EPROTO;
        const char *s = json_object_get_string(v);
        if ((size_t)json_object_get_string_len(v) != strlen(s) ||
            !varlink_qualified_name_valid(s, ret_dot))
                return -EPROTO;
        *ret = s;
        return 0;
}

int varlink_parser_parse_call(VarlinkParser *p, const char *msg, size_t len,
                              unsigned max_depth, VarlinkCall *ret,
                              const char **reterr_field)
{
        static const char *const flags[] = { "oneway", "more", "upgrade" };
        _cleanup_(json_object_putp) struct json_object *root = NULL;
        const char *field = "";
        int r = json_parse_strict(p, msg, len, max_depth, &root);
        if (r < 0)
                return r;
        if (!json_object_is_type(root, json_type_object))
                goto proto;
        VarlinkCall c = {};
        field = "method";
        if (get_name(root, "method", true, &c.method, &c.interface_end) < 0)
                goto proto;
        bool *dst[] = { &c.oneway, &c.more, &c.upgrade };
        for (size_t i = 0; i < ELEMENTSOF(flags); i++) {
                field = flags[i];
                if (get_bool(root, flags[i], dst[i]) < 0)
                        goto proto;
        }
        field = "parameters";
        r = get_parameters(root, &c.parameters);
        if (r == -EPROTO)
                goto proto;
        if (r < 0)
                return r;
        c.root = TAKE_PTR(root);
        *ret = c;
        return 0;
proto:
        if (reterr_field)
                *reterr_field = field;
        return -EPROTO;
}

int varlink_call_parse_ex(const char *msg, size_t len, unsigned max_depth, VarlinkCall *ret,
                          const char **reterr_field)
{
        return varlink_parser_parse_call(NULL, msg, len, max_depth, ret, reterr_field);
}

int varlink_call_parse(const char *msg, size_t len, unsigned max_depth, VarlinkCall *ret)
{
        return varlink_call_parse_ex(msg, len, max_depth, ret, NULL);
}

void varlink_call_done(VarlinkCall *c)
{
        json_object_put(c->root);
        *c = (VarlinkCall){};
}

int varlink_reply_parse(const char *msg, size_t len, unsigned max_depth, VarlinkReply *ret)
{
        _cleanup_(json_object_putp) struct json_object *root = NULL;
        int r = json_parse_strict(NULL, msg, len, max_depth, &root);
        if (r < 0)
                return r;
        if (!json_object_is_type(root, json_type_object))
                return -EPROTO;
        VarlinkReply rep = {};
        r = get_name(root, "error", false, &rep.error, NULL);
        if (r < 0)
                return r;
        r = get_bool(root, "continues", &rep.continues);
        if (r < 0)
                return r;
        r = get_parameters(root, &rep.parameters);
        if (r < 0)
                return r;
        rep.root = TAKE_PTR(root);
        *ret = rep;
        return 0;
}

void varlink_reply_done(VarlinkReply *r)
{
        json_object_put(r->root);
        *r = (VarlinkReply){};
}

/* ---- formatting ---- */

static char *format_object(struct json_object *o, size_t *ret_len)
{
        size_t n;
        const char *s = json_object_to_json_string_length(
                o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
        if (!s)
                return NULL;
        char *out = malloc(n + 1);
        if (!out)
                return NULL;
        memcpy(out, s, n);
        out[n] = 0;
        if (ret_len)
                *ret_len = n + 1;
        return out;
}

static int add_parameters(struct json_object *root, struct json_object *parameters)
{
        struct json_object *p = parameters ? json_object_get(parameters)
                                           : json_object_new_object();
        if (!p)
                return -ENOMEM;
        if (json_object_object_add(root, "parameters", p) < 0) {
                json_object_put(p);
                return -ENOMEM;
        }
        return 0;
}

static int add_new(struct json_object *root, const char *key, struct json_object *v)
{
        if (!v)
                return -ENOMEM;
        if (json_object_object_add(root, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

char *varlink_format_reply(struct json_object *parameters, const char *error, bool continues,
                           size_t *ret_len)
{
        _cleanup_(json_object_putp) struct json_object *root = json_object_new_object();
        if (!root || add_parameters(root, parameters) < 0)
                return NULL;
        if (continues && add_new(root, "continues", json_object_new_boolean(1)) < 0)
                return NULL;
        if (error && add_new(root, "error", json_object_new_string(error)) < 0)
                return NULL;
        return format_object(root, ret_len);
}

char *varlink_format_call(const char *method, struct json_object *parameters, bool oneway,
                          bool more, size_t *ret_len)
{
        _cleanup_(json_object_putp) struct json_object *root = json_object_new_object();
        if (!root || add_new(root, "method", json_object_new_string(method)) < 0 ||
            add_parameters(root, parameters) < 0)
                return NULL;
        if (oneway && add_new(root, "oneway", json_object_new_boolean(1)) < 0)
                return NULL;
        if (more && add_new(root, "more", json_object_new_boolean(1)) < 0)
                return NULL;
        return format_object(root, ret_len);
}
