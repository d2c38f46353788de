/* SPDX-License-Identifier: MIT */
/*
 * org.varlink.certification: the Varlink conformance interface, served only when the daemon
 * is started with its test-only option, so off-the-shelf clients (Debian's
 * varlink-go-certification -client) can check our framing, types, "more" and "oneway".
 *
 * Behaviour (facts from the public reference servers of varlink.org; no code taken): a client
 * calls Start, Test01 .. Test11 and End in this order with the id Start gave it; each call
 * carries exactly what the previous reply returned. A call out of order, with an unknown id,
 * or with other values fails with CertificationError (wants, got) or ClientIdError and ends
 * that client's run. Test10 needs "more" and streams ten replies; Test11 is "oneway".
 * Numbers compare by value (a float may arrive as 1 or 1.0). At most 64 runs are tracked;
 * the oldest is forgotten first.
 */
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "api-json.h"
#include "api-server-internal.h"
#include "api.h"
#include "macro.h"

#define CERT_CLIENTS_MAX 64u
#define CERT_IFACE API_INTERFACE_CERTIFICATION
#define CERT_PI "3.141592653589793"
#define CERT_MYTYPE                                                                            \
        "{\"object\":{\"method\":\"org.varlink.certification.Test09\",\"parameters\":"         \
        "{\"map\":{\"foo\":\"Foo\",\"bar\":\"Bar\"}}},\"enum\":\"two\",\"struct\":{\"first\":1," \
        "\"second\":\"2\"},\"array\":[\"one\",\"two\",\"three\"],\"dictionary\":{\"foo\":"    \
        "\"Foo\",\"bar\":\"Bar\"},\"stringset\":{\"one\":{},\"two\":{},\"three\":{}},"         \
        "\"interface\":{\"foo\":[null,{\"foo\":\"foo\",\"bar\":\"bar\"},null,{\"one\":\"foo\","  \
        "\"two\":\"bar\"}],\"anon\":{\"foo\":true,\"bar\":false}}}"

/* The steps in order: what each call must carry (client_id is added) and what it returns. */
typedef struct CertStep {
        const char *method;
        const char *wants; /* parameters besides client_id, as a JSON object body */
        const char *reply; /* NULL: Test10 / Test11 special cases */
} CertStep;

static const CertStep steps[] = {
        { "Start", NULL, NULL },
        { "Test01", "", "{\"bool\":true}" },
        { "Test02", ",\"bool\":true", "{\"int\":1}" },
        { "Test03", ",\"int\":1", "{\"float\":1.0}" },
        { "Test04", ",\"float\":1.0", "{\"string\":\"ping\"}" },
        { "Test05", ",\"string\":\"ping\"",
          "{\"bool\":false,\"int\":2,\"float\":" CERT_PI ",\"string\":\"a lot of string\"}" },
        { "Test06", ",\"bool\":false,\"int\":2,\"float\":" CERT_PI ",\"string\":\"a lot of string\"",
          "{\"struct\":{\"bool\":false,\"int\":2,\"float\":" CERT_PI
          ",\"string\":\"a lot of string\"}}" },
        { "Test07",
          ",\"struct\":{\"bool\":false,\"int\":2,\"float\":" CERT_PI ",\"string\":\"a lot of string\"}",
          "{\"map\":{\"foo\":\"Foo\",\"bar\":\"Bar\"}}" },
        { "Test08", ",\"map\":{\"foo\":\"Foo\",\"bar\":\"Bar\"}",
          "{\"set\":{\"one\":{},\"two\":{},\"three\":{}}}" },
        { "Test09", ",\"set\":{\"one\":{},\"two\":{},\"three\":{}}",
          "{\"mytype\":" CERT_MYTYPE "}" },
        { "Test10", ",\"mytype\":" CERT_MYTYPE, NULL },
        { "Test11",
          ",\"last_more_replies\":[\"Reply number 1\",\"Reply number 2\",\"Reply number 3\","
          "\"Reply number 4\",\"Reply number 5\",\"Reply number 6\",\"Reply number 7\","
          "\"Reply number 8\",\"Reply number 9\",\"Reply number 10\"]",
          NULL },
        { "End", "", "{\"all_ok\":true}" },
};

typedef struct CertClient {
        char id[33];
        size_t next; /* index into steps of the call expected next */
        uint64_t serial;
} CertClient;

