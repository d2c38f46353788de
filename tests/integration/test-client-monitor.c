/* SPDX-License-Identifier: MIT */
/*
 * Against the real gunyahd and gunyah-rm-sim:
 *  - Monitor: snapshot first, then events with cursors; a client that disconnects and
 *    resumes with its cursor sees exactly the events a client that stayed connected saw,
 *    with consecutive sequence numbers (no event lost, none repeated);
 *  - a hundred clients at once: all connected together, each making reads, a create and a
 *    destroy of its own VM, every call answered correctly.
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test-client-harness.h"
#include "test.h"


#define MAX_EVENTS 256

typedef struct Ev {
        char cursor[64];
        char kind[32];
        char vm[64];
        uint64_t seq;
} Ev;

static uint64_t cursor_seq(const char *cursor)
{
        const char *colon = strchr(cursor, ':');
        ASSERT_TRUE(colon && colon - cursor == 16);
        char *end;
        unsigned long long v = strtoull(colon + 1, &end, 10);
        ASSERT_TRUE(*end == 0);
        return v;
}

/* Read the next Monitor reply that carries an event. */
static void next_event(gunyahctl *c, Ev *ev)
{
        for (;;) {
                char *json = NULL;
                int r = gunyahctl_monitor_next(c, 60000000, &json);
                if (r != 1)
                        TEST_FAIL_("monitor_next: %d %s", r, gunyahctl_error_name(c) ?: "");
                _json_ struct json_object *o = h_json(json);
                free(json);
                const char *cursor = h_jstr(o, "cursor");
                ASSERT_TRUE(cursor);
                ASSERT_STREQ(cursor, gunyahctl_monitor_cursor(c));
                if (!h_jget(o, "event"))
                        continue;
                snprintf(ev->cursor, sizeof(ev->cursor), "%s", cursor);
                snprintf(ev->kind, sizeof(ev->kind), "%s", h_jstr(o, "event.kind") ?: "");
                snprintf(ev->vm, sizeof(ev->vm), "%s", h_jstr(o, "event.vm") ?: "");
                ASSERT_STREQ(h_jstr(o, "event.cursor"), cursor);
                ASSERT_TRUE(h_jstr(o, "event.cause.kind") != NULL);
                ev->seq = cursor_seq(cursor);
                return;
        }
}

/* Events until (and including) kind for vm. Returns the count. */
static size_t events_until(gunyahctl *c, const char *kind, const char *vm, Ev *out)
{
        for (size_t n = 0; n < MAX_EVENTS; n++) {
                next_event(c, &out[n]);
                if (strcmp(out[n].kind, kind) == 0 && strcmp(out[n].vm, vm) == 0)
                        return n + 1;
        }
        TEST_FAIL_("no %s event for %s within %d events", kind, vm, MAX_EVENTS);
}

static void create_vm(Harness *h, gunyahctl *c, const char *name)
{
        char path[256];
        h_image_in_dir(h, "Image", 2u << 20, path, sizeof(path));
        struct gunyahctl_vm_spec spec;
        gunyahctl_vm_spec_init(&spec);
        spec.name = name;
        spec.memory_bytes = 32u << 20;
        spec.kernel_path = "Image";
        ASSERT_OK(gunyahctl_create_vm(c, &spec, NULL));
}

TEST(monitor_snapshot_and_resume)
{
        Harness h;
        h_start(&h, NULL);
        gunyahctl *admin = h_client(&h);
        create_vm(&h, admin, "before");

        /* The witness stays connected throughout. */
        gunyahctl *witness = h_client(&h);
        ASSERT_OK(gunyahctl_monitor_begin(witness, NULL));
        char *json = NULL;
        ASSERT_EQ(gunyahctl_monitor_next(witness, 60000000, &json), 1);
        {
                _json_ struct json_object *o = h_json(json);
                struct json_object *snap = h_jget(o, "snapshot");
                ASSERT_TRUE(snap && json_object_is_type(snap, json_type_array));
                ASSERT_EQ(json_object_array_length(snap), 1);
                ASSERT_STREQ(h_jstr(o, "snapshot.0.name"), "before");
                ASSERT_TRUE(h_jstr(o, "cursor") != NULL);
        }
        free(json);

        gunyahctl *roamer = h_client(&h);
        ASSERT_OK(gunyahctl_monitor_begin(roamer, NULL));
        ASSERT_EQ(gunyahctl_monitor_next(roamer, 60000000, &json), 1);
        free(json);

        create_vm(&h, admin, "m1");
        static Ev seen_w[MAX_EVENTS], seen_r[MAX_EVENTS];
        size_t nw = events_until(witness, "vm-created", "m1", seen_w);
        size_t nr = events_until(roamer, "vm-created", "m1", seen_r);
        ASSERT_EQ(nw, nr);
        ASSERT_STREQ(seen_w[nw - 1].cursor, seen_r[nr - 1].cursor);

        /* The roamer goes away; life goes on. */
        char cursor[64];
        snprintf(cursor, sizeof(cursor), "%s", gunyahctl_monitor_cursor(roamer));
        gunyahctl_disconnect(roamer);
        ASSERT_OK(gunyahctl_start_vm(admin, "m1", NULL, NULL, NULL));
        ASSERT_OK(gunyahctl_stop_vm(admin, "m1", true, 0, NULL));
        ASSERT_OK(gunyahctl_destroy_vm(admin, "m1", NULL));

        /* A new client resumes from the cursor and sees what the witness saw. */
        gunyahctl *back = h_client(&h);
        ASSERT_OK(gunyahctl_monitor_begin(back, cursor));
        nw = events_until(witness, "vm-destroyed", "m1", seen_w);
        nr = events_until(back, "vm-destroyed", "m1", seen_r);
        ASSERT_TRUE(nw >= 3); /* at least start, stop and destroy left a trace */
        ASSERT_EQ(nw, nr);
        uint64_t prev = cursor_seq(cursor);
        for (size_t i = 0; i < nw; i++) {
                ASSERT_STREQ(seen_w[i].cursor, seen_r[i].cursor);
                ASSERT_STREQ(seen_w[i].kind, seen_r[i].kind);
                ASSERT_EQ(seen_r[i].seq, prev + 1);
                prev = seen_r[i].seq;
        }
        /* The resumed stream goes on live. */
        create_vm(&h, admin, "after");
        nr = events_until(back, "vm-created", "after", seen_r);
        ASSERT_EQ(seen_r[0].seq, prev + 1);

        gunyahctl_disconnect(back);
        gunyahctl_disconnect(witness);
        gunyahctl_disconnect(admin);
        h_stop(&h);
}

