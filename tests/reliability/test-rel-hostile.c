/* SPDX-License-Identifier: MIT */
/*
 * Hostile clients against the real gunyahd (run as root; the unprivileged peer is a forked
 * child that drops to nobody before it connects).
 *
 *  1. Authorization, table-driven from the IDL: the method list and each method's
 *     parameters come from io.gunyah.Manager's GetInterfaceDescription (checked equal to
 *     protocol/io.gunyah.Manager.varlink when the source dir is known). Every method whose
 *     verb changes state (Create/Start/Stop/Destroy/...) must answer PermissionDenied to
 *     nobody, every read verb must not; a verb in neither list fails the test, so a new
 *     method cannot slip by unclassified. A victim VM must be untouched afterwards.
 *  2. Image paths: kernel/initrd escaping --image-dir by "..", symlinks, absolute paths and
 *     /proc are refused (at CreateVM, or at StartVM with InvalidImage before any RM call).
 *  3. Malformed input: invalid UTF-8, NUL inside strings (escaped), numbers out of range or
 *     of the wrong type are answered with org.varlink.service.InvalidParameter naming the
 *     parameter; a message that cannot be a call at all (not JSON, a raw NUL inside a
 *     string, invalid UTF-8, too deeply nested, over the size limit) gets InvalidParameter
 *     naming "message" and then the close (api-server.h: the stream cannot be trusted past
 *     it; a 2 MiB message may find the connection closed while it is still being written).
 *     The daemon stays alive, other clients are served and no VM is created by any of it.
 *  4. JSONTestSuite: every test_parsing file sent to gunyahd as one message.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "rel-harness.h"

#define INVALID_PARAMETER "org.varlink.service.InvalidParameter"
#define PERMISSION_DENIED "org.varlink.service.PermissionDenied"
#define NOBODY 65534

static unsigned n_checks;

static const char *const write_verbs[] = { "Create", "Start", "Stop", "Destroy", "Delete", "Set",
                                           "Update", "Reset", "Kill", "Pause", "Resume", "Attach",
                                           "Detach", "Restart", "Shutdown" };
static const char *const read_verbs[] = { "List", "Describe", "Get", "Monitor" };

static bool has_prefix(const char *s, const char *const *v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (strncmp(s, v[i], strlen(v[i])) == 0)
                        return true;
        return false;
}

typedef struct IdlMethod {
        char name[64];
        char params[512]; /* JSON object with a value for every required parameter */
} IdlMethod;

