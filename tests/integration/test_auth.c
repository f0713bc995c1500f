/* tsc — integration: trust and hostile input.
 *  - an agent with another cluster key cannot join: the seed counts its
 *    packets as rejected (stats rejected_auth > 0) and never lists it;
 *  - tscctl with the wrong key gets exit code 4, with the right one 0;
 *  - garbage on the UDP and TCP port (random datagrams, bad length
 *    prefixes, truncated and unopenable frames) is counted, never fatal. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define WAIT_MS 30000

static struct th_agent seed, member, intruder;
static char key[512], other_key[512], seed_addr[32];

static void dump_all(void)
{
    th_dump_log(&seed);
    th_dump_log(&member);
    th_dump_log(&intruder);
}

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            dump_all();                                                                            \
            fail_msg(__VA_ARGS__);                                                                 \
        }                                                                                          \
    } while (0)

static int group_setup(void **state)
{
    th_init();
    if (th_keygen("cluster.key", key, sizeof key) != 0 ||
        th_keygen("other.key", other_key, sizeof other_key) != 0)
        return -1;
    th_agent_init(&seed, "seed", key, NULL);
    if (th_agent_start(&seed, NULL) != 0)
        return -1;
    snprintf(seed_addr, sizeof seed_addr, "127.0.0.1:%d", seed.port);
    th_agent_init(&member, "member", key, seed_addr);
    if (th_agent_start(&member, NULL) != 0)
        return -1;
    return th_wait_members(&seed, 2, "alive", WAIT_MS);
}

static int group_teardown(void **state)
{
    th_kill_all();
    return 0;
}

static void test_other_key_cannot_join(void **state)
{
    struct th_member m[TH_MAX_MEMBERS];
    char intruder_id[17];
    th_agent_init(&intruder, "intruder", other_key, seed_addr);
    CHECK(th_agent_start(&intruder, NULL) == 0, "intruder did not start");
    CHECK(th_self_id(&intruder, intruder_id) == 0, "intruder: no self entry");
    /* The intruder retries its join (1 s, 2 s, ...): wait for two rejected
     * attempts, so the seed has had every chance to (wrongly) accept it. */
    int64_t end = th_now_ms() + WAIT_MS;
    while (th_stat(&seed, "rejected_auth") < 2 && th_now_ms() < end)
        usleep(100 * 1000);
    CHECK(th_stat(&seed, "rejected_auth") >= 2, "seed: rejected_auth = %lld, want >= 2",
          (long long)th_stat(&seed, "rejected_auth"));
    CHECK(th_stat(&seed, "rejected") >= th_stat(&seed, "rejected_auth"),
          "rejected must include rejected_auth");
    int n = th_members(&seed, m, TH_MAX_MEMBERS);
    CHECK(n == 2, "seed lists %d members, want 2", n);
    for (int i = 0; i < n; i++)
        CHECK(strcmp(m[i].id, intruder_id) != 0, "the intruder is listed by the seed");
    n = th_members(&intruder, m, TH_MAX_MEMBERS);
    CHECK(n == 1 && m[0].self, "the intruder sees %d members, want only itself", n);
}

static int ctl_members_tcp(const char *keyfile)
{
    char bin[512], out[1 << 14], err[1024];
    const char *argv[] = {th_bin("tscctl", bin, sizeof bin),
                          "members",
                          "--agent",
                          seed_addr,
                          "--key",
                          keyfile,
                          "--json",
                          NULL};
    return th_run(argv, out, sizeof out, err, sizeof err, 10000);
}

static void test_ctl_key_check(void **state)
{
    CHECK(ctl_members_tcp(key) == 0, "tscctl with the cluster key must succeed");
    CHECK(ctl_members_tcp(other_key) == 4, "tscctl with another key must exit 4");
}

static int sock_to_seed(int type)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, type, 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)seed.port);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void tcp_send(const void *p, size_t n)
{
    int fd = sock_to_seed(SOCK_STREAM);
    if (fd < 0)
        return;
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    (void)w;
    close(fd);
}

static void test_garbage_is_counted_not_fatal(void **state)
{
    uint8_t buf[2048];
    int64_t malformed0 = th_stat(&seed, "rejected"), frames0 = th_stat(&seed, "frame_errors");
    srand(42);
    int u = sock_to_seed(SOCK_DGRAM);
    CHECK(u >= 0, "udp socket");
    for (int i = 0; i < 200; i++) {
        size_t n = (size_t)(rand() % (int)sizeof buf);
        for (size_t k = 0; k < n; k++)
            buf[k] = (uint8_t)rand();
        if (i % 3 == 0 && n > 0)
            buf[0] = 1; /* the version byte, so the frame reaches the AEAD */
        ssize_t w = send(u, buf, n, 0);
        (void)w;
    }
    close(u);
    static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 1, 2, 3};
    static const uint8_t zero[] = {0, 0, 0, 0};
    static const uint8_t truncated[] = {0, 0, 1, 0, 1, 2, 3, 4};
    tcp_send(huge, sizeof huge);
    tcp_send(zero, sizeof zero);
    tcp_send(truncated, sizeof truncated);
    for (size_t k = 0; k < 100; k++)
        buf[4 + k] = (uint8_t)rand();
    buf[0] = buf[1] = buf[2] = 0;
    buf[3] = 100;
    buf[4] = 1;
    tcp_send(buf, 104); /* a whole frame that does not open */

    int64_t end = th_now_ms() + WAIT_MS;
    while ((th_stat(&seed, "frame_errors") < frames0 + 3 ||
            th_stat(&seed, "rejected") <= malformed0) &&
           th_now_ms() < end)
        usleep(100 * 1000);
    CHECK(th_stat(&seed, "frame_errors") >= frames0 + 3, "frame_errors did not grow by 3");
    CHECK(th_stat(&seed, "rejected") > malformed0, "rejected did not grow");
    CHECK(kill(seed.pid, 0) == 0, "the seed died");
    CHECK(th_wait_members(&seed, 2, "alive", WAIT_MS) == 0, "the cluster did not survive");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_other_key_cannot_join),
        cmocka_unit_test(test_ctl_key_check),
        cmocka_unit_test(test_garbage_is_counted_not_fatal),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
