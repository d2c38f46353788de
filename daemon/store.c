/* SPDX-License-Identifier: MIT */
/*
 * Persistence: the files of the store (store.h): records written atomically, loaded with
 * full validation (the formats are store-json.c's), bad ones quarantined; the runtime
 * directory; the syncer thread for deletions.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "store-internal.h"
#include "store.h"

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
                        return store_reject(ret_reason, "record is a symlink");
                return -errno;
        }
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return store_reject(ret_reason, "record is not a regular file");
        if ((uint64_t)st.st_size > STORE_FILE_MAX)
                return store_reject(ret_reason, "record too large");
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
                return store_reject(why, "unexpected file name");
        if (definitions) {
                VmConfig c, *v;
                int r = store_definition_from_json(buf, len, &c, why);

                if (r < 0)
                        return r;
                if (strlen(c.name) != flen - 5 || strncmp(c.name, file, flen - 5) != 0) {
                        vm_config_done(&c);
                        return store_reject(why, "record name differs from its file name");
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
                        return store_reject(why, "record name differs from its file name");
                }
                if (rt.host_boot[0] && s->boot_id[0] && strcmp(rt.host_boot, s->boot_id) != 0) {
                        /* the RM state it names (VMID, parcels) ended with that boot */
                        store_runtime_done(&rt);
                        return store_reject(why, "written in an earlier boot of the host");
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