/* Parse "method Name(a: string, b: ?int, ...)" entries (parameters may span lines). */
static size_t parse_idl(const char *idl, IdlMethod *out, size_t max)
{
        size_t n = 0;
        for (const char *p = idl; (p = strstr(p, "\nmethod ")) && n < max; p++) {
                const char *name = p + strlen("\nmethod "), *paren = strchr(name, '(');
                if (!paren)
                        break;
                IdlMethod *m = &out[n++];
                snprintf(m->name, sizeof(m->name), "%.*s", (int)(paren - name), name);
                const char *end = strchr(paren, ')');
                struct json_object *o = json_object_new_object();
                for (const char *q = paren + 1; q && q < end;) {
                        while (q < end && (*q == ' ' || *q == '\n' || *q == ','))
                                q++;
                        if (*q == '#') { /* comment line */
                                q = strchr(q, '\n');
                                continue;
                        }
                        const char *colon = memchr(q, ':', (size_t)(end - q));
                        if (!colon)
                                break;
                        char key[64], type[32] = "";
                        snprintf(key, sizeof(key), "%.*s", (int)(colon - q), q);
                        sscanf(colon + 1, " %31[?a-z[]]", type);
                        if (type[0] != '?') {
                                if (strcmp(type, "string") == 0)
                                        json_object_object_add(o, key, json_object_new_string("victim"));
                                else if (strcmp(type, "int") == 0)
                                        json_object_object_add(o, key, json_object_new_int64(64ll << 20));
                                else if (strcmp(type, "bool") == 0)
                                        json_object_object_add(o, key, json_object_new_boolean(false));
                        }
                        q = strpbrk(colon, ",\n");
                        if (!q || q > end)
                                break;
                }
                snprintf(m->params, sizeof(m->params), "%s",
                         json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
                json_object_put(o);
        }
        return n;
}

static char *interface_description(RelStack *s)
{
        struct json_object *r = NULL, *d;
        int k = rel_call_once(s->api_path, "org.varlink.service.GetInterfaceDescription",
                              "{\"interface\":\"io.gunyah.Manager\"}", REL_CALL_TIMEOUT_MS, &r, NULL);
        REL_ASSERT(k == 0 && json_object_object_get_ex(r, "description", &d),
                   "GetInterfaceDescription: %s", strerror(-k));
        char *text = strdup(json_object_get_string(d));
        json_object_put(r);
        const char *src = getenv("GUNYAH_SOURCE_DIR");
        if (src && *src) {
                char path[512];
                snprintf(path, sizeof(path), "%s/protocol/io.gunyah.Manager.varlink", src);
                FILE *f = fopen(path, "re");
                REL_ASSERT(f, "open %s", path);
                static char file[65536];
                size_t len = fread(file, 1, sizeof(file) - 1, f);
                fclose(f);
                file[len] = 0;
                REL_ASSERT(strcmp(file, text) == 0 || (len && strncmp(file, text, len - 1) == 0),
                           "the served IDL differs from %s", path);
        }
        return text;
}

/* In a child running as nobody: call method, write the error name (or "ok") to fd. */
static void call_as_nobody(RelStack *s, const IdlMethod *m, char *result, size_t n)
{
        int pfd[2];
        REL_ASSERT(pipe(pfd) == 0, "pipe");
        pid_t pid = fork();
        REL_ASSERT(pid >= 0, "fork");
        if (pid == 0) {
                close(pfd[0]);
                if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
                    setresuid(NOBODY, NOBODY, NOBODY) < 0)
                        _exit(3);
                RelConn *c = NULL;
                char out[256] = "connect failed";
                if (rel_conn_open(s->api_path, &c) == 0) {
                        char method[128], *err = NULL;
                        struct json_object *p = json_tokener_parse(m->params);
                        snprintf(method, sizeof(method), "io.gunyah.Manager.%.63s", m->name);
                        bool more = strcmp(m->name, "Monitor") == 0;
                        int r;
                        if (more) { /* the first reply of a stream is enough */
                                struct json_object *msg = NULL, *e;
                                r = rel_conn_send(c, method, p, true);
                                if (r == 0)
                                        r = rel_conn_recv(c, REL_CALL_TIMEOUT_MS, &msg);
                                if (r == 0 && json_object_object_get_ex(msg, "error", &e))
                                        snprintf(out, sizeof(out), "%s", json_object_get_string(e));
                                else
                                        snprintf(out, sizeof(out), r == 0 ? "ok" : "no answer: %s",
                                                 strerror(-r));
                                json_object_put(msg);
                        } else {
                                r = rel_call(c, method, p, false, REL_CALL_TIMEOUT_MS, NULL, &err);
                                snprintf(out, sizeof(out), "%s", r == 0 ? "ok" : err ? err : strerror(-r));
                        }
                        free(err);
                        json_object_put(p);
                        rel_conn_free(c);
                }
                (void)!write(pfd[1], out, strlen(out));
                _exit(0);
        }
        close(pfd[1]);
        ssize_t len = read(pfd[0], result, n - 1);
        result[len > 0 ? len : 0] = 0;
        close(pfd[0]);
        int status;
        waitpid(pid, &status, 0);
        REL_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "nobody child failed (%d)", status);
}