typedef struct Cert {
        CertClient clients[CERT_CLIENTS_MAX];
        uint64_t serial;
} Cert;

static bool json_equal(struct json_object *a, struct json_object *b)
{
        enum json_type ta = json_object_get_type(a), tb = json_object_get_type(b);
        bool na = ta == json_type_int || ta == json_type_double;
        bool nb = tb == json_type_int || tb == json_type_double;
        if (na && nb) {
                if (ta == json_type_int && tb == json_type_int)
                        return json_object_get_int64(a) == json_object_get_int64(b);
                return json_object_get_double(a) == json_object_get_double(b);
        }
        if (ta != tb)
                return false;
        switch (ta) {
        case json_type_null:
                return true;
        case json_type_boolean:
                return json_object_get_boolean(a) == json_object_get_boolean(b);
        case json_type_string:
                return json_object_get_string_len(a) == json_object_get_string_len(b) &&
                       memcmp(json_object_get_string(a), json_object_get_string(b),
                              (size_t)json_object_get_string_len(a)) == 0;
        case json_type_array: {
                size_t n = json_object_array_length(a);
                if (n != json_object_array_length(b))
                        return false;
                for (size_t i = 0; i < n; i++)
                        if (!json_equal(json_object_array_get_idx(a, i),
                                        json_object_array_get_idx(b, i)))
                                return false;
                return true;
        }
        case json_type_object: {
                if (json_object_object_length(a) != json_object_object_length(b))
                        return false;
                json_object_object_foreach(a, key, va) {
                        struct json_object *vb;
                        if (!json_object_object_get_ex(b, key, &vb) || !json_equal(va, vb))
                                return false;
                }
                return true;
        }
        default:
                return false;
        }
}

static CertClient *cert_find(Cert *c, const char *id)
{
        for (size_t i = 0; i < CERT_CLIENTS_MAX; i++)
                if (c->clients[i].id[0] && strcmp(c->clients[i].id, id) == 0)
                        return &c->clients[i];
        return NULL;
}

static CertClient *cert_new_client(Cert *c)
{
        CertClient *slot = &c->clients[0];
        for (size_t i = 0; i < CERT_CLIENTS_MAX; i++) {
                if (!c->clients[i].id[0]) {
                        slot = &c->clients[i];
                        break;
                }
                if (c->clients[i].serial < slot->serial)
                        slot = &c->clients[i];
        }
        uint8_t rnd[16];
        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
                return NULL;
        for (size_t i = 0; i < sizeof(rnd); i++)
                snprintf(slot->id + 2 * i, 3, "%02x", rnd[i]);
        slot->next = 1;
        slot->serial = ++c->serial;
        return slot;
}

static struct json_object *parse_trusted(const char *text)
{
        return json_tokener_parse(text);
}

/* The message a step wants, as an object {method, parameters[, more|oneway]}. */
static struct json_object *cert_wants(const CertStep *st, const char *id)
{
        size_t n = strlen(st->wants) + 256;
        _cleanup_free_ char *text = malloc(n);
        if (!text)
                return NULL;
        snprintf(text, n, "{\"method\":\"" CERT_IFACE ".%s\",%s\"parameters\":{\"client_id\":\"%s\"%s}}",
                 st->method,
                 strcmp(st->method, "Test10") == 0   ? "\"more\":true,"
                 : strcmp(st->method, "Test11") == 0 ? "\"oneway\":true,"
                                                     : "",
                 id, st->wants);
        return parse_trusted(text);
}

static struct json_object *cert_got(ApiCall *call)
{
        struct json_object *got = json_object_new_object();
        if (!got)
                return NULL;
        api_json_add_string(got, "method", call->vc.method);
        if (call->vc.more)
                api_json_add_bool(got, "more", true);
        if (call->vc.oneway)
                api_json_add_bool(got, "oneway", true);
        api_json_add(got, "parameters", json_object_get(call->vc.parameters));
        return got;
}

static int cert_fail(ApiCall *call, struct json_object *wants, Cert *c, CertClient *cl)
{
        if (cl)
                *cl = (CertClient){};
        struct json_object *p = json_object_new_object();
        if (p) {
                api_json_add(p, "wants", wants ? wants : json_object_new_object());
                api_json_add(p, "got", cert_got(call));
        } else
                json_object_put(wants);
        return api_call_error(call, CERT_IFACE ".CertificationError", p);
}

