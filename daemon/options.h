#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * Daemon options: command-line flags and the configuration file, which uses the same names
 * ("rm-socket = /run/sim.sock"; '#' starts a comment; one option per line). Precedence:
 * built-in defaults < the configuration file (--config FILE, else /etc/gunyahd/gunyahd.conf
 * when it exists) < flags.
 *
 * Invariants after options_parse() == 0: at most one of rm_device / rm_socket / rm_fd;
 * pool is either a parsed FILE:IPA:SIZE or pool_device; durations are > 0.
 * Errors: negative errno; the offending option and why are logged (log.h).
 */
#include <stdbool.h>
#include <stdint.h>

#define OPTIONS_DEFAULT_CONFIG "/etc/gunyahd/gunyahd.conf"
#define OPTIONS_DEFAULT_API_SOCKET "/run/gunyahd/io.gunyah.Manager"

typedef struct Options {
        char *rm_device;   /* default /dev/gunyah when neither socket nor fd is given */
        char *rm_socket;
        int rm_fd;         /* -1 = none */
        char *pool_file;   /* --pool FILE:IPA:SIZE */
        uint64_t pool_ipa, pool_size;
        bool pool_device;  /* --pool device */
        char *state_dir;
        char *runtime_dir;
        char *image_dir;
        char *api_socket;
        char *admin_group;
        uint64_t rpc_timeout_usec;
        uint64_t stop_timeout_usec;
        char *config;
        bool varlink_certification; /* test-only: serve org.varlink.certification */
        int verbose;       /* -v count */
        bool help, version;
} Options;

void options_init(Options *o);
void options_done(Options *o);
/* Parse argv (and the configuration file). Returns 0, or -EINVAL (bad option, logged),
 * -ENOENT (an explicit --config that does not exist). */
int options_parse(Options *o, int argc, char *argv[]);
/* Apply one "name = value" setting (name as the long flag without "--"). */
int options_set(Options *o, const char *name, const char *value, const char *origin);
int options_load_file(Options *o, const char *path, bool must_exist);
/* "10", "10s", "500ms", "2min", "1h" -> microseconds. -EINVAL / -ERANGE. */
int options_parse_duration(const char *s, uint64_t *ret_usec);
void options_usage(const char *prog);
