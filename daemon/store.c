/* SPDX-License-Identifier: MIT */
/*
 * Persistence: JSON records (json-c) written atomically, loaded with full validation, bad
 * ones quarantined. Parsing is strict: exact types, no unknown fields, bounded sizes and
 * nesting, integers range-checked, so a record that loads is one the daemon could have
 * written.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json-out.h"
#include "macro.h"
#include "store.h"

#define STORE_JSON_DEPTH 8
#define DIR_DEFINITIONS "definitions"
#define DIR_RUNTIME "runtime"
#define DIR_RECORDS "records" /* in a runtime directory of its own */
#define DIR_QUARANTINE "quarantine"
#define TMP_PREFIX ".tmp-"

struct Store {
        int dir_fd;
        int def_fd;
        int run_fd;
        int quar_fd;
        int run_quar_fd; /* quarantine of runtime records: <runtime dir>/quarantine, or -1 for
                          * quar_fd (runtime records kept in the state directory) */
        int legacy_fd;   /* <dir>/runtime of an earlier gunyahd, moved at load; -1 if none */
        struct RecordFiles *records; /* open files of the runtime records (runtime_write()) */
        char boot_id[STORE_BOOT_ID_LEN + 1]; /* this host boot's id, "" if unknown */
        /* The syncer thread: unlinks the definitions store_delete_definition() set aside and
         * fsyncs definitions/ once per batch, off the event loop. Started at the first
         * deletion; store_sync() waits for it, store_free() drains and joins it. */
        pthread_mutex_t lock;
        pthread_cond_t wake; /* work queued, or quit */
        pthread_cond_t idle; /* queue empty and no batch in progress */
        pthread_t syncer;
        bool syncer_running, busy, quit;
        char **queue; /* file names in definitions/, owned */
        size_t n_queue;
};

static bool crash_before_rename;
static atomic_uint fsyncs; /* the syncer counts too */
static unsigned tmp_counter;
static struct {
        int error;
        unsigned seen, first, count;
} write_fault;

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put);

void store_set_crash_before_rename_for_test(bool on)
{
        crash_before_rename = on;
}

void store_set_write_fault_for_test(int error, unsigned first, unsigned count)
{
        write_fault.error = error;
        write_fault.seen = 0;
        write_fault.first = first;
        write_fault.count = count;
}

unsigned store_fsyncs_for_test(void)
{
        return atomic_load(&fsyncs);
}

static int fsync_counted(int fd)
{
        atomic_fetch_add(&fsyncs, 1);
        return fsync(fd);
}

static bool write_fault_now(void)
{
        unsigned k;

        if (write_fault.error == 0)
                return false;
        k = write_fault.seen++;
        return k >= write_fault.first &&
               (write_fault.count == 0 || k - write_fault.first < write_fault.count);
}

static const char *const boot_names[_STORE_BOOT_MAX] = {
        [STORE_BOOT_V17] = "v17",
        [STORE_BOOT_OPEN_RM] = "open-rm",
};

const char *store_boot_to_string(StoreBoot b)
{
        if (b < 0 || b >= _STORE_BOOT_MAX)
                return NULL;
        return boot_names[b];
}

StoreBoot store_boot_from_string(const char *s)
{
        for (int i = 0; s && i < _STORE_BOOT_MAX; i++)
                if (strcmp(s, boot_names[i]) == 0)
                        return (StoreBoot)i;
        return _STORE_BOOT_INVALID;
}

