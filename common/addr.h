/* tsc — node addresses. tsc speaks IPv4 only: loopback 127.0.0.0/8 for local
 * clusters, 198.18.0.0/15 for namespaces, isolated libvirt networks and the
 * simulator. Host byte order in memory. */
#ifndef TSC_COMMON_ADDR_H
#define TSC_COMMON_ADDR_H

#include <stddef.h>
#include <stdint.h>

struct tsc_addr {
    uint32_t ip;   /* host byte order; 127.0.0.1 == 0x7f000001 */
    uint16_t port; /* host byte order */
};

#define TSC_ADDR_STRLEN 22 /* "255.255.255.255:65535" + NUL */

/* Parse "A.B.C.D:PORT" or "localhost:PORT". Returns 0 or TSC_EINVAL with a
 * message in errmsg (may be NULL). Port 0 is rejected unless allow_port0. */
int tsc_addr_parse(struct tsc_addr *a, const char *s, int allow_port0, char *errmsg);

/* Format as "A.B.C.D:PORT" into out (at least TSC_ADDR_STRLEN bytes); returns out. */
char *tsc_addr_format(const struct tsc_addr *a, char *out);

/* 1 when equal. */
int tsc_addr_eq(const struct tsc_addr *a, const struct tsc_addr *b);

#endif