static void test_authorization(RelStack *s)
{
        char *idl = interface_description(s);
        IdlMethod methods[64];
        size_t n = parse_idl(idl, methods, 64);
        free(idl);
        REL_ASSERT(n >= 8, "only %zu methods parsed from the IDL", n);
        /* a victim VM, running, owned by root */
        char *err = NULL;
        REL_ASSERT(rel_create_vm(s, "victim", 64ull << 20, false, false, &err) == 0, "create victim");
        REL_ASSERT(rel_api(s, "StartVM", "{\"name\":\"victim\"}", REL_CALL_TIMEOUT_MS, NULL, &err) == 0,
                   "start victim: %s", err);
        int vmid = rel_vm_vmid(s, "victim");
        /* the socket must be reachable by nobody (as a socket unit with SocketMode=0666 makes
         * it); the refusal under test is the daemon's, not the file system's */
        REL_ASSERT(chmod(s->dir, 0755) == 0 && chmod(s->api_path, 0666) == 0, "chmod");
        printf("authorization (uid %d), %zu methods from the IDL:\n", NOBODY, n);
        for (size_t i = 0; i < n; i++) {
                char result[256];
                bool w = has_prefix(methods[i].name, write_verbs, sizeof(write_verbs) / sizeof(*write_verbs));
                bool r = has_prefix(methods[i].name, read_verbs, sizeof(read_verbs) / sizeof(*read_verbs));
                REL_ASSERT(w || r, "method %s is in neither verb table: classify it", methods[i].name);
                call_as_nobody(s, &methods[i], result, sizeof(result));
                printf("  %-16s %-9s %s -> %s\n", methods[i].name, w ? "changes" : "reads",
                       methods[i].params, result);
                if (w)
                        REL_ASSERT(strcmp(result, PERMISSION_DENIED) == 0,
                                   "%s as nobody: %s, expected PermissionDenied", methods[i].name, result);
                else
                        REL_ASSERT(strcmp(result, PERMISSION_DENIED) != 0 &&
                                   strncmp(result, "no answer", 9) != 0 && strcmp(result, "connect failed") != 0,
                                   "%s as nobody: %s", methods[i].name, result);
                n_checks++;
        }
        char *st = rel_vm_state(s, "victim");
        REL_ASSERT(st && strcmp(st, "running") == 0 && rel_vm_vmid(s, "victim") == vmid,
                   "victim VM changed by unprivileged calls: %s", st);
        free(st);
        free(err);
        REL_ASSERT(chmod(s->dir, 0700) == 0, "chmod");
}

/* CreateVM with the given kernel/initrd; refused at create, or at start before any RM VM. */
static void expect_image_refused(RelStack *s, const char *what, const char *key, const char *path)
{
        struct json_object *p = json_object_new_object(), *ep = NULL;
        char *err = NULL;
        json_object_object_add(p, "name", json_object_new_string("img"));
        json_object_object_add(p, "memorySize", json_object_new_int64(64ll << 20));
        json_object_object_add(p, "kernel", json_object_new_string(strcmp(key, "kernel") == 0 ? path : REL_KERNEL));
        if (strcmp(key, "initrd") == 0)
                json_object_object_add(p, "initrd", json_object_new_string(path));
        RelConn *c = NULL;
        REL_ASSERT(rel_conn_open(s->api_path, &c) == 0, "connect");
        int r = rel_call(c, "io.gunyah.Manager.CreateVM", p, false, REL_CALL_TIMEOUT_MS, &ep, &err);
        json_object_put(p);
        rel_conn_free(c);
        const char *stage = "CreateVM";
        if (r == 0) {
                free(err);
                err = NULL;
                json_object_put(ep);
                ep = NULL;
                r = rel_api(s, "StartVM", "{\"name\":\"img\"}", REL_CALL_TIMEOUT_MS, &ep, &err);
                stage = "StartVM";
                struct json_object *st = NULL, *vms;
                REL_ASSERT(rel_sim(s, "GetState", NULL, &st) == 0, "GetState");
                REL_ASSERT(json_object_object_get_ex(st, "vms", &vms) && json_object_array_length(vms) == 1,
                           "%s: the RM allocated a VM for a refused image", what);
                json_object_put(st);
                (void)rel_api(s, "DestroyVM", "{\"name\":\"img\"}", REL_CALL_TIMEOUT_MS, NULL, NULL);
        }
        printf("  %-34s %-6s %-40s -> %s at %s\n", what, key, path, err ? err : "ACCEPTED", stage);
        REL_ASSERT(r == -EREMOTEIO, "%s (%s=%s) was accepted", what, key, path);
        REL_ASSERT(strcmp(err, "io.gunyah.Manager.InvalidImage") == 0 || strcmp(err, INVALID_PARAMETER) == 0,
                   "%s: %s", what, err);
        free(err);
        json_object_put(ep);
        n_checks++;
}