static int cert_stream_test10(ApiCall *call)
{
        for (int i = 1; i <= 10; i++) {
                char s[32];
                snprintf(s, sizeof(s), "Reply number %d", i);
                struct json_object *o = json_object_new_object();
                if (!o)
                        return -ENOMEM;
                api_json_add_string(o, "string", s);
                int r = i < 10 ? api_call_notify(call, o) : api_call_reply(call, o);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Drop the nullable members of Test10's mytype when null: they may be sent as null or not
 * at all. */
static void strip_null_members(struct json_object *params)
{
        struct json_object *mytype, *v;
        if (!json_object_object_get_ex(params, "mytype", &mytype) ||
            !json_object_is_type(mytype, json_type_object))
                return;
        static const char *const keys[] = { "nullable", "nullable_array_struct" };
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                if (json_object_object_get_ex(mytype, keys[i], &v) && !v)
                        json_object_object_del(mytype, keys[i]);
}

static int cert_method(ApiCall *call, struct json_object *parameters, void *userdata)
{
        Cert *c = userdata;
        const char *member = call->vc.interface_end + 1;
        size_t step = 0;
        while (step < ELEMENTSOF(steps) && strcmp(steps[step].method, member) != 0)
                step++;
        if (step == ELEMENTSOF(steps))
                return -EOPNOTSUPP;
        const CertStep *st = &steps[step];

        if (step == 0) {
                if (json_object_object_length(parameters) != 0 || call->vc.more ||
                    call->vc.oneway)
                        return cert_fail(call, parse_trusted("{\"method\":\"" CERT_IFACE ".Start\"}"),
                                         c, NULL);
                CertClient *cl = cert_new_client(c);
                if (!cl)
                        return -EIO;
                struct json_object *o = json_object_new_object();
                if (!o)
                        return -ENOMEM;
                api_json_add_string(o, "client_id", cl->id);
                return api_call_reply(call, o);
        }

        struct json_object *idv;
        CertClient *cl = NULL;
        if (json_object_object_get_ex(parameters, "client_id", &idv) &&
            json_object_is_type(idv, json_type_string))
                cl = cert_find(c, json_object_get_string(idv));
        if (!cl)
                return api_call_error(call, CERT_IFACE ".ClientIdError", NULL);

        struct json_object *wants = cert_wants(st, cl->id);
        if (!wants)
                return -ENOMEM;
        if (cl->next != step)
                return cert_fail(call, wants, c, cl);
        if (step == 10)
                strip_null_members(parameters);
        struct json_object *want_params = NULL;
        (void)json_object_object_get_ex(wants, "parameters", &want_params);
        bool want_more = step == 10, want_oneway = step == 11;
        if (!json_equal(want_params, parameters) || call->vc.more != want_more ||
            call->vc.oneway != want_oneway)
                return cert_fail(call, wants, c, cl);
        json_object_put(wants);

        cl->next = step + 1;
        if (step == ELEMENTSOF(steps) - 1)
                *cl = (CertClient){}; /* End: the run is over */
        if (step == 10)
                return cert_stream_test10(call);
        if (step == 11)
                return api_call_reply(call, NULL); /* oneway: nothing is sent */
        return api_call_reply(call, parse_trusted(st->reply));
}

static const ApiMethod cert_methods[] = {
        { "Start", cert_method, 0, NULL },
        { "Test01", cert_method, 0, NULL },
        { "Test02", cert_method, 0, NULL },
        { "Test03", cert_method, 0, NULL },
        { "Test04", cert_method, 0, NULL },
        { "Test05", cert_method, 0, NULL },
        { "Test06", cert_method, 0, NULL },
        { "Test07", cert_method, 0, NULL },
        { "Test08", cert_method, 0, NULL },
        { "Test09", cert_method, 0, NULL },
        { "Test10", cert_method, API_METHOD_STREAMS | API_METHOD_REQUIRES_MORE, NULL },
        { "Test11", cert_method, 0, NULL },
        { "End", cert_method, 0, NULL },
        { .name = NULL },
};

static const ApiInterface cert_interface = {
        .name = CERT_IFACE,
        .description = api_idl_certification,
        .methods = cert_methods,
};

int api_certification_register(ApiServer *s)
{
        Cert *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        int r = api_server_add_interface_full(s, &cert_interface, c, free);
        if (r < 0)
                free(c);
        return r;
}