bool store_boot_id_is_valid(const char *s)
{
        /* the kernel's random/boot_id: a UUID in its 8-4-4-4-12 lower-case hex form */
        if (!s || strlen(s) != STORE_BOOT_ID_LEN)
                return false;
        for (size_t i = 0; i < STORE_BOOT_ID_LEN; i++) {
                bool dash = i == 8 || i == 13 || i == 18 || i == 23;

                if (dash ? s[i] != '-' : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        }
        return true;
}

void store_runtime_done(StoreRuntime *r)
{
        if (!r)
                return;
        free(r->name);
        for (size_t i = 0; i < r->n_parcels; i++)
                free(r->parcels[i].sgl);
        free(r->parcels);
        free(r->ranges);
        *r = (StoreRuntime){ 0 };
}

void store_load_done(StoreLoad *l)
{
        if (!l)
                return;
        for (size_t i = 0; i < l->n_definitions; i++)
                vm_config_done(&l->definitions[i]);
        free(l->definitions);
        for (size_t i = 0; i < l->n_runtimes; i++)
                store_runtime_done(&l->runtimes[i]);
        free(l->runtimes);
        for (size_t i = 0; i < l->n_quarantined; i++) {
                free(l->quarantined[i].file);
                free(l->quarantined[i].reason);
        }
        free(l->quarantined);
        *l = (StoreLoad){ 0 };
}

/* ---- serialization ---- */

static int add(json_object *o, const char *key, json_object *v)
{
        if (!v || json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

static int to_string(json_object *o, char **ret)
{
        const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        char *d;

        if (!s)
                return -ENOMEM;
        d = strdup(s);
        if (!d)
                return -ENOMEM;
        *ret = d;
        return 0;
}

int store_definition_to_json(const VmConfig *c, char **ret)
{
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        char uuid[VM_UUID_STRING_MAX];
        int r = 0;

        if (!o)
                return -ENOMEM;
        vm_uuid_format(c->uuid, uuid);
        r |= add(o, "version", json_object_new_int(STORE_FORMAT_VERSION));
        r |= add(o, "kind", json_object_new_string("definition"));
        r |= add(o, "name", json_object_new_string(c->name ? c->name : ""));
        r |= add(o, "uuid", json_object_new_string(uuid));
        r |= add(o, "vcpus", json_object_new_int64(c->vcpus));
        r |= add(o, "memory_size", json_object_new_int64((int64_t)c->memory_size));
        r |= add(o, "memory_base", json_object_new_int64((int64_t)c->memory_base));
        r |= add(o, "kernel", json_object_new_string(c->kernel ? c->kernel : ""));
        if (c->initrd)
                r |= add(o, "initrd", json_object_new_string(c->initrd));
        if (c->cmdline)
                r |= add(o, "cmdline", json_object_new_string(c->cmdline));
        r |= add(o, "demand_paging", json_object_new_boolean(c->demand_paging));
        r |= add(o, "persistent", json_object_new_boolean(c->persistent));
        if (r < 0)
                return -ENOMEM;
        return to_string(o, ret);
}

/* Length of the run of equally sized, equally spaced extents starting at e[0] (at least 1):
 * e[k] = { e[0].ipa + k * stride, e[0].size } for k < count, with stride >= size. */
static size_t run_length(const PoolExtent *e, size_t n, uint64_t *ret_stride)
{
        uint64_t stride;
        size_t k;

        *ret_stride = 0;
        if (n < 2 || e[1].size != e[0].size || e[1].ipa <= e[0].ipa ||
            e[1].ipa - e[0].ipa < e[0].size)
                return 1;
        stride = e[1].ipa - e[0].ipa;
        for (k = 2; k < n; k++)
                if (e[k].size != e[0].size || e[k].ipa <= e[k - 1].ipa ||
                    e[k].ipa - e[k - 1].ipa != stride)
                        break;
        *ret_stride = stride;
        return k;
}

/* The runtime record is rewritten at every step that changes what the RM holds (two writes
 * per demand-paging fault), so it is printed directly (json-out.h): building json-c objects
 * for it cost 25 us for 33 parcels, most of a record write on tmpfs. The output is what
 * json_object_to_json_string_ext(JSON_C_TO_STRING_PLAIN) gives for the same record
 * (test-store checks a literal), and the loader reads it with json-c as before. Integers
 * print as json-c's int64 values (a u64 above INT64_MAX comes out negative, which the loader
 * refuses like it always did: no such value is ever recorded). */
#define OUT_LIT(o, lit) json_out_puts((o), lit)

static void out_str(JsonOut *o, const char *s)
{
        json_out_string(o, s, strlen(s), true);
}

/* An extent list, compact: one entry per run, [ipa, size] for a single extent and
 * [ipa, size, count, stride] for count >= 2 extents of the same size, stride apart. */
static void out_extents(JsonOut *o, const PoolExtent *e, size_t n)
{
        OUT_LIT(o, "[");
        for (size_t i = 0; i < n && !o->oom;) {
                uint64_t stride;
                size_t count = run_length(e + i, n - i, &stride);

                OUT_LIT(o, "[");
                json_out_i64(o, (int64_t)e[i].ipa);
                OUT_LIT(o, ",");
                json_out_i64(o, (int64_t)e[i].size);
                if (count > 1) {
                        OUT_LIT(o, ",");
                        json_out_i64(o, (int64_t)count);
                        OUT_LIT(o, ",");
                        json_out_i64(o, (int64_t)stride);
                }
                OUT_LIT(o, "]");
                i += count;
                if (i < n)
                        OUT_LIT(o, ",");
        }
        OUT_LIT(o, "]");
}

int store_runtime_to_json(const StoreRuntime *rt, char **ret)
{
        const char *boot = store_boot_to_string(rt->boot);
        JsonOut o = { 0 };

        if (!boot)
                return -EINVAL;
        OUT_LIT(&o, "{\"version\":");
        json_out_i64(&o, STORE_RUNTIME_VERSION);
        OUT_LIT(&o, ",\"kind\":\"runtime\",\"name\":");
        out_str(&o, rt->name ? rt->name : "");
        OUT_LIT(&o, ",\"vmid\":");
        json_out_i64(&o, rt->vmid);
        OUT_LIT(&o, ",\"rm_status\":");
        json_out_i64(&o, rt->rm_status);
        OUT_LIT(&o, ",\"boot\":");
        out_str(&o, boot);
        if (rt->host_boot[0]) {
                OUT_LIT(&o, ",\"host_boot\":");
                out_str(&o, rt->host_boot);
        }
        OUT_LIT(&o, ",\"parcels\":[");
        for (size_t i = 0; i < rt->n_parcels && !o.oom; i++) {
                const StoreParcel *p = &rt->parcels[i];

                OUT_LIT(&o, "{\"handle\":");
                json_out_i64(&o, p->handle);
                OUT_LIT(&o, ",\"label\":");
                json_out_i64(&o, p->label);
                OUT_LIT(&o, ",\"guest_offset\":");
                json_out_i64(&o, (int64_t)p->guest_offset);
                if (p->accepted)
                        OUT_LIT(&o, ",\"accepted\":true");
                else
                        OUT_LIT(&o, ",\"accepted\":false");
                if (p->pending)
                        OUT_LIT(&o, ",\"pending\":true");
                OUT_LIT(&o, ",\"sgl\":");
                out_extents(&o, p->sgl, p->n_sgl);
                OUT_LIT(&o, "}");
                if (i + 1 < rt->n_parcels)
                        OUT_LIT(&o, ",");
        }
        OUT_LIT(&o, "],\"ranges\":");
        out_extents(&o, rt->ranges, rt->n_ranges);
        OUT_LIT(&o, "}");
        return json_out_finish(&o, ret, NULL);
}

/* ---- parsing ---- */

typedef struct Field {
        const char *key;
        json_type type;
        bool optional;
} Field;

static int reject(const char **ret_reason, const char *why)
{
        if (ret_reason)
                *ret_reason = why;
        return -EBADMSG;
}

/* Parse exactly len bytes as one JSON object (trailing whitespace allowed). */
static int parse_object(const char *buf, size_t len, json_object **ret, const char **ret_reason)
{
        json_tokener *tok;
        json_object *o;
        size_t used;

        if (len > STORE_FILE_MAX || len > INT32_MAX)
                return reject(ret_reason, "record too large");
        if (memchr(buf, '\0', len))
                return reject(ret_reason, "record contains a NUL byte");
        tok = json_tokener_new_ex(STORE_JSON_DEPTH);
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        o = json_tokener_parse_ex(tok, buf, (int)len);
        if (!o || json_tokener_get_error(tok) != json_tokener_success) {
                json_object_put(o);
                json_tokener_free(tok);
                return reject(ret_reason, "not valid JSON");
        }
        used = json_tokener_get_parse_end(tok);
        json_tokener_free(tok);
        for (; used < len; used++)
                if (!strchr(" \t\r\n", buf[used])) {
                        json_object_put(o);
                        return reject(ret_reason, "trailing data after the JSON object");
                }
        if (!json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return reject(ret_reason, "record is not a JSON object");
        }
        *ret = o;
        return 0;
}

/* Every key of o must be in fields with the right type; required ones present. */
static int check_fields(json_object *o, const Field *fields, size_t n, const char **ret_reason)
{
        json_object_object_foreach(o, key, val) {
                size_t i;

                for (i = 0; i < n; i++)
                        if (strcmp(key, fields[i].key) == 0)
                                break;
                if (i == n)
                        return reject(ret_reason, "unknown field");
                if (!json_object_is_type(val, fields[i].type))
                        return reject(ret_reason, "field has the wrong JSON type");
        }
        for (size_t i = 0; i < n; i++)
                if (!fields[i].optional && !json_object_object_get_ex(o, fields[i].key, NULL))
                        return reject(ret_reason, "required field missing");
        return 0;
}

static int get_u64(json_object *o, const char *key, uint64_t max, uint64_t *ret)
{
        json_object *v;
        int64_t i;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
                return -EBADMSG;
        errno = 0;
        i = json_object_get_int64(v);
        if (errno != 0 || i < 0 || (uint64_t)i > max)
                return -EBADMSG;
        *ret = (uint64_t)i;
        return 0;
}

static const char *get_str(json_object *o, const char *key)
{
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

/* The record's version, which must be one this loader reads for kind. */
static int check_header(json_object *o, const char *kind, uint64_t *ret_version,
                        const char **ret_reason)
{
        uint64_t version;
        bool runtime = strcmp(kind, "runtime") == 0;

        if (get_u64(o, "version", UINT32_MAX, &version) < 0 ||
            !(version == STORE_FORMAT_VERSION || (runtime && version == STORE_RUNTIME_VERSION)))
                return reject(ret_reason, "unsupported record version");
        if (!get_str(o, "kind") || strcmp(get_str(o, "kind"), kind) != 0)
                return reject(ret_reason, "wrong record kind");
        if (ret_version)
                *ret_version = version;
        return 0;
}

static int dup_str(json_object *o, const char *key, char **ret)
{
        const char *s = get_str(o, key);

        *ret = NULL;
        if (!s)
                return 0;
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

int store_definition_from_json(const char *buf, size_t len, VmConfig *ret,
                               const char **ret_reason)
{
        static const Field fields[] = {
                { "version", json_type_int, false },   { "kind", json_type_string, false },
                { "name", json_type_string, false },   { "uuid", json_type_string, false },
                { "vcpus", json_type_int, false },     { "memory_size", json_type_int, false },
                { "memory_base", json_type_int, false }, { "kernel", json_type_string, false },
                { "initrd", json_type_string, true },  { "cmdline", json_type_string, true },
                { "demand_paging", json_type_boolean, false },
                { "persistent", json_type_boolean, false },
        };
        _cleanup_(json_object_putp) json_object *o = NULL;
        VmConfig c;
        uint64_t v;
        const char *field;
        int r;

        vm_config_init(ret);
        r = parse_object(buf, len, &o, ret_reason);
        if (r < 0)
                return r;
        r = check_fields(o, fields, ELEMENTSOF(fields), ret_reason);
        if (r < 0)
                return r;
        r = check_header(o, "definition", NULL, ret_reason);
        if (r < 0)
                return r;

        vm_config_init(&c);
        if (vm_uuid_parse(get_str(o, "uuid"), c.uuid) < 0 || vm_uuid_is_null(c.uuid))
                return reject(ret_reason, "uuid is malformed or null");
        if (get_u64(o, "vcpus", VM_VCPUS_MAX, &v) < 0)
                return reject(ret_reason, "vcpus out of range");
        c.vcpus = (uint32_t)v;
        if (get_u64(o, "memory_size", VM_MEMORY_MAX, &c.memory_size) < 0)
                return reject(ret_reason, "memory_size out of range");
        if (get_u64(o, "memory_base", VM_IPA_LIMIT, &c.memory_base) < 0)
                return reject(ret_reason, "memory_base out of range");
        c.demand_paging = json_object_get_boolean(json_object_object_get(o, "demand_paging"));
        c.persistent = json_object_get_boolean(json_object_object_get(o, "persistent"));
        if (dup_str(o, "name", &c.name) < 0 || dup_str(o, "kernel", &c.kernel) < 0 ||
            dup_str(o, "initrd", &c.initrd) < 0 || dup_str(o, "cmdline", &c.cmdline) < 0) {
                vm_config_done(&c);
                return -ENOMEM;
        }
        if (vm_config_validate(&c, 0, &field) < 0) {
                static const char *const reasons[][2] = {
                        { "name", "invalid VM name" },
                        { "vcpus", "vcpus out of range" },
                        { "memory_size", "memory_size out of range or not 2 MiB aligned" },
                        { "memory_base", "memory_base not 2 MiB aligned or beyond 2^44" },
                        { "kernel", "invalid kernel source" },
                        { "initrd", "invalid initrd source" },
                        { "cmdline", "cmdline too long or with control characters" },
                };
                const char *why = "invalid definition";

                for (size_t i = 0; i < ELEMENTSOF(reasons); i++)
                        if (strcmp(field, reasons[i][0]) == 0)
                                why = reasons[i][1];
                vm_config_done(&c);
                return reject(ret_reason, why);
        }
        *ret = c;
        return 0;
}

/* Element k of an entry of an extent list: a non-negative integer up to max. */
static int entry_u64(json_object *entry, size_t k, uint64_t max, uint64_t *ret)
{
        json_object *x = json_object_array_get_idx(entry, k);
        int64_t iv;

        if (!json_object_is_type(x, json_type_int))
                return -EBADMSG;
        errno = 0;
        iv = json_object_get_int64(x);
        if (errno != 0 || iv < 0 || (uint64_t)iv > max)
                return -EBADMSG;
        *ret = (uint64_t)iv;
        return 0;
}

/*
 * An extent list: entries [ipa, size] (one extent) or, from version 2 on,
 * [ipa, size, count, stride] (count >= 2 extents of size bytes, the k-th at ipa + k * stride,
 * stride >= size and a multiple of 4 KiB, the last one below POOL_IPA_LIMIT). At most
 * STORE_EXTENTS_MAX extents, and *budget (what the record may still hold) is charged before
 * anything is allocated. Alignment and the rest are store_runtime_validate()'s job.
 */
static int extents_from_json(json_object *a, bool runs, size_t *budget, PoolExtent **ret,
                             size_t *ret_n, const char **ret_reason)
{
        _cleanup_free_ PoolExtent *e = NULL;
        size_t n_entries, total = 0, o = 0;

        if (!json_object_is_type(a, json_type_array))
                return reject(ret_reason, "extent list is not an array");
        n_entries = json_object_array_length(a);
        if (n_entries > STORE_EXTENTS_MAX)
                return reject(ret_reason, "too many extents");
        /* Pass 1: shape and ranges of every entry, and the number of extents. */
        for (size_t i = 0; i < n_entries; i++) {
                json_object *entry = json_object_array_get_idx(a, i);
                size_t len = json_object_is_type(entry, json_type_array)
                                 ? json_object_array_length(entry)
                                 : 0;
                uint64_t ipa, size, count = 1, stride = 0;

                if (len != 2 && !(runs && len == 4))
                        return reject(ret_reason, runs ? "extent is not an [ipa, size] pair or "
                                                         "an [ipa, size, count, stride] run"
                                                       : "extent is not an [ipa, size] pair");
                if (entry_u64(entry, 0, POOL_IPA_LIMIT, &ipa) < 0 ||
                    entry_u64(entry, 1, POOL_IPA_LIMIT, &size) < 0)
                        return reject(ret_reason, "extent value out of range");
                if (len == 4) {
                        if (entry_u64(entry, 2, STORE_EXTENTS_MAX, &count) < 0 || count < 2)
                                return reject(ret_reason, "run count out of range");
                        if (entry_u64(entry, 3, POOL_IPA_LIMIT, &stride) < 0 || stride < size ||
                            stride == 0 || !IS_ALIGNED(stride, POOL_GRANULE))
                                return reject(ret_reason, "run stride out of range");
                        /* the last extent starts below the limit (its end: validate) */
                        if ((count - 1) > (POOL_IPA_LIMIT - ipa) / stride)
                                return reject(ret_reason, "run extends beyond the IPA limit");
                }
                if (count > STORE_EXTENTS_MAX - total)
                        return reject(ret_reason, "too many extents");
                total += count;
        }
        if (total > *budget)
                return reject(ret_reason, "too many extents in the record");
        *budget -= total;
        e = calloc(MAX(total, (size_t)1), sizeof(*e));
        if (!e)
                return -ENOMEM;
        /* Pass 2: expand (every value was checked above). */
        for (size_t i = 0; i < n_entries; i++) {
                json_object *entry = json_object_array_get_idx(a, i);
                uint64_t ipa = 0, size = 0, count = 1, stride = 0; /* checked by the first pass */

                (void)entry_u64(entry, 0, POOL_IPA_LIMIT, &ipa);
                (void)entry_u64(entry, 1, POOL_IPA_LIMIT, &size);
                if (json_object_array_length(entry) == 4) {
                        (void)entry_u64(entry, 2, STORE_EXTENTS_MAX, &count);
                        (void)entry_u64(entry, 3, POOL_IPA_LIMIT, &stride);
                }
                for (uint64_t k = 0; k < count; k++)
                        e[o++] = (PoolExtent){ .ipa = ipa + k * stride, .size = size };
        }
        *ret = TAKE_PTR(e);
        *ret_n = total;
        return 0;
}

static int parcel_from_json(json_object *po, bool runs, size_t *budget, StoreParcel *p,
                            const char **ret_reason)
{
        static const Field fields[] = {
                { "handle", json_type_int, false },   { "label", json_type_int, false },
                { "guest_offset", json_type_int, false }, { "accepted", json_type_boolean, false },
                { "sgl", json_type_array, false },    { "pending", json_type_boolean, true },
        };
        uint64_t v;
        int r;

        if (!json_object_is_type(po, json_type_object))
                return reject(ret_reason, "parcel is not an object");
        r = check_fields(po, fields, ELEMENTSOF(fields), ret_reason);
        if (r < 0)
                return r;
        if (get_u64(po, "handle", UINT32_MAX, &v) < 0)
                return reject(ret_reason, "parcel handle out of range");
        p->handle = (uint32_t)v;
        if (get_u64(po, "label", UINT32_MAX, &v) < 0)
                return reject(ret_reason, "parcel label out of range");
        p->label = (uint32_t)v;
        if (get_u64(po, "guest_offset", VM_IPA_LIMIT, &p->guest_offset) < 0)
                return reject(ret_reason, "parcel guest_offset out of range");
        p->accepted = json_object_get_boolean(json_object_object_get(po, "accepted"));
        p->pending = json_object_get_boolean(json_object_object_get(po, "pending"));
        return extents_from_json(json_object_object_get(po, "sgl"), runs, budget, &p->sgl,
                                 &p->n_sgl, ret_reason);
}

int store_runtime_from_json(const char *buf, size_t len, StoreRuntime *ret,
                            const char **ret_reason)
{
        static const Field fields[] = {
                { "version", json_type_int, false }, { "kind", json_type_string, false },
                { "name", json_type_string, false }, { "vmid", json_type_int, false },
                { "rm_status", json_type_int, false }, { "boot", json_type_string, false },
                { "parcels", json_type_array, false }, { "ranges", json_type_array, false },
                { "host_boot", json_type_string, true },
        };
        _cleanup_(json_object_putp) json_object *o = NULL;
        StoreRuntime rt = { 0 };
        const char *host_boot;
        size_t budget = STORE_EXTENTS_TOTAL_MAX;
        json_object *parcels;
        uint64_t v, version;
        bool runs;
        int r;

        *ret = (StoreRuntime){ 0 };
        r = parse_object(buf, len, &o, ret_reason);
        if (r < 0)
                return r;
        r = check_fields(o, fields, ELEMENTSOF(fields), ret_reason);
        if (r < 0)
                return r;
        r = check_header(o, "runtime", &version, ret_reason);
        if (r < 0)
                return r;
        runs = version >= STORE_RUNTIME_VERSION; /* version 1 wrote pairs only */
        if (get_u64(o, "vmid", UINT16_MAX, &v) < 0)
                return reject(ret_reason, "vmid out of range");
        rt.vmid = (uint16_t)v;
        if (get_u64(o, "rm_status", UINT8_MAX, &v) < 0)
                return reject(ret_reason, "rm_status out of range");
        rt.rm_status = (uint8_t)v;
        rt.boot = store_boot_from_string(get_str(o, "boot"));
        if (rt.boot < 0)
                return reject(ret_reason, "unknown boot convention");
        host_boot = get_str(o, "host_boot");
        if (host_boot) {
                json_object *hb = json_object_object_get(o, "host_boot");

                if (json_object_get_string_len(hb) != STORE_BOOT_ID_LEN ||
                    !store_boot_id_is_valid(host_boot))
                        return reject(ret_reason, "host_boot is not a boot id");
                memcpy(rt.host_boot, host_boot, STORE_BOOT_ID_LEN + 1);
        }
        parcels = json_object_object_get(o, "parcels");
        if (json_object_array_length(parcels) > STORE_PARCELS_MAX)
                return reject(ret_reason, "too many parcels");
        if (dup_str(o, "name", &rt.name) < 0)
                return -ENOMEM;
        rt.parcels = calloc(STORE_PARCELS_MAX, sizeof(*rt.parcels));
        if (!rt.parcels) {
                store_runtime_done(&rt);
                return -ENOMEM;
        }
        for (size_t i = 0; i < json_object_array_length(parcels); i++) {
                rt.n_parcels = i + 1;
                r = parcel_from_json(json_object_array_get_idx(parcels, i), runs, &budget,
                                     &rt.parcels[i], ret_reason);
                if (r < 0) {
                        store_runtime_done(&rt);
                        return r;
                }
        }
        r = extents_from_json(json_object_object_get(o, "ranges"), runs, &budget, &rt.ranges,
                              &rt.n_ranges, ret_reason);
        if (r >= 0)
                r = store_runtime_validate(&rt, ret_reason);
        if (r < 0) {
                store_runtime_done(&rt);
                return r;
        }
        *ret = rt;
        return 0;
}

static bool extent_ok(const PoolExtent *e)
{
        return e->size > 0 && IS_ALIGNED(e->ipa, POOL_GRANULE) &&
               IS_ALIGNED(e->size, POOL_GRANULE) && e->ipa < POOL_IPA_LIMIT &&
               e->size <= POOL_IPA_LIMIT - e->ipa;
}

/* Whether [ipa, ipa+size) lies inside one of the sorted, disjoint ranges. *hint is the
 * index that covered the previous extent: SGLs are mostly in ascending order, so it or the
 * next one usually covers this one too. */
static bool covered(const PoolExtent *sorted, size_t n, const PoolExtent *e, size_t *hint)
{
        size_t lo = 0, hi = n;

        for (size_t h = *hint; h < n && h <= *hint + 1; h++)
                if (sorted[h].ipa <= e->ipa && e->ipa + e->size <= sorted[h].ipa + sorted[h].size) {
                        *hint = h;
                        return true;
                }
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (sorted[mid].ipa + sorted[mid].size <= e->ipa)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        *hint = lo < n ? lo : 0;
        return lo < n && sorted[lo].ipa <= e->ipa &&
               e->ipa + e->size <= sorted[lo].ipa + sorted[lo].size;
}

static int cmp_extent(const void *a, const void *b)
{
        const PoolExtent *x = a, *y = b;

        return x->ipa < y->ipa ? -1 : x->ipa > y->ipa;
}

int store_runtime_validate(const StoreRuntime *rt, const char **ret_reason)
{
        _cleanup_free_ PoolExtent *copy = NULL;
        const PoolExtent *sorted = rt->ranges;
        size_t total = rt->n_ranges;
        bool in_order = true;

        if (!vm_name_is_valid(rt->name))
                return reject(ret_reason, "invalid VM name");
        /* VMID 0 is the hypervisor, 3 the host, 0xFF the RM, 0xFFFE/0xFFFF are internal */
        if (rt->vmid == 0 || rt->vmid == 3 || rt->vmid == 0xFF || rt->vmid >= 0xFFFE)
                return reject(ret_reason, "vmid is not a guest VMID");
        if (!store_boot_to_string(rt->boot))
                return reject(ret_reason, "unknown boot convention");
        if (rt->n_parcels > STORE_PARCELS_MAX || rt->n_ranges > STORE_EXTENTS_MAX)
                return reject(ret_reason, "too many parcels or ranges");
        for (size_t i = 0; i < rt->n_parcels; i++) {
                if (rt->parcels[i].n_sgl > STORE_EXTENTS_TOTAL_MAX - total)
                        return reject(ret_reason, "too many extents in the record");
                total += rt->parcels[i].n_sgl;
        }
        for (size_t i = 0; i < rt->n_ranges; i++) {
                if (!extent_ok(&rt->ranges[i]))
                        return reject(ret_reason, "pool range misaligned or out of range");
                if (i > 0 && rt->ranges[i - 1].ipa > rt->ranges[i].ipa)
                        in_order = false;
        }
        if (!in_order) {
                copy = malloc(rt->n_ranges * sizeof(*copy));
                if (!copy)
                        return -ENOMEM;
                memcpy(copy, rt->ranges, rt->n_ranges * sizeof(*copy));
                qsort(copy, rt->n_ranges, sizeof(*copy), cmp_extent);
                sorted = copy;
        }
        for (size_t i = 1; i < rt->n_ranges; i++)
                if (sorted[i - 1].ipa + sorted[i - 1].size > sorted[i].ipa)
                        return reject(ret_reason, "pool ranges overlap");
        for (size_t i = 0; i < rt->n_parcels; i++) {
                const StoreParcel *p = &rt->parcels[i];
                size_t hint = 0;

                if ((p->handle == UINT32_MAX) != p->pending)
                        return reject(ret_reason, p->pending ? "pending parcel with a handle"
                                                             : "invalid parcel handle");
                for (size_t j = 0; j < i && !p->pending; j++)
                        if (rt->parcels[j].handle == p->handle)
                                return reject(ret_reason, "duplicate parcel handle");
                if (p->n_sgl == 0 || p->n_sgl > STORE_EXTENTS_MAX)
                        return reject(ret_reason, "parcel SGL empty or too long");
                if (p->guest_offset >= VM_IPA_LIMIT)
                        return reject(ret_reason, "parcel guest_offset out of range");
                for (size_t k = 0; k < p->n_sgl; k++) {
                        if (!extent_ok(&p->sgl[k]))
                                return reject(ret_reason, "parcel SGL entry misaligned");
                        if (!covered(sorted, rt->n_ranges, &p->sgl[k], &hint))
                                return reject(ret_reason, "parcel SGL outside the VM's pool ranges");
                }
        }
        return 0;
}

/* ---- files ---- */

/* The two files of one runtime record, open while the VM has a record: the one under the
 * record's name (cur) and a spare under TMP_PREFIX + name, written in place and swapped in
 * with RENAME_EXCHANGE (runtime_write()). */
typedef struct RecordFiles {
        struct RecordFiles *next;
        int cur_fd, spare_fd; /* -1: not open (spare_fd is then opened by name) */
        uint64_t cur_size, spare_size;
        char file[VM_NAME_MAX + 8];
} RecordFiles;

static void record_files_free(RecordFiles *f)
{
        closep(&f->cur_fd);
        closep(&f->spare_fd);
        free(f);
}

/* Forget every open record file (before a load reads, removes or quarantines them). */
static void records_forget(Store *s)
{
        while (s->records) {
                RecordFiles *f = s->records;
                s->records = f->next;
                record_files_free(f);
        }
}

static RecordFiles *record_files(Store *s, const char *file, bool add)
{
        RecordFiles **p;

        for (p = &s->records; *p; p = &(*p)->next)
                if (strcmp((*p)->file, file) == 0)
                        return *p;
        if (!add)
                return NULL;
        *p = calloc(1, sizeof(**p));
        if (!*p)
                return NULL;
        (*p)->cur_fd = (*p)->spare_fd = -1;
        snprintf((*p)->file, sizeof((*p)->file), "%s", file);
        return *p;
}

static void record_files_drop(Store *s, const char *file)
{
        for (RecordFiles **p = &s->records; *p; p = &(*p)->next)
                if (strcmp((*p)->file, file) == 0) {
                        RecordFiles *f = *p;
                        *p = f->next;
                        record_files_free(f);
                        return;
                }
}

static int pwrite_all(int fd, const void *data, size_t len)
{
        const uint8_t *p = data;
        off_t off = 0;

        while (len > 0) {
                ssize_t n = pwrite(fd, p, len, off);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                off += n;
                len -= (size_t)n;
        }
        return 0;
}

/* Write a runtime record: the new text goes into the spare file in place (pwrite, then
 * ftruncate if it shrank), which RENAME_EXCHANGE then swaps with the record, and the old
 * record's file becomes the next spare. Two syscalls per write instead of five (create,
 * write, close, exchange, unlink): a demand-paging fault writes the record twice before its
 * RM calls (docs/performance.md). The same atomicity as store_write_atomic(): the name
 * always holds a whole record, the spare may be torn (a crash mid-write) and the next load
 * removes it like any TMP_PREFIX file. Without RENAME_EXCHANGE (EINVAL) or a record yet
 * (ENOENT), the spare is renamed over the name. Out of file descriptors, the record is
 * written the old way. */
static int runtime_write_once(Store *s, const char *file, const char *data, size_t len);

static int runtime_write(Store *s, const char *file, const char *data, size_t len)
{
        int r;

        if (write_fault_now())
                return write_fault.error;
        r = runtime_write_once(s, file, data, len);
        if (r == -ENOENT) {
                /* the spare vanished under us (removed by hand): once more, from a new one */
                RecordFiles *f = record_files(s, file, false);
                if (f) {
                        closep(&f->spare_fd);
                        f->spare_fd = -1;
                }
                r = runtime_write_once(s, file, data, len);
        }
        return r;
}

static int runtime_write_once(Store *s, const char *file, const char *data, size_t len)
{
        char spare[VM_NAME_MAX + 16];
        RecordFiles *f;
        int r = 0;

        f = record_files(s, file, true);
        if (!f)
                return -ENOMEM;
        snprintf(spare, sizeof(spare), TMP_PREFIX "%s", file);
        if (f->spare_fd < 0) {
                struct stat st;

                f->spare_fd = openat(s->run_fd, spare, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
                                     0600);
                if (f->spare_fd < 0) {
                        r = -errno;
                        if (r == -EMFILE || r == -ENFILE) {
                                record_files_drop(s, file);
                                return store_write_atomic(s->run_fd, file, data, len, false);
                        }
                        return r;
                }
                if (fstat(f->spare_fd, &st) < 0)
                        r = -errno;
                else if (!S_ISREG(st.st_mode))
                        r = -EBADF;
                else
                        f->spare_size = (uint64_t)st.st_size;
        }
        if (r >= 0)
                r = pwrite_all(f->spare_fd, data, len);
        if (r >= 0 && f->spare_size > len && ftruncate(f->spare_fd, (off_t)len) < 0)
                r = -errno;
        if (r < 0) {
                /* Torn or unknown: removed (on a full file system that frees its space),
                 * made afresh next time. The record under its name is untouched. */
                (void)unlinkat(s->run_fd, spare, 0);
                closep(&f->spare_fd);
                f->spare_fd = -1;
                return r;
        }
        f->spare_size = len;
        if (crash_before_rename)
                return -EINTR; /* as if the process died here: the spare stays */
        if (renameat2(s->run_fd, spare, s->run_fd, file, RENAME_EXCHANGE) == 0) {
                int fd = f->cur_fd;
                uint64_t size = f->cur_size;

                f->cur_fd = f->spare_fd;
                f->cur_size = len;
                f->spare_fd = fd;
                f->spare_size = size;
                return 0;
        }
        if (errno != ENOENT && errno != EINVAL && errno != ENOSYS)
                return -errno;
        if (renameat(s->run_fd, spare, s->run_fd, file) < 0)
                return -errno;
        closep(&f->cur_fd); /* its file was replaced */
        f->cur_fd = f->spare_fd;
        f->cur_size = len;
        f->spare_fd = -1;
        return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
        const uint8_t *p = data;

        while (len > 0) {
                ssize_t n = write(fd, p, len);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

int store_write_atomic(int dirfd, const char *name, const void *data, size_t len, bool durable)
{
        char tmp[256];
        int fd, r;

        if (!name || !*name || strchr(name, '/') || strlen(name) > 200)
                return -EINVAL;
        if (write_fault_now())
                return write_fault.error;
        snprintf(tmp, sizeof(tmp), TMP_PREFIX "%s-%ld-%u", name, (long)getpid(), tmp_counter++);
        fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        r = write_all(fd, data, len);
        if (r >= 0 && durable && fsync_counted(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r >= 0)
                r = -errno;
        if (r >= 0 && crash_before_rename)
                return -EINTR; /* as if the process died here: the temp file stays */
        if (r >= 0 && !durable) {
                /* Swap the new record in and unlink the old one from the temp name. Same
                 * atomicity as a rename over it (a crash before the unlink leaves a temp file
                 * the next load removes), but ext4 starts writeback of a file renamed over
                 * another (auto_da_alloc), ~120 us per record on this machine's disk; the
                 * swap is ~20 us (docs/performance.md, cause 3). A first record (ENOENT) or
                 * a filesystem without RENAME_EXCHANGE (EINVAL) takes the plain rename. */
                if (renameat2(dirfd, tmp, dirfd, name, RENAME_EXCHANGE) == 0) {
                        (void)unlinkat(dirfd, tmp, 0);
                        return 0;
                }
                if (errno != ENOENT && errno != EINVAL && errno != ENOSYS)
                        r = -errno;
        }
        if (r >= 0 && renameat(dirfd, tmp, dirfd, name) < 0)
                r = -errno;
        if (r < 0) {
                unlinkat(dirfd, tmp, 0);
                return r;
        }
        if (durable && fsync_counted(dirfd) < 0)
                return -errno;
        return 0;
}

static int open_subdir(int dirfd, const char *name)
{
        if (mkdirat(dirfd, name, 0700) < 0 && errno != EEXIST)
                return -errno;
        int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

        return fd < 0 ? -errno : fd;
}

/* This host boot's id, or "" where the kernel does not say (then no record is judged by
 * its boot). */
static void read_boot_id(char out[STORE_BOOT_ID_LEN + 1])
{
        char buf[STORE_BOOT_ID_LEN + 2] = { 0 };
        int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC | O_NOCTTY);
        ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

        if (fd >= 0)
                close(fd);
        out[0] = '\0';
        if (n >= STORE_BOOT_ID_LEN) {
                buf[STORE_BOOT_ID_LEN] = '\0';
                if (store_boot_id_is_valid(buf))
                        memcpy(out, buf, STORE_BOOT_ID_LEN + 1);
        }
}

int store_set_boot_id(Store *s, const char *boot_id)
{
        if (boot_id && *boot_id && !store_boot_id_is_valid(boot_id))
                return -EINVAL;
        snprintf(s->boot_id, sizeof(s->boot_id), "%s", boot_id ? boot_id : "");
        return 0;
}

/* ---- the syncer ---- */

static void *syncer_main(void *userdata)
{
        Store *s = userdata;

        pthread_mutex_lock(&s->lock);
        for (;;) {
                char **batch;
                size_t n;

                while (s->n_queue == 0 && !s->quit)
                        pthread_cond_wait(&s->wake, &s->lock);
                if (s->n_queue == 0)
                        break; /* quit, everything done */
                batch = s->queue;
                n = s->n_queue;
                s->queue = NULL;
                s->n_queue = 0;
                s->busy = true;
                pthread_mutex_unlock(&s->lock);
                /* A failure leaves a set-aside file the next load removes (a ".tmp-" name)
                 * or a deletion a host crash may undo: never a record under its name. */
                for (size_t i = 0; i < n; i++) {
                        (void)unlinkat(s->def_fd, batch[i], 0);
                        free(batch[i]);
                }
                free(batch);
                (void)fsync_counted(s->def_fd);
                pthread_mutex_lock(&s->lock);
                s->busy = false;
                if (s->n_queue == 0)
                        pthread_cond_broadcast(&s->idle);
        }
        pthread_mutex_unlock(&s->lock);
        return NULL;
}

/* Queue definitions/<file> for the syncer, starting it if needed (signals blocked in it:
 * the daemon takes its signals through sd-event on the main thread). */
static int syncer_queue(Store *s, const char *file)
{
        char **q, *d = strdup(file);
        int r = 0;

        if (!d)
                return -ENOMEM;
        pthread_mutex_lock(&s->lock);
        if (!s->syncer_running) {
                pthread_attr_t attr;
                sigset_t all, old;

                sigfillset(&all);
                pthread_sigmask(SIG_SETMASK, &all, &old);
                r = -pthread_attr_init(&attr);
                if (r == 0) {
                        (void)pthread_attr_setstacksize(&attr, 64 * 1024);
                        r = -pthread_create(&s->syncer, &attr, syncer_main, s);
                        pthread_attr_destroy(&attr);
                }
                pthread_sigmask(SIG_SETMASK, &old, NULL);
                s->syncer_running = r == 0;
        }
        q = r == 0 ? realloc(s->queue, (s->n_queue + 1) * sizeof(*q)) : NULL;
        if (q) {
                s->queue = q;
                s->queue[s->n_queue++] = d;
                pthread_cond_signal(&s->wake);
        } else if (r == 0)
                r = -ENOMEM;
        pthread_mutex_unlock(&s->lock);
        if (r < 0)
                free(d);
        return r;
}

void store_sync(Store *s)
{
        pthread_mutex_lock(&s->lock);
        while (s->n_queue > 0 || s->busy)
                pthread_cond_wait(&s->idle, &s->lock);
        pthread_mutex_unlock(&s->lock);
}

Store *store_free(Store *s)
{
        if (!s)
                return NULL;
        if (s->syncer_running) {
                pthread_mutex_lock(&s->lock);
                s->quit = true;
                pthread_cond_signal(&s->wake);
                pthread_mutex_unlock(&s->lock);
                pthread_join(s->syncer, NULL);
        }
        records_forget(s);
        pthread_cond_destroy(&s->idle);
        pthread_cond_destroy(&s->wake);
        pthread_mutex_destroy(&s->lock);
        closep(&s->dir_fd);
        closep(&s->def_fd);
        closep(&s->run_fd);
        closep(&s->quar_fd);
        closep(&s->run_quar_fd);
        closep(&s->legacy_fd);
        free(s);
        return NULL;
}

int store_open(Store **ret, const char *dir, const char *runtime_dir)
{
        _cleanup_(store_freep) Store *s = NULL;

        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return -errno;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->wake, NULL);
        pthread_cond_init(&s->idle, NULL);
        s->def_fd = s->run_fd = s->quar_fd = s->run_quar_fd = s->legacy_fd = -1;
        s->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->dir_fd < 0)
                return -errno;
        s->def_fd = open_subdir(s->dir_fd, DIR_DEFINITIONS);
        if (s->def_fd < 0)
                return s->def_fd;
        if (runtime_dir) {
                _cleanup_close_ int rt = -1;

                if (mkdir(runtime_dir, 0700) < 0 && errno != EEXIST)
                        return -errno;
                rt = open(runtime_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (rt < 0)
                        return -errno;
                s->run_fd = open_subdir(rt, DIR_RECORDS);
                if (s->run_fd < 0)
                        return s->run_fd;
                s->run_quar_fd = open_subdir(rt, DIR_QUARANTINE);
                if (s->run_quar_fd < 0)
                        return s->run_quar_fd;
                s->legacy_fd = openat(s->dir_fd, DIR_RUNTIME,
                                      O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                if (s->legacy_fd < 0 && errno != ENOENT)
                        return -errno;
        } else {
                s->run_fd = open_subdir(s->dir_fd, DIR_RUNTIME);
                if (s->run_fd < 0)
                        return s->run_fd;
        }
        s->quar_fd = open_subdir(s->dir_fd, DIR_QUARANTINE);
        if (s->quar_fd < 0)
                return s->quar_fd;
        if (fsync_counted(s->dir_fd) < 0)
                return -errno;
        read_boot_id(s->boot_id);
        *ret = TAKE_PTR(s);
        return 0;
}

static int record_file_name(const char *name, char out[VM_NAME_MAX + 8])
{
        if (!vm_name_is_valid(name))
                return -EINVAL;
        snprintf(out, VM_NAME_MAX + 8, "%s.json", name);
        return 0;
}

int store_save_definition(Store *s, const VmConfig *c)
{
        _cleanup_free_ char *json = NULL;
        char file[VM_NAME_MAX + 8];
        int r;

        if (vm_config_validate(c, 0, NULL) < 0 || vm_uuid_is_null(c->uuid))
                return -EINVAL;
        r = record_file_name(c->name, file);
        if (r < 0)
                return r;
        r = store_definition_to_json(c, &json);
        if (r < 0)
                return r;
        /* a transient VM's definition only serves recovery within this boot, like a runtime
         * record (see store.h) */
        return store_write_atomic(s->def_fd, file, json, strlen(json), c->persistent);
}

int store_save_runtime(Store *s, const StoreRuntime *rt)
{
        _cleanup_free_ char *json = NULL;
        char file[VM_NAME_MAX + 8];
        StoreRuntime stamped = *rt;
        int r;

        if (store_runtime_validate(rt, NULL) < 0)
                return -EINVAL;
        r = record_file_name(rt->name, file);
        if (r < 0)
                return r;
        memcpy(stamped.host_boot, s->boot_id, sizeof(stamped.host_boot));
        r = store_runtime_to_json(&stamped, &json);
        if (r < 0)
                return r;
        if (strlen(json) > STORE_FILE_MAX)
                return -E2BIG;
        return runtime_write(s, file, json, strlen(json));
}

static int delete_record(int dirfd, const char *name)
{
        char file[VM_NAME_MAX + 8];
        int r = record_file_name(name, file);

        if (r < 0)
                return r;
        if (unlinkat(dirfd, file, 0) < 0)
                return -errno;
        return 0;
}

/* The definition leaves its name at once (a rename to a ".tmp-" name, ~10 us), so the name is
 * free for a new VM and a restart no longer loads it; the unlink and the fsync of the
 * directory (~0.2-0.7 ms on this machine's ext4) run on the syncer thread, off the event loop.
 * A crash of the host before that fsync may bring the definition back: a VM that is defined
 * but not running, which DestroyVM's caller can destroy again. Nothing it held survives with
 * it (its runtime record names an earlier boot). */
int store_delete_definition(Store *s, const char *name)
{
        char file[VM_NAME_MAX + 8], aside[256];
        int r = record_file_name(name, file);

        if (r < 0)
                return r;
        snprintf(aside, sizeof(aside), TMP_PREFIX "%s-%ld-%u", file, (long)getpid(),
                 tmp_counter++);
        if (renameat2(s->def_fd, file, s->def_fd, aside, RENAME_NOREPLACE) < 0)
                return -errno;
        if (syncer_queue(s, aside) < 0) {
                /* no thread or no memory: do it here */
                (void)unlinkat(s->def_fd, aside, 0);
                if (fsync_counted(s->def_fd) < 0)
                        return -errno;
        }
        return 0;
}

int store_delete_runtime(Store *s, const char *name)
{
        char file[VM_NAME_MAX + 8], spare[VM_NAME_MAX + 16];
        int r = delete_record(s->run_fd, name);

        if (r == -EINVAL)
                return r;
        (void)record_file_name(name, file);
        snprintf(spare, sizeof(spare), TMP_PREFIX "%s", file);
        (void)unlinkat(s->run_fd, spare, 0);
        record_files_drop(s, file);
        return r;
}

/* Read a whole regular file of at most STORE_FILE_MAX bytes (NUL-terminated copy). */
static int read_record(int dirfd, const char *file, char **ret, size_t *ret_len,
                       const char **ret_reason)
{
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t len = 0;

        fd = openat(dirfd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0) {
                if (errno == ELOOP)
                        return reject(ret_reason, "record is a symlink");
                return -errno;
        }
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return reject(ret_reason, "record is not a regular file");
        if ((uint64_t)st.st_size > STORE_FILE_MAX)
                return reject(ret_reason, "record too large");
        buf = malloc((size_t)st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        while (len < (size_t)st.st_size) {
                ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        buf[len] = '\0';
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

static int push_quarantined(StoreLoad *l, const char *sub, const char *file, const char *why)
{
        StoreQuarantined *q = realloc(l->quarantined, (l->n_quarantined + 1) * sizeof(*q));
        char *f = NULL, *reason = strdup(why);

        if (q)
                l->quarantined = q;
        if (!q || !reason || asprintf(&f, "%s/%s", sub, file) < 0) {
                free(reason);
                return -ENOMEM;
        }
        l->quarantined[l->n_quarantined++] = (StoreQuarantined){ .file = f, .reason = reason };
        return 0;
}

/* Move dir/file to the quarantine directory to_fd as <sub>-<file>[.N] without replacing
 * anything there. */
static int quarantine(int to_fd, int dirfd, const char *sub, const char *file)
{
        char dst[512];

        for (unsigned i = 0; i < 1000; i++) {
                if (i == 0)
                        snprintf(dst, sizeof(dst), "%s-%s", sub, file);
                else
                        snprintf(dst, sizeof(dst), "%s-%s.%u", sub, file, i);
                if (renameat2(dirfd, file, to_fd, dst, RENAME_NOREPLACE) == 0) {
                        (void)fsync_counted(to_fd);
                        (void)fsync_counted(dirfd);
                        return 0;
                }
                if (errno != EEXIST)
                        return -errno;
        }
        return -EEXIST;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of dirfd's entries, without "." and "..". */
static int list_dir(int dirfd, char ***ret, size_t *ret_n)
{
        DIR *d;
        struct dirent *de;
        char **v = NULL;
        size_t n = 0;
        int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return -errno;
        }
        while ((de = readdir(d))) {
                char **nv;

                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                nv = realloc(v, (n + 1) * sizeof(*v));
                if (!nv || !(nv[n] = strdup(de->d_name))) {
                        v = nv ? nv : v;
                        for (size_t i = 0; i < n; i++)
                                free(v[i]);
                        free(v);
                        closedir(d);
                        return -ENOMEM;
                }
                v = nv;
                n++;
        }
        closedir(d);
        if (n > 0)
                qsort(v, n, sizeof(*v), cmp_str);
        *ret = v;
        *ret_n = n;
        return 0;
}

/* Parse one record into l (by kind); returns 0, -EBADMSG with a reason, or -errno. */
static int load_one(Store *s, StoreLoad *l, bool definitions, const char *file,
                    const char *buf, size_t len, const char **why)
{
        size_t flen = strlen(file);

        if (flen < 6 || strcmp(file + flen - 5, ".json") != 0)
                return reject(why, "unexpected file name");
        if (definitions) {
                VmConfig c, *v;
                int r = store_definition_from_json(buf, len, &c, why);

                if (r < 0)
                        return r;
                if (strlen(c.name) != flen - 5 || strncmp(c.name, file, flen - 5) != 0) {
                        vm_config_done(&c);
                        return reject(why, "record name differs from its file name");
                }
                v = realloc(l->definitions, (l->n_definitions + 1) * sizeof(*v));
                if (!v) {
                        vm_config_done(&c);
                        return -ENOMEM;
                }
                l->definitions = v;
                l->definitions[l->n_definitions++] = c;
        } else {
                StoreRuntime rt, *v;
                int r = store_runtime_from_json(buf, len, &rt, why);

                if (r < 0)
                        return r;
                if (strlen(rt.name) != flen - 5 || strncmp(rt.name, file, flen - 5) != 0) {
                        store_runtime_done(&rt);
                        return reject(why, "record name differs from its file name");
                }
                if (rt.host_boot[0] && s->boot_id[0] && strcmp(rt.host_boot, s->boot_id) != 0) {
                        /* the RM state it names (VMID, parcels) ended with that boot */
                        store_runtime_done(&rt);
                        return reject(why, "written in an earlier boot of the host");
                }
                v = realloc(l->runtimes, (l->n_runtimes + 1) * sizeof(*v));
                if (!v) {
                        store_runtime_done(&rt);
                        return -ENOMEM;
                }
                l->runtimes = v;
                l->runtimes[l->n_runtimes++] = rt;
        }
        return 0;
}

static int load_dir(Store *s, StoreLoad *l, bool definitions)
{
        int dirfd = definitions ? s->def_fd : s->run_fd;
        int to_fd = definitions || s->run_quar_fd < 0 ? s->quar_fd : s->run_quar_fd;
        const char *sub = definitions ? DIR_DEFINITIONS : DIR_RUNTIME;
        char **names = NULL;
        size_t n = 0;
        int r = list_dir(dirfd, &names, &n);

        for (size_t i = 0; r >= 0 && i < n; i++) {
                _cleanup_free_ char *buf = NULL;
                const char *why = NULL;
                size_t len = 0;

                if (strncmp(names[i], TMP_PREFIX, strlen(TMP_PREFIX)) == 0) {
                        /* an interrupted write: the record it was replacing is intact */
                        (void)unlinkat(dirfd, names[i], 0);
                        continue;
                }
                r = read_record(dirfd, names[i], &buf, &len, &why);
                if (r >= 0)
                        r = load_one(s, l, definitions, names[i], buf, len, &why);
                if (r == -EBADMSG) {
                        r = push_quarantined(l, sub, names[i], why ? why : "invalid record");
                        if (r >= 0)
                                (void)quarantine(to_fd, dirfd, sub, names[i]);
                } else if (r < 0 && r != -ENOMEM) {
                        /* unreadable: report and quarantine, never fatal */
                        r = push_quarantined(l, sub, names[i], strerror(-r));
                        if (r >= 0)
                                (void)quarantine(to_fd, dirfd, sub, names[i]);
                }
        }
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        return r;
}

/* Runtime records that an earlier gunyahd kept in <dir>/runtime move to the runtime
 * directory (a restart after an upgrade, VMs running): a rename, or a copy across file
 * systems (/run is tmpfs). A record whose name is taken there already, or that cannot be
 * moved, goes to the state directory's quarantine. Anything but "*.json" regular files and
 * interrupted writes is left where it is. */
static int migrate_legacy_runtime(Store *s, StoreLoad *l)
{
        char **names = NULL;
        size_t n = 0;
        int r;

        if (s->legacy_fd < 0)
                return 0;
        r = list_dir(s->legacy_fd, &names, &n);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                const char *f = names[i], *why = NULL;
                size_t flen = strlen(f);
                struct stat st;

                if (strncmp(f, TMP_PREFIX, strlen(TMP_PREFIX)) == 0) {
                        (void)unlinkat(s->legacy_fd, f, 0);
                        continue;
                }
                if (flen < 6 || strcmp(f + flen - 5, ".json") != 0 ||
                    fstatat(s->legacy_fd, f, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                        continue;
                if (renameat2(s->legacy_fd, f, s->run_fd, f, RENAME_NOREPLACE) == 0)
                        continue;
                int e = errno;
                if (e == EEXIST ||
                    (e == EXDEV && faccessat(s->run_fd, f, F_OK, AT_SYMLINK_NOFOLLOW) == 0))
                        why = "a record of the same name is in the runtime directory";
                else if (e == EXDEV) {
                        _cleanup_free_ char *buf = NULL;
                        size_t len = 0;
                        int k = read_record(s->legacy_fd, f, &buf, &len, &why);

                        if (k >= 0)
                                k = store_write_atomic(s->run_fd, f, buf, len, false);
                        if (k >= 0) {
                                (void)unlinkat(s->legacy_fd, f, 0);
                                continue;
                        }
                        if (k == -ENOMEM)
                                r = k;
                        else if (!why)
                                why = "cannot be copied to the runtime directory";
                } else
                        why = "cannot be moved to the runtime directory";
                if (r >= 0)
                        r = push_quarantined(l, DIR_RUNTIME, f, why);
                if (r >= 0)
                        (void)quarantine(s->quar_fd, s->legacy_fd, DIR_RUNTIME, f);
        }
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        if (r >= 0) {
                (void)unlinkat(s->dir_fd, DIR_RUNTIME, AT_REMOVEDIR); /* when empty */
                closep(&s->legacy_fd);
                s->legacy_fd = -1;
        }
        return r;
}

int store_load(Store *s, StoreLoad *ret)
{
        StoreLoad l = { 0 };
        int r;

        store_sync(s); /* no deletion in flight while the directory is read */
        records_forget(s); /* the load may remove spares or quarantine records */
        r = migrate_legacy_runtime(s, &l);
        if (r < 0) {
                store_load_done(&l);
                return r;
        }
        r = load_dir(s, &l, true);
        if (r >= 0)
                r = load_dir(s, &l, false);
        if (r < 0) {
                store_load_done(&l);
                return r;
        }
        *ret = l;
        return 0;
}