static void test_image_paths(RelStack *s)
{
        char outside[400], link[400], sub[400], path[512];
        snprintf(outside, sizeof(outside), "%s/outside-Image", s->dir);
        snprintf(sub, sizeof(sub), "%s/sub", s->image_dir);
        REL_ASSERT(mkdir(sub, 0755) == 0, "mkdir sub");
        char cmd[1024];
        snprintf(cmd, sizeof(cmd), "cp '%s/%s' '%s'", s->image_dir, REL_KERNEL, outside);
        REL_ASSERT(system(cmd) == 0, "cp");
        snprintf(link, sizeof(link), "%s/link-out", s->image_dir);
        REL_ASSERT(symlink(outside, link) == 0, "symlink");
        snprintf(link, sizeof(link), "%s/link-rel", s->image_dir);
        REL_ASSERT(symlink("../outside-Image", link) == 0, "symlink");
        snprintf(link, sizeof(link), "%s/link-proc", s->image_dir);
        REL_ASSERT(symlink("/proc/self/exe", link) == 0, "symlink");
        snprintf(link, sizeof(link), "%s/link-dir", s->image_dir);
        REL_ASSERT(symlink(s->dir, link) == 0, "symlink");
        printf("image paths (image dir %s):\n", s->image_dir);
        static const char *const keys[] = { "kernel", "initrd" };
        for (size_t k = 0; k < 2; k++) {
                expect_image_refused(s, "parent by ..", keys[k], "../outside-Image");
                expect_image_refused(s, "parent by sub/../..", keys[k], "sub/../../outside-Image");
                expect_image_refused(s, "absolute path", keys[k], outside);
                snprintf(path, sizeof(path), "%s/%s", s->image_dir, REL_KERNEL);
                expect_image_refused(s, "absolute path inside the dir", keys[k], path);
                expect_image_refused(s, "symlink to an absolute path", keys[k], "link-out");
                expect_image_refused(s, "symlink by ..", keys[k], "link-rel");
                expect_image_refused(s, "symlink to /proc", keys[k], "link-proc");
                expect_image_refused(s, "symlinked directory", keys[k], "link-dir/outside-Image");
                expect_image_refused(s, "/proc file", keys[k], "/proc/self/exe");
                expect_image_refused(s, "/proc through ..", keys[k], "../../../../../../proc/self/exe");
                expect_image_refused(s, "/dev file", keys[k], "/dev/zero");
                expect_image_refused(s, "missing file", keys[k], "no-such-Image");
        }
}

