/* SPDX-License-Identifier: MIT */
/*
 * The record formats of the store (store.h): definitions and runtime records to and from
 * JSON, and the full check of a runtime record. Pure: no files, no state, the fuzz targets'
 * entry points. Parsing is strict: exact types, no unknown fields, bounded sizes and
 * nesting, integers range-checked, so a record that loads is one the daemon could have
 * written.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "json-out.h"
#include "macro.h"
#include "store-internal.h"
#include "store.h"

#define STORE_JSON_DEPTH 8

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put);

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
static void out_str(JsonOut *o, const char *s)
{
        json_out_string(o, s, strlen(s), true);
}

/* An extent list, compact: one entry per run, [ipa, size] for a single extent and
 * [ipa, size, count, stride] for count >= 2 extents of the same size, stride apart. */
static void out_extents(JsonOut *o, const PoolExtent *e, size_t n)
{
        json_out_puts(o, "[");
        for (size_t i = 0; i < n && !o->oom;) {
                uint64_t stride;
                size_t count = run_length(e + i, n - i, &stride);

                json_out_puts(o, "[");
                json_out_i64(o, (int64_t)e[i].ipa);
                json_out_puts(o, ",");
                json_out_i64(o, (int64_t)e[i].size);
                if (count > 1) {
                        json_out_puts(o, ",");
                        json_out_i64(o, (int64_t)count);
                        json_out_puts(o, ",");
                        json_out_i64(o, (int64_t)stride);
                }
                json_out_puts(o, "]");
                i += count;
                if (i < n)
                        json_out_puts(o, ",");
        }
        json_out_puts(o, "]");
}

int store_runtime_to_json(const StoreRuntime *rt, char **ret)
{
        const char *boot = store_boot_to_string(rt->boot);
        JsonOut o = { 0 };

        if (!boot)
                return -EINVAL;
        json_out_puts(&o, "{\"version\":");
        json_out_i64(&o, STORE_RUNTIME_VERSION);
        json_out_puts(&o, ",\"kind\":\"runtime\",\"name\":");
        out_str(&o, rt->name ? rt->name : "");
        json_out_puts(&o, ",\"vmid\":");
        json_out_i64(&o, rt->vmid);
        json_out_puts(&o, ",\"rm_status\":");
        json_out_i64(&o, rt->rm_status);
        json_out_puts(&o, ",\"boot\":");
        out_str(&o, boot);
        if (rt->host_boot[0]) {
                json_out_puts(&o, ",\"host_boot\":");
                out_str(&o, rt->host_boot);
        }
        json_out_puts(&o, ",\"parcels\":[");
        for (size_t i = 0; i < rt->n_parcels && !o.oom; i++) {
                const StoreParcel *p = &rt->parcels[i];

                json_out_puts(&o, "{\"handle\":");
                json_out_i64(&o, p->handle);
                json_out_puts(&o, ",\"label\":");
                json_out_i64(&o, p->label);
                json_out_puts(&o, ",\"guest_offset\":");
                json_out_i64(&o, (int64_t)p->guest_offset);
                if (p->accepted)
                        json_out_puts(&o, ",\"accepted\":true");
                else
                        json_out_puts(&o, ",\"accepted\":false");
                if (p->pending)
                        json_out_puts(&o, ",\"pending\":true");
                json_out_puts(&o, ",\"sgl\":");
                out_extents(&o, p->sgl, p->n_sgl);
                json_out_puts(&o, "}");
                if (i + 1 < rt->n_parcels)
                        json_out_puts(&o, ",");
        }
        json_out_puts(&o, "],\"ranges\":");
        out_extents(&o, rt->ranges, rt->n_ranges);
        json_out_puts(&o, "}");
        return json_out_finish(&o, ret, NULL);
}

/* ---- parsing ---- */

typedef struct Field {
        const char *key;
        json_type type;
        bool optional;
} Field;

