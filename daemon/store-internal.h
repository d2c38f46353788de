#pragma once
/* SPDX-License-Identifier: MIT */
/* Shared by store.c (files) and store-json.c (formats). */
#include <errno.h>

/* -EBADMSG, with why as the reason when the caller asked for one. */
static inline int store_reject(const char **ret_reason, const char *why)
{
        if (ret_reason)
                *ret_reason = why;
        return -EBADMSG;
}