/* Send raw bytes; expect InvalidParameter, or (allow_close) the connection closed. */
static void expect_bad(RelStack *s, const char *what, const void *msg, size_t len, bool allow_close)
{
        RelConn *c = NULL;
        struct json_object *reply = NULL, *e;
        REL_ASSERT(rel_conn_open(s->api_path, &c) == 0, "connect");
        int r = rel_conn_send_raw(c, msg, len);
        if (r == 0)
                r = rel_conn_recv(c, REL_CALL_TIMEOUT_MS, &reply);
        char got[256];
        if (r == 0 && json_object_object_get_ex(reply, "error", &e)) {
                struct json_object *p = NULL;
                json_object_object_get_ex(reply, "parameters", &p);
                snprintf(got, sizeof(got), "%s %s", json_object_get_string(e),
                         p ? json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN) : "");
        } else if (r == 0)
                snprintf(got, sizeof(got), "ACCEPTED %s", json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN));
        else
                snprintf(got, sizeof(got), "connection closed (%s)", strerror(-r));
        printf("  %-44s -> %.150s\n", what, got);
        json_object_put(reply);
        rel_conn_free(c);
        bool invalid = strncmp(got, INVALID_PARAMETER, strlen(INVALID_PARAMETER)) == 0;
        bool closed = r == -ECONNRESET || r == -EPIPE;
        REL_ASSERT(invalid || (allow_close && closed), "%s: %s", what, got);
        REL_ASSERT(rel_daemon_alive(s), "%s: gunyahd died", what);
        REL_ASSERT(rel_api(s, "ListVMs", NULL, REL_CALL_TIMEOUT_MS, NULL, NULL) == 0,
                   "%s: another client is not served", what);
        n_checks++;
}

static void expect_create_invalid_ex(RelStack *s, const char *what, const char *params,
                                     bool allow_close)
{
        char msg[8192];
        int n = snprintf(msg, sizeof(msg), "{\"method\":\"io.gunyah.Manager.CreateVM\",\"parameters\":%s}",
                         params);
        expect_bad(s, what, msg, (size_t)n + 1, allow_close);
}

static void expect_create_invalid(RelStack *s, const char *what, const char *params)
{
        expect_create_invalid_ex(s, what, params, false);
}