/* Parse exactly len bytes as one JSON object (trailing whitespace allowed). */
static int parse_object(const char *buf, size_t len, json_object **ret, const char **ret_reason)
{
        json_tokener *tok;
        json_object *o;
        size_t used;

        if (len > STORE_FILE_MAX || len > INT32_MAX)
                return store_reject(ret_reason, "record too large");
        if (memchr(buf, '\0', len))
                return store_reject(ret_reason, "record contains a NUL byte");
        tok = json_tokener_new_ex(STORE_JSON_DEPTH);
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        o = json_tokener_parse_ex(tok, buf, (int)len);
        if (!o || json_tokener_get_error(tok) != json_tokener_success) {
                json_object_put(o);
                json_tokener_free(tok);
                return store_reject(ret_reason, "not valid JSON");
        }
        used = json_tokener_get_parse_end(tok);
        json_tokener_free(tok);
        for (; used < len; used++)
                if (!strchr(" \t\r\n", buf[used])) {
                        json_object_put(o);
                        return store_reject(ret_reason, "trailing data after the JSON object");
                }
        if (!json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return store_reject(ret_reason, "record is not a JSON object");
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
                        return store_reject(ret_reason, "unknown field");
                if (!json_object_is_type(val, fields[i].type))
                        return store_reject(ret_reason, "field has the wrong JSON type");
        }
        for (size_t i = 0; i < n; i++)
                if (!fields[i].optional && !json_object_object_get_ex(o, fields[i].key, NULL))
                        return store_reject(ret_reason, "required field missing");
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
                return store_reject(ret_reason, "unsupported record version");
        if (!get_str(o, "kind") || strcmp(get_str(o, "kind"), kind) != 0)
                return store_reject(ret_reason, "wrong record kind");
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
                return store_reject(ret_reason, "uuid is malformed or null");
        if (get_u64(o, "vcpus", VM_VCPUS_MAX, &v) < 0)
                return store_reject(ret_reason, "vcpus out of range");
        c.vcpus = (uint32_t)v;
        if (get_u64(o, "memory_size", VM_MEMORY_MAX, &c.memory_size) < 0)
                return store_reject(ret_reason, "memory_size out of range");
        if (get_u64(o, "memory_base", VM_IPA_LIMIT, &c.memory_base) < 0)
                return store_reject(ret_reason, "memory_base out of range");
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
                return store_reject(ret_reason, why);
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
                return store_reject(ret_reason, "extent list is not an array");
        n_entries = json_object_array_length(a);
        if (n_entries > STORE_EXTENTS_MAX)
                return store_reject(ret_reason, "too many extents");
        /* Pass 1: shape and ranges of every entry, and the number of extents. */
        for (size_t i = 0; i < n_entries; i++) {
                json_object *entry = json_object_array_get_idx(a, i);
                size_t len = json_object_is_type(entry, json_type_array)
                                 ? json_object_array_length(entry)
                                 : 0;
                uint64_t ipa, size, count = 1, stride = 0;

                if (len != 2 && !(runs && len == 4))
                        return store_reject(ret_reason, runs ? "extent is not an [ipa, size] pair or "
                                                         "an [ipa, size, count, stride] run"
                                                       : "extent is not an [ipa, size] pair");
                if (entry_u64(entry, 0, POOL_IPA_LIMIT, &ipa) < 0 ||
                    entry_u64(entry, 1, POOL_IPA_LIMIT, &size) < 0)
                        return store_reject(ret_reason, "extent value out of range");
                if (len == 4) {
                        if (entry_u64(entry, 2, STORE_EXTENTS_MAX, &count) < 0 || count < 2)
                                return store_reject(ret_reason, "run count out of range");
                        if (entry_u64(entry, 3, POOL_IPA_LIMIT, &stride) < 0 || stride < size ||
                            stride == 0 || !IS_ALIGNED(stride, POOL_GRANULE))
                                return store_reject(ret_reason, "run stride out of range");
                        /* the last extent starts below the limit (its end: validate) */
                        if ((count - 1) > (POOL_IPA_LIMIT - ipa) / stride)
                                return store_reject(ret_reason, "run extends beyond the IPA limit");
                }
                if (count > STORE_EXTENTS_MAX - total)
                        return store_reject(ret_reason, "too many extents");
                total += count;
        }
        if (total > *budget)
                return store_reject(ret_reason, "too many extents in the record");
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
                return store_reject(ret_reason, "parcel is not an object");
        r = check_fields(po, fields, ELEMENTSOF(fields), ret_reason);
        if (r < 0)
                return r;
        if (get_u64(po, "handle", UINT32_MAX, &v) < 0)
                return store_reject(ret_reason, "parcel handle out of range");
        p->handle = (uint32_t)v;
        if (get_u64(po, "label", UINT32_MAX, &v) < 0)
                return store_reject(ret_reason, "parcel label out of range");
        p->label = (uint32_t)v;
        if (get_u64(po, "guest_offset", VM_IPA_LIMIT, &p->guest_offset) < 0)
                return store_reject(ret_reason, "parcel guest_offset out of range");
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
                return store_reject(ret_reason, "vmid out of range");
        rt.vmid = (uint16_t)v;
        if (get_u64(o, "rm_status", UINT8_MAX, &v) < 0)
                return store_reject(ret_reason, "rm_status out of range");
        rt.rm_status = (uint8_t)v;
        rt.boot = store_boot_from_string(get_str(o, "boot"));
        if (rt.boot < 0)
                return store_reject(ret_reason, "unknown boot convention");
        host_boot = get_str(o, "host_boot");
        if (host_boot) {
                json_object *hb = json_object_object_get(o, "host_boot");

                if (json_object_get_string_len(hb) != STORE_BOOT_ID_LEN ||
                    !store_boot_id_is_valid(host_boot))
                        return store_reject(ret_reason, "host_boot is not a boot id");
                memcpy(rt.host_boot, host_boot, STORE_BOOT_ID_LEN + 1);
        }
        parcels = json_object_object_get(o, "parcels");
        if (json_object_array_length(parcels) > STORE_PARCELS_MAX)
                return store_reject(ret_reason, "too many parcels");
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
                return store_reject(ret_reason, "invalid VM name");
        /* VMID 0 is the hypervisor, 3 the host, 0xFF the RM, 0xFFFE/0xFFFF are internal */
        if (rt->vmid == 0 || rt->vmid == 3 || rt->vmid == 0xFF || rt->vmid >= 0xFFFE)
                return store_reject(ret_reason, "vmid is not a guest VMID");
        if (!store_boot_to_string(rt->boot))
                return store_reject(ret_reason, "unknown boot convention");
        if (rt->n_parcels > STORE_PARCELS_MAX || rt->n_ranges > STORE_EXTENTS_MAX)
                return store_reject(ret_reason, "too many parcels or ranges");
        for (size_t i = 0; i < rt->n_parcels; i++) {
                if (rt->parcels[i].n_sgl > STORE_EXTENTS_TOTAL_MAX - total)
                        return store_reject(ret_reason, "too many extents in the record");
                total += rt->parcels[i].n_sgl;
        }
        for (size_t i = 0; i < rt->n_ranges; i++) {
                if (!extent_ok(&rt->ranges[i]))
                        return store_reject(ret_reason, "pool range misaligned or out of range");
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
                        return store_reject(ret_reason, "pool ranges overlap");
        for (size_t i = 0; i < rt->n_parcels; i++) {
                const StoreParcel *p = &rt->parcels[i];
                size_t hint = 0;

                if ((p->handle == UINT32_MAX) != p->pending)
                        return store_reject(ret_reason, p->pending ? "pending parcel with a handle"
                                                             : "invalid parcel handle");
                for (size_t j = 0; j < i && !p->pending; j++)
                        if (rt->parcels[j].handle == p->handle)
                                return store_reject(ret_reason, "duplicate parcel handle");
                if (p->n_sgl == 0 || p->n_sgl > STORE_EXTENTS_MAX)
                        return store_reject(ret_reason, "parcel SGL empty or too long");
                if (p->guest_offset >= VM_IPA_LIMIT)
                        return store_reject(ret_reason, "parcel guest_offset out of range");
                for (size_t k = 0; k < p->n_sgl; k++) {
                        if (!extent_ok(&p->sgl[k]))
                                return store_reject(ret_reason, "parcel SGL entry misaligned");
                        if (!covered(sorted, rt->n_ranges, &p->sgl[k], &hint))
                                return store_reject(ret_reason, "parcel SGL outside the VM's pool ranges");
                }
        }
        return 0;
}
