/* tsc — parsing and printing IPv4 addresses, without resolver or sockets. */
#include "common/addr.h"

#include "common/error.h"

#include <stdio.h>
#include <string.h>

static int parse_u32(const char **p, uint32_t max, uint32_t *out)
{
    const char *s = *p;
    uint32_t v = 0;
    int digits = 0;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (uint32_t)(*s - '0');
        if (v > max || ++digits > 5)
            return -1;
        s++;
    }
    if (digits == 0)
        return -1;
    *p = s;
    *out = v;
    return 0;
}

int tsc_addr_parse(struct tsc_addr *a, const char *s, int allow_port0, char *errmsg)
{
    const char *p = s;
    uint32_t ip = 0;
    if (s == NULL) {
        tsc_errmsg_setf(errmsg, "empty address");
        return TSC_EINVAL;
    }
    if (strncmp(p, "localhost:", 10) == 0) {
        ip = 0x7f000001u;
        p += 9;
    } else {
        for (int i = 0; i < 4; i++) {
            uint32_t octet;
            if (parse_u32(&p, 255, &octet) != 0 || (i < 3 && *p++ != '.')) {
                tsc_errmsg_setf(errmsg, "bad address '%s': want A.B.C.D:PORT", s);
                return TSC_EINVAL;
            }
            ip = (ip << 8) | octet;
        }
    }
    uint32_t port;
    if (*p++ != ':' || parse_u32(&p, 65535, &port) != 0 || *p != '\0' ||
        (port == 0 && !allow_port0)) {
        tsc_errmsg_setf(errmsg, "bad address '%s': want A.B.C.D:PORT with PORT 1-65535", s);
        return TSC_EINVAL;
    }
    a->ip = ip;
    a->port = (uint16_t)port;
    return 0;
}

char *tsc_addr_format(const struct tsc_addr *a, char *out)
{
    snprintf(out, TSC_ADDR_STRLEN, "%u.%u.%u.%u:%u", (a->ip >> 24) & 255, (a->ip >> 16) & 255,
             (a->ip >> 8) & 255, a->ip & 255, a->port);
    return out;
}

int tsc_addr_eq(const struct tsc_addr *a, const struct tsc_addr *b)
{
    return a->ip == b->ip && a->port == b->port;
}