static void test_malformed(RelStack *s)
{
        printf("malformed input:\n");
#define K "\"kernel\":\"" REL_KERNEL "\""
        expect_create_invalid(s, "memorySize 0", "{\"name\":\"b\",\"memorySize\":0," K "}");
        expect_create_invalid(s, "memorySize 2^64-1", "{\"name\":\"b\",\"memorySize\":18446744073709551615," K "}");
        expect_create_invalid(s, "memorySize 2^63", "{\"name\":\"b\",\"memorySize\":9223372036854775808," K "}");
        expect_create_invalid(s, "memorySize 2^64", "{\"name\":\"b\",\"memorySize\":18446744073709551616," K "}");
        expect_create_invalid(s, "memorySize -1", "{\"name\":\"b\",\"memorySize\":-1," K "}");
        expect_create_invalid(s, "memorySize 1.5", "{\"name\":\"b\",\"memorySize\":1.5," K "}");
        expect_create_invalid(s, "memorySize \"64M\"", "{\"name\":\"b\",\"memorySize\":\"64M\"," K "}");
        expect_create_invalid(s, "memorySize unaligned", "{\"name\":\"b\",\"memorySize\":67108865," K "}");
        expect_create_invalid(s, "vcpus 0", "{\"name\":\"b\",\"memorySize\":67108864,\"vcpus\":0," K "}");
        expect_create_invalid(s, "vcpus 10^6", "{\"name\":\"b\",\"memorySize\":67108864,\"vcpus\":1000000," K "}");
        expect_create_invalid(s, "vcpus -1", "{\"name\":\"b\",\"memorySize\":67108864,\"vcpus\":-1," K "}");
        expect_create_invalid(s, "memoryBase unaligned", "{\"name\":\"b\",\"memorySize\":67108864,\"memoryBase\":2147483649," K "}");
        expect_create_invalid(s, "memoryBase 2^64-1", "{\"name\":\"b\",\"memorySize\":67108864,\"memoryBase\":18446744073709551615," K "}");
        expect_create_invalid(s, "name empty", "{\"name\":\"\",\"memorySize\":67108864," K "}");
        expect_create_invalid_ex(s, "name invalid UTF-8", "{\"name\":\"a\xff\xfe\",\"memorySize\":67108864," K "}", true);
        expect_create_invalid_ex(s, "name overlong UTF-8 (0xC0 0xAF)", "{\"name\":\"a\xc0\xaf\",\"memorySize\":67108864," K "}", true);
        expect_create_invalid_ex(s, "name UTF-16 surrogate (CESU)", "{\"name\":\"a\xed\xa0\x80\",\"memorySize\":67108864," K "}", true);
        expect_create_invalid(s, "name with escaped NUL", "{\"name\":\"a\\u0000b\",\"memorySize\":67108864," K "}");
        expect_create_invalid(s, "kernel with escaped NUL", "{\"name\":\"b\",\"memorySize\":67108864,\"kernel\":\"Image\\u0000.x\"}");
        expect_create_invalid(s, "cmdline with escaped NUL", "{\"name\":\"b\",\"memorySize\":67108864," K ",\"cmdline\":\"a\\u0000b\"}");
        expect_create_invalid(s, "name with a slash", "{\"name\":\"a/b\",\"memorySize\":67108864," K "}");
        expect_create_invalid(s, "name ..", "{\"name\":\"..\",\"memorySize\":67108864," K "}");
        expect_create_invalid(s, "name with a newline", "{\"name\":\"a\\nb\",\"memorySize\":67108864," K "}");
        char big[4200];
        memset(big, 'n', 4096);
        big[4096] = 0;
        char params[8192];
        snprintf(params, sizeof(params), "{\"name\":\"%s\",\"memorySize\":67108864," K "}", big);
        expect_create_invalid(s, "name of 4096 bytes", params);
        expect_create_invalid(s, "name is a number", "{\"name\":5,\"memorySize\":67108864," K "}");
        expect_create_invalid(s, "name is null", "{\"name\":null,\"memorySize\":67108864," K "}");
        expect_create_invalid(s, "unknown parameter", "{\"name\":\"b\",\"memorySize\":67108864," K ",\"evil\":1}");
        expect_create_invalid(s, "kernelFd without an fd", "{\"name\":\"b\",\"memorySize\":67108864,\"kernelFd\":0}");
        expect_create_invalid(s, "kernelFd 2^32", "{\"name\":\"b\",\"memorySize\":67108864,\"kernelFd\":4294967296}");
        expect_create_invalid(s, "parameters is an array", "[1,2]");
        static const char stop_neg[] = "{\"method\":\"io.gunyah.Manager.StopVM\",\"parameters\":{\"name\":\"victim\",\"timeout\":-1}}";
        expect_bad(s, "StopVM timeout -1", stop_neg, sizeof(stop_neg), false);
        static const char stop_big[] = "{\"method\":\"io.gunyah.Manager.StopVM\",\"parameters\":{\"name\":\"victim\",\"timeout\":18446744073709551615}}";
        expect_bad(s, "StopVM timeout 2^64-1", stop_big, sizeof(stop_big), false);
        static const char not_obj[] = "[\"io.gunyah.Manager.ListVMs\"]";
        expect_bad(s, "message is an array", not_obj, sizeof(not_obj), true);
        static const char method_num[] = "{\"method\":5}";
        expect_bad(s, "method is a number", method_num, sizeof(method_num), false);
        static const char raw_nul[] = "{\"method\":\"io.gunyah.Manager.CreateVM\",\"parameters\":{\"name\":\"a\0b\",\"memorySize\":67108864}}";
        expect_bad(s, "raw NUL inside a string", raw_nul, sizeof(raw_nul), true);
        static const char not_json[] = "{\"method\":\"io.gunyah.Manager.ListVMs\",";
        expect_bad(s, "truncated JSON", not_json, sizeof(not_json), true);
        /* deep nesting */
        size_t depth = 100000, len = 0;
        char *deep = malloc(2 * depth + 200);
        len += (size_t)sprintf(deep, "{\"method\":\"io.gunyah.Manager.ListVMs\",\"parameters\":{\"x\":");
        memset(deep + len, '[', depth);
        len += depth;
        memset(deep + len, ']', depth);
        len += depth;
        len += (size_t)sprintf(deep + len, "}}");
        expect_bad(s, "nested 100000 deep", deep, len + 1, true);
        free(deep);
        /* oversize: 2 MiB name */
        size_t osz = 2u << 20;
        char *over = malloc(osz + 200);
        len = (size_t)sprintf(over, "{\"method\":\"io.gunyah.Manager.CreateVM\",\"parameters\":{\"name\":\"");
        memset(over + len, 'x', osz);
        len += osz;
        len += (size_t)sprintf(over + len, "\",\"memorySize\":67108864}}");
        expect_bad(s, "message of 2 MiB", over, len + 1, true);
        free(over);
        /* no VM was created by any of it */
        char **names = rel_list_vms(s);
        REL_ASSERT(names && (!names[0] || (strcmp(names[0], "victim") == 0 && !names[1])),
                   "malformed calls created a VM: %s", names && names[0] ? names[0] : "?");
        rel_strv_free(names);
}

