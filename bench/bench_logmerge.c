/* tsc — log merge throughput, one line per figure as `name value unit`.
 *
 *   bench_logmerge [RECORDS]     (default 10,000,000; a 1,000,000 run first)
 *
 * Eight nodes log 100-byte records with realistic causality: each event of
 * a random node is a local line, or (3%) a message sent to another node,
 * which that node receives (merging the clock and the Lamport time,
 * vclock.h and merge.h) on one of its next events. Each node ships its
 * records in batches of 1000 with its clock as the watermark and its
 * Lamport time as the promise, and takes the acknowledgement's time (here:
 * the largest time released so far) as an agent would (logsync/ship.h);
 * virtual time advances 1 µs per event. The timer runs around
 * tsc_logmerge_step only (the merge alone: no storing, no generating).
 * Figures per run:
 *   logmerge_<n>_rate          records merged per second (one core)
 *   logmerge_<n>_peak_buffered the most records the engine held at once
 *   logmerge_<n>_peak_rss      the process's peak RSS so far (getrusage)
 * The run also checks what it measures: every record released once, in
 * increasing (lamport, node) order, and no error reported. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "common/error.h"
#include "common/prng.h"
#include "common/time.h"
#include "logsync/merge.h"

#define NODES     8
#define BATCH     1000
#define TEXT      100
#define SEND_PCT  3
#define MAX_INBOX 64

struct msg {
    struct tsc_vclock clock;
    uint64_t lamport;
};

struct node {
    uint64_t id;
    struct tsc_vclock clock;
    uint64_t lamport;
    struct tsc_logrec batch[BATCH]; /* clocks reused from batch to batch */
    uint8_t text[BATCH][TEXT];
    size_t n;
    struct msg inbox[MAX_INBOX];
    size_t n_inbox;
};

struct run {
    struct tsc_logmerge *m;
    struct tsc_prng g;
    struct node *nodes;
    uint64_t now, released, peak_buffered, last_lamport, last_node;
    double merge_s;
};

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_logmerge: %s: %s\n", what, tsc_strerror(rc));
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void step(struct run *r, const struct tsc_logmerge_event *ev)
{
    struct tsc_logmerge_update up;
    double t0 = now_s();
    int rc = tsc_logmerge_step(r->m, ev, &up);
    r->merge_s += now_s() - t0;
    if (rc != 0)
        die("step", rc);
    if (up.n_errors != 0) {
        fprintf(stderr, "bench_logmerge: %s error on (%llu, %llu)\n",
                tsc_logmerge_error_name(up.errors[0].kind), (unsigned long long)up.errors[0].a_node,
                (unsigned long long)up.errors[0].a_seq);
        exit(1);
    }
    for (size_t i = 0; i < up.n_released; i++) {
        const struct tsc_logrec *x = up.released[i].rec;
        if (x->lamport < r->last_lamport ||
            (x->lamport == r->last_lamport && x->node <= r->last_node)) {
            fprintf(stderr, "bench_logmerge: out of order at %llu\n",
                    (unsigned long long)up.released[i].index);
            exit(1);
        }
        r->last_lamport = x->lamport;
        r->last_node = x->node;
    }
    r->released += up.n_released;
    uint64_t b = tsc_logmerge_stats(r->m)->buffered;
    if (b > r->peak_buffered)
        r->peak_buffered = b;
}

static void ship(struct run *r, struct node *n)
{
    struct tsc_logmerge_event ev = {.type = TSC_LOGMERGE_EV_BATCH,
                                    .now = r->now,
                                    .node = n->id,
                                    .records = n->batch,
                                    .n_records = n->n,
                                    .watermark = &n->clock,
                                    .promise = n->lamport};
    step(r, &ev);
    n->n = 0;
    if (r->last_lamport > n->lamport) /* the ACK's time */
        n->lamport = r->last_lamport;
}

/* One event of node i: a receive when a message waits (half the time), a
 * send (3%), else a local line. */
