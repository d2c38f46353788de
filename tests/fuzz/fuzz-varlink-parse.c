/* SPDX-License-Identifier: MIT */
/*
 * protocol/varlink.c parsing and framing on arbitrary bytes: the input as one call, as one
 * reply, and through a VarlinkBuffer in 1..16 byte pieces; formatting what parsed and
 * parsing it again must give an equal call.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "varlink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        VarlinkCall c;
        if (varlink_call_parse((const char *)data, size, 32, &c) == 0) {
                size_t len;
                char *m = varlink_format_call(c.method, c.parameters, c.oneway, c.more, &len);
                if (m) {
                        VarlinkCall c2;
                        if (varlink_call_parse(m, len - 1, 33, &c2) != 0 ||
                            strcmp(c.method, c2.method) != 0 || c.oneway != c2.oneway ||
                            c.more != c2.more)
                                abort();
                        varlink_call_done(&c2);
                        free(m);
                }
                varlink_call_done(&c);
        }
        VarlinkReply r;
        if (varlink_reply_parse((const char *)data, size, 32, &r) == 0)
                varlink_reply_done(&r);

        VarlinkBuffer b;
        varlink_buffer_init(&b, 1024);
        for (size_t off = 0; off < size;) {
                size_t n = 1 + (data[off] & 15);
                if (n > size - off)
                        n = size - off;
                if (varlink_buffer_append(&b, data + off, n) < 0)
                        break;
                off += n;
                const char *msg;
                size_t len;
                int k;
                while ((k = varlink_buffer_next(&b, &msg, &len)) > 0)
                        if (strlen(msg) != len)
                                abort();
                if (k < 0)
                        break;
        }
        varlink_buffer_free(&b);
        return 0;
}