/* ---- a hundred clients ---- */

#define N_CLIENTS 100

typedef struct Worker {
        Harness *h;
        pthread_barrier_t *barrier;
        unsigned index;
        int failed; /* the step that failed, 0 = none */
} Worker;

static void *worker_main(void *arg)
{
        Worker *w = arg;
        gunyahctl *c = NULL;
        char name[32], *reply = NULL;
        snprintf(name, sizeof(name), "c%03u", w->index);
        if (gunyahctl_connect(&c, w->h->api) < 0)
                w->failed = 1;
        /* Everyone is connected before anyone calls. */
        pthread_barrier_wait(w->barrier);
        if (!w->failed && gunyahctl_get_daemon_info(c, &reply) < 0)
                w->failed = 2;
        free(reply);
        reply = NULL;
        struct gunyahctl_vm_spec spec;
        gunyahctl_vm_spec_init(&spec);
        spec.name = name;
        spec.memory_bytes = 16u << 20;
        spec.kernel_path = "Image";
        if (!w->failed && gunyahctl_create_vm(c, &spec, NULL) < 0)
                w->failed = 3;
        if (!w->failed && (gunyahctl_describe_vm(c, name, &reply) < 0 || !strstr(reply, name)))
                w->failed = 4;
        free(reply);
        reply = NULL;
        if (!w->failed && (gunyahctl_describe_vm(c, "ghost", NULL) != -ENOENT ||
                           strcmp(gunyahctl_error_name(c) ?: "", "io.gunyah.Manager.NoSuchVM")))
                w->failed = 5;
        if (!w->failed && gunyahctl_list_vms(c, NULL) < 0)
                w->failed = 6;
        /* The main thread lists every VM between these two. */
        pthread_barrier_wait(w->barrier);
        pthread_barrier_wait(w->barrier);
        if (!w->failed && gunyahctl_destroy_vm(c, name, NULL) < 0)
                w->failed = 7;
        gunyahctl_disconnect(c);
        return NULL;
}

TEST(hundred_clients)
{
        Harness h;
        h_start(&h, NULL);
        char path[256];
        h_image_in_dir(&h, "Image", 1u << 20, path, sizeof(path));
        pthread_barrier_t barrier;
        ASSERT_EQ(pthread_barrier_init(&barrier, NULL, N_CLIENTS + 1), 0);
        static Worker workers[N_CLIENTS];
        pthread_t threads[N_CLIENTS];
        for (unsigned i = 0; i < N_CLIENTS; i++) {
                workers[i] = (Worker){ .h = &h, .barrier = &barrier, .index = i };
                ASSERT_EQ(pthread_create(&threads[i], NULL, worker_main, &workers[i]), 0);
        }
        pthread_barrier_wait(&barrier); /* all connected */
        pthread_barrier_wait(&barrier); /* all created */
        gunyahctl *c = h_client(&h);
        char *reply = NULL;
        ASSERT_OK(gunyahctl_list_vms(c, &reply));
        {
                _json_ struct json_object *o = h_json(reply);
                size_t ok = 0;
                for (unsigned i = 0; i < N_CLIENTS; i++)
                        ok += !workers[i].failed;
                ASSERT_EQ(json_object_array_length(h_jget(o, "vms")), ok);
        }
        free(reply);
        pthread_barrier_wait(&barrier); /* go on destroying */
        for (unsigned i = 0; i < N_CLIENTS; i++)
                ASSERT_EQ(pthread_join(threads[i], NULL), 0);
        for (unsigned i = 0; i < N_CLIENTS; i++)
                if (workers[i].failed)
                        TEST_FAIL_("client %u failed at step %d", i, workers[i].failed);
        ASSERT_OK(gunyahctl_list_vms(c, &reply));
        ASSERT_STREQ(reply, "{\"vms\":[]}");
        free(reply);
        gunyahctl_disconnect(c);
        pthread_barrier_destroy(&barrier);
        h_stop(&h);
}

TEST_MAIN()