static void event(struct run *r, size_t i)
{
    struct node *n = &r->nodes[i];
    int kind = TSC_LOGREC_STDOUT;
    uint64_t seq;
    if (n->n_inbox > 0 && tsc_prng_below(&r->g, 2) == 0) {
        struct msg *m = &n->inbox[--n->n_inbox];
        if (tsc_vclock_merge(&n->clock, &m->clock) != 0)
            die("merge", TSC_ENOMEM);
        if (m->lamport > n->lamport)
            n->lamport = m->lamport;
        kind = TSC_LOGREC_RECV;
    } else if (tsc_prng_below(&r->g, 100) < SEND_PCT) {
        kind = TSC_LOGREC_SEND;
    }
    if (tsc_vclock_tick(&n->clock, n->id, &seq) != 0)
        die("tick", TSC_EFULL);
    n->lamport++;
    if (kind == TSC_LOGREC_SEND) {
        struct node *to = &r->nodes[(i + 1 + tsc_prng_below(&r->g, NODES - 1)) % NODES];
        if (to->n_inbox < MAX_INBOX) {
            struct msg *m = &to->inbox[to->n_inbox++];
            if (tsc_vclock_copy(&m->clock, &n->clock) != 0)
                die("copy", TSC_ENOMEM);
            m->lamport = n->lamport;
        }
    }
    struct tsc_logrec *x = &n->batch[n->n];
    if (tsc_vclock_copy(&x->clock, &n->clock) != 0)
        die("copy", TSC_ENOMEM);
    x->node = n->id;
    x->seq = seq;
    x->lamport = n->lamport;
    x->wall_us = 1700000000000000ull + r->now;
    x->run = 1;
    x->stage = 2;
    x->case_index = TSC_LOGREC_NO_CASE;
    x->kind = (uint8_t)kind;
    snprintf((char *)n->text[n->n], TEXT, "%-*llu", TEXT - 1, (unsigned long long)seq);
    x->text = n->text[n->n];
    x->len = TEXT;
    if (++n->n == BATCH)
        ship(r, n);
}

static void bench(uint64_t records)
{
    struct run r;
    memset(&r, 0, sizeof r);
    tsc_prng_seed(&r.g, 1);
    r.nodes = calloc(NODES, sizeof *r.nodes);
    if (r.nodes == NULL)
        die("nodes", TSC_ENOMEM);
    uint64_t ids[NODES];
    for (size_t i = 0; i < NODES; i++) {
        struct node *n = &r.nodes[i];
        n->id = ids[i] = 0x1000 + i;
        tsc_vclock_init(&n->clock);
        for (size_t k = 0; k < BATCH; k++)
            tsc_logrec_init(&n->batch[k]);
        for (size_t k = 0; k < MAX_INBOX; k++)
            tsc_vclock_init(&n->inbox[k].clock);
    }
    int rc = tsc_logmerge_new(&r.m, NULL, ids, NODES, NULL);
    if (rc != 0)
        die("new", rc);
    for (uint64_t e = 0; e < records; e++) {
        r.now++;
        event(&r, tsc_prng_below(&r.g, NODES));
    }
    for (size_t i = 0; i < NODES; i++) {
        struct node *n = &r.nodes[i];
        if (n->n > 0)
            ship(&r, n);
        struct tsc_logmerge_event ev = {.type = TSC_LOGMERGE_EV_NODE_DONE,
                                        .now = r.now,
                                        .node = n->id,
                                        .watermark = &n->clock,
                                        .promise = n->lamport};
        step(&r, &ev);
    }
    if (r.released != records || tsc_logmerge_stats(r.m)->buffered != 0) {
        fprintf(stderr, "bench_logmerge: %llu of %llu released\n", (unsigned long long)r.released,
                (unsigned long long)records);
        exit(1);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("logmerge_%llu_rate %.0f records/s\n", (unsigned long long)records,
           (double)records / r.merge_s);
    printf("logmerge_%llu_peak_buffered %llu records\n", (unsigned long long)records,
           (unsigned long long)r.peak_buffered);
    printf("logmerge_%llu_peak_rss %.1f MB\n", (unsigned long long)records,
           (double)ru.ru_maxrss / 1024.0);
    fflush(stdout);
    tsc_logmerge_free(r.m);
    for (size_t i = 0; i < NODES; i++) {
        struct node *n = &r.nodes[i];
        tsc_vclock_free(&n->clock);
        for (size_t k = 0; k < BATCH; k++)
            tsc_vclock_free(&n->batch[k].clock);
        for (size_t k = 0; k < MAX_INBOX; k++)
            tsc_vclock_free(&n->inbox[k].clock);
    }
    free(r.nodes);
}

int main(int argc, char **argv)
{
    uint64_t big = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000ull;
    if (big == 0) {
        fprintf(stderr, "usage: bench_logmerge [RECORDS]\n");
        return 2;
    }
    if (big > 1000000)
        bench(1000000);
    bench(big);
    return 0;
}
