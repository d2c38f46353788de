#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * Stack: one gunyah-rm-sim and one gunyahd on it, in a subdirectory of the run's workdir,
 * with a 2 MiB test Image in the daemon's image directory (bench-daemon.c). VMs are made
 * through libgunyahctl. Errors: negative errno.
 */
#include <stdbool.h>
#include <stdint.h>

#include "bench.h"

typedef struct gunyahctl gunyahctl;

typedef struct Stack {
        char *dir;
        SimClient *sim;
        char *pool_spec; /* FILE:IPA:SIZE of the simulator's pool, as gunyahd takes it */
        Daemon d;
} Stack;

/* pool_size 0 = 1 GiB; nofile > 0 raises the daemon's RLIMIT_NOFILE. */
int stack_open(Stack *s, const char *name, uint64_t pool_size, unsigned nofile);
/* Stop the daemon with sig (SIGKILL for recovery) and start it again on the same state. */
int stack_restart(Stack *s, int sig, unsigned nofile);
void stack_close(Stack *s);

/* CreateVM with kernel "Image" from the image dir. */
int vm_create(gunyahctl *h, const char *name, uint64_t mem, bool demand_paging);
/* Create and start vm0..vm(n-1). */
int vms_create_start(Stack *s, unsigned n, uint64_t mem);