/*
 * Every file of JSONTestSuite's test_parsing (../shared/data beside the source tree, or
 * $GUNYAH_JSON_TEST_SUITE) sent to gunyahd itself as one message on a fresh connection:
 * y_ (valid JSON) answered with a Varlink error, the connection kept; n_ (invalid) closes
 * the connection (a file with a raw NUL is two messages, and its first part may get an
 * error reply first); i_ either. gunyahd stays up and serves others after each file.
 */
static void test_json_test_suite(RelStack *s)
{
        const char *env = getenv("GUNYAH_JSON_TEST_SUITE");
        const char *src = getenv("GUNYAH_SOURCE_DIR");
        char dirpath[PATH_MAX];
        if (env)
                snprintf(dirpath, sizeof(dirpath), "%s", env);
        else
                snprintf(dirpath, sizeof(dirpath), "%s/../shared/data/JSONTestSuite/test_parsing",
                         src ? src : ".");
        DIR *d = opendir(dirpath);
        REL_ASSERT(d, "JSONTestSuite: cannot open %s (set GUNYAH_JSON_TEST_SUITE)", dirpath);
        unsigned n_y = 0, n_n = 0, n_i = 0, n_files = 0;
        struct dirent *de;
        static char buf[1 << 20];
        while ((de = readdir(d))) {
                char kind = de->d_name[0];
                if (de->d_name[0] == '.' || (kind != 'y' && kind != 'n' && kind != 'i'))
                        continue;
                int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC);
                REL_ASSERT(fd >= 0, "open %s/%s", dirpath, de->d_name);
                ssize_t len = read(fd, buf, sizeof(buf) - 1);
                close(fd);
                REL_ASSERT(len >= 0 && len < (ssize_t)sizeof(buf) - 1, "read %s", de->d_name);
                bool has_nul = memchr(buf, 0, (size_t)len) != NULL;
                buf[len] = 0; /* the message's terminator */

                RelConn *c = NULL;
                struct json_object *reply = NULL, *e = NULL;
                REL_ASSERT(rel_conn_open(s->api_path, &c) == 0, "connect");
                int r = rel_conn_send_raw(c, buf, (size_t)len + 1);
                if (r == 0)
                        r = rel_conn_recv(c, REL_CALL_TIMEOUT_MS, &reply);
                bool error_reply = r == 0 && json_object_object_get_ex(reply, "error", &e);
                bool closed = r == -ECONNRESET || r == -EPIPE;
                REL_ASSERT(closed || error_reply, "%s: want an error or the close, got r=%d %s",
                           de->d_name, r, reply ? json_object_to_json_string(reply) : "");
                /* after the answer: the connection serves on (y_: a GetInfo on it is
                 * answered) or is closed (n_) */
                int r2 = r;
                if (kind == 'y' && r == 0) {
                        struct json_object *info = NULL;
                        r2 = rel_conn_send(c, "org.varlink.service.GetInfo", NULL, false);
                        if (r2 == 0)
                                r2 = rel_conn_recv(c, REL_CALL_TIMEOUT_MS, &info);
                        if (r2 == 0 && json_object_object_get_ex(info, "error", NULL))
                                r2 = -EREMOTEIO;
                        json_object_put(info);
                }
                for (int k = 0; kind == 'n' && r2 == 0 && k < 4; k++) {
                        struct json_object *more = NULL;
                        r2 = rel_conn_recv(c, REL_CALL_TIMEOUT_MS, &more);
                        json_object_put(more);
                }
                if (kind == 'y')
                        REL_ASSERT(error_reply && r2 == 0,
                                   "%s: want a Varlink error on an open connection, got r=%d "
                                   "r2=%d %s", de->d_name, r, r2,
                                   reply ? json_object_to_json_string(reply) : "");
                else if (kind == 'n')
                        REL_ASSERT(r2 == -ECONNRESET || r2 == -EPIPE,
                                   "%s: want a refusal and the close, got r=%d r2=%d %s",
                                   de->d_name, r, r2,
                                   reply ? json_object_to_json_string(reply) : "");
                if (kind == 'n' && error_reply && !has_nul)
                        REL_ASSERT(strcmp(json_object_get_string(e),
                                          "org.varlink.service.InvalidParameter") == 0,
                                   "%s: refused with %s", de->d_name, json_object_get_string(e));
                (void)(kind == 'y' ? n_y++ : kind == 'n' ? n_n++ : n_i++);
                json_object_put(reply);
                rel_conn_free(c);
                if (++n_files % 64 == 0)
                        REL_ASSERT(rel_daemon_alive(s) &&
                                           rel_api(s, "ListVMs", NULL, REL_CALL_TIMEOUT_MS, NULL,
                                                   NULL) == 0,
                                   "gunyahd stopped serving after %s", de->d_name);
        }
        closedir(d);
        REL_ASSERT(rel_daemon_alive(s), "gunyahd died during JSONTestSuite");
        REL_ASSERT(rel_api(s, "ListVMs", NULL, REL_CALL_TIMEOUT_MS, NULL, NULL) == 0,
                   "gunyahd does not serve after JSONTestSuite");
        REL_ASSERT(n_y > 90 && n_n > 180, "JSONTestSuite: only %u y_ and %u n_ files", n_y, n_n);
        printf("  JSONTestSuite against gunyahd: %u y_ answered with an error, %u n_ refused, "
               "%u i_ either way\n", n_y, n_n, n_i);
        n_checks += n_y + n_n + n_i;
}

int main(int argc, char **argv)
{
        RelArgs a;
        rel_parse_args(argc, argv, &a);
        if (geteuid() != 0) {
                printf("test-rel-hostile: needs root (setresuid to nobody); skipped\n");
                return 77;
        }
        RelStack *s = rel_stack_new(&(RelStackOpts){ .guest_pace_ms = 1 });
        rel_daemon_start_or_skip(s);
        int r;
        test_authorization(s);
        test_image_paths(s);
        test_malformed(s);
        test_json_test_suite(s);
        char why[1024];
        r = rel_wait_consistent(s, 60000, why, sizeof(why));
        REL_ASSERT(r == 0, "daemon and RM disagree: %s", why);
        r = rel_cleanup_all(s, 60000, why, sizeof(why));
        REL_ASSERT(r == 0, "leak: %s", why);
        printf("test-rel-hostile: %u checks passed\n", n_checks);
        rel_stack_free(s);
        return 0;
}
