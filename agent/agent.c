/* tsc — the agent's driver: start-up, the engine step loop, timers, signals,
 * graceful leave and shutdown (see agent.h for the file map).
 *
 * Everything runs on one libuv thread. The engine is stepped from callbacks
 * only (timer, UDP receive, a complete stream frame, signals), never from
 * inside another step, so the update's borrowed arrays are always consumed
 * before the engine runs again. */
#define _GNU_SOURCE
#include "agent/agent.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/log.h"
#include "common/alloc.h"

#define SUMMARY_INTERVAL_US TSC_SEC(10) /* rejected-packet summary at most this often */
#define SWEEP_INTERVAL_US   TSC_SEC(1)
#define TRIM_IDLE_US        TSC_SEC(5)
#define REJOIN_FIRST_US     TSC_SEC(1)
#define REJOIN_MAX_US       TSC_SEC(30)

/* TSC_DEBUG_LOOP_MS (start_loop): one agent per process. */
static struct {
    uv_prepare_t h;
    uint64_t limit_us, last_us, last_idle_ns;
    int on;
} turn_watch;

uint64_t tsc__agent_now(void)
{
    return uv_hrtime() / 1000u;
}

uint64_t tsc__agent_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static const char *status_or_new(int s)
{
    return s == 255 ? "new" : tsc_status_name(s);
}

static void log_changes(struct tsc_agent *a, const struct tsc_gossip_change *ch, size_t n)
{
    char addr[TSC_ADDR_STRLEN];
    for (size_t i = 0; i < n; i++) {
        int self = ch[i].id == a->self_id;
        tsc_logf(TSC_LOG_INFO, "member %016llx %s%s %s->%s inc=%llu", (unsigned long long)ch[i].id,
                 tsc_addr_format(&ch[i].addr, addr), self ? " (self)" : "",
                 status_or_new(ch[i].old_status), tsc_status_name(ch[i].new_status),
                 (unsigned long long)ch[i].incarnation);
    }
}

/* Joined = some member besides us is alive. Logged once per transition so
 * the log tells when a node found (or lost) the cluster. */
static void track_joined(struct tsc_agent *a)
{
    size_t alive = tsc_gossip_count_status(a->gossip, TSC_STATUS_ALIVE);
    int joined = alive > 1;
    if (joined && !a->was_joined)
        tsc_logf(TSC_LOG_INFO, "joined: %zu members alive", alive);
    else if (!joined && a->was_joined && !a->leaving)
        tsc_logf(TSC_LOG_WARN, "no other member alive; will retry joining");
    if (!joined && a->was_joined)
        a->rejoin_backoff_us = REJOIN_FIRST_US;
    a->was_joined = joined;
}

static void on_timer(uv_timer_t *t);
static void gossip_tick(struct tsc_agent *a);

static void arm_timer(struct tsc_agent *a, uint64_t deadline, uint64_t now)
{
    uint64_t delay_ms;
    if (deadline == TSC_TIME_NEVER)
        delay_ms = 1000;
    else if (deadline <= now)
        delay_ms = 0;
    else
        delay_ms = (deadline - now + 999) / 1000; /* never wake before the deadline */
    /* uv_timer_start counts from the loop's cached time; refresh it so a long
     * callback does not make the timer fire early. */
    uv_update_time(&a->loop);
    uv_timer_start(&a->timer, on_timer, delay_ms, 0);
}

void tsc__agent_step(struct tsc_agent *a, struct tsc_gossip_event *ev)
{
    struct tsc_gossip_update up;
    if (a->stopping)
        return;
    memset(&up, 0, sizeof up);
    ev->now = tsc__agent_now();
    int rc = tsc_gossip_step(a->gossip, ev, &up);
    if (rc != 0) {
        /* Out of memory (or a driver bug): the engine stayed consistent, so
         * try again shortly rather than die with the cluster watching. */
        tsc_logf(TSC_LOG_ERROR, "engine step (event %d): %s", ev->type, tsc_strerror(rc));
        arm_timer(a, ev->now + TSC_MSEC(100), ev->now);
        return;
    }
    for (size_t i = 0; i < up.n_out; i++) {
        const struct tsc_gossip_out *o = &up.out[i];
        if (o->kind == TSC_GOSSIP_OUT_DATAGRAM)
            tsc__net_send_datagram(a, &o->to, o->data, o->len);
        else if (o->kind == TSC_GOSSIP_OUT_STREAM)
            tsc__net_send_stream(a, &o->to, o->data, o->len);
    }
    const struct tsc_gossip_stats *st = tsc_gossip_stats(a->gossip);
    int changed = up.n_changes > 0;
    if (up.n_changes > 0 || st->refutations != a->last_refutations) {
        a->last_refutations = st->refutations;
        log_changes(a, up.changes, up.n_changes);
        tsc__state_on_changes(a, up.changes, up.n_changes);
        track_joined(a);
    }
    uint64_t next_deadline = up.next_deadline;
    if (a->leaving && up.leave_done && !a->gossip_left) {
        a->gossip_left = 1;
        tsc_logf(TSC_LOG_INFO, "membership: leave announced");
    }
    /* The update is consumed: the election driver may run now (it never
     * steps the gossip engine from here, see coord.c). */
    if (changed) {
        tsc__coord_on_membership(a);
        for (size_t i = 0; i < up.n_changes && !a->stopping; i++) {
            int s = up.changes[i].new_status;
            int was = up.changes[i].old_status;
            int dead = s == TSC_STATUS_DEAD || s == TSC_STATUS_LEFT;
            int was_dead = was == TSC_STATUS_DEAD || was == TSC_STATUS_LEFT;
            if (dead != was_dead || was == 255)
                tsc__runs_on_member(a, up.changes[i].id, !dead);
            if (s != was && !a->stopping)
                tsc__logs_on_member(a, up.changes[i].id, s);
        }
    }
    if (a->gossip_left)
        tsc__agent_leave_progress(a);
    if (a->stopping)
        return;
    arm_timer(a, next_deadline, ev->now);
}

void tsc__agent_leave_progress(struct tsc_agent *a)
{
    if (a->stopping || !a->leaving || !a->gossip_left || !a->coord.leave_done)
        return;
    tsc_logf(TSC_LOG_INFO, "left the cluster");
    tsc__agent_stop(a);
}

/* Rejected packets are counted by the engine; log a summary of what changed
 * at most every SUMMARY_INTERVAL_US so a flood of junk costs one line. */
static void log_rejections(struct tsc_agent *a, uint64_t now)
{
    const struct tsc_gossip_stats *s = tsc_gossip_stats(a->gossip);
    struct tsc_gossip_stats *l = &a->last_stats;
    if (now < a->next_summary_us)
        return;
    a->next_summary_us = now + SUMMARY_INTERVAL_US;
    if (s->rejected != l->rejected) {
        tsc_logf(TSC_LOG_WARN,
                 "rejected %llu packets in the last %us (auth=%llu replay=%llu malformed=%llu "
                 "cluster=%llu sig=%llu)",
                 (unsigned long long)(s->rejected - l->rejected),
                 (unsigned)(SUMMARY_INTERVAL_US / 1000000u),
                 (unsigned long long)(s->rejected_auth - l->rejected_auth),
                 (unsigned long long)(s->rejected_replay - l->rejected_replay),
                 (unsigned long long)(s->rejected_malformed - l->rejected_malformed),
                 (unsigned long long)(s->rejected_cluster - l->rejected_cluster),
                 (unsigned long long)(s->rejected_sig - l->rejected_sig));
    }
    *l = *s;
}

/* While no other member is alive, push-pull with the join addresses again,
 * backing off to REJOIN_MAX_US: the seed may start after us, or the whole
 * cluster may have restarted. */
static void maybe_rejoin(struct tsc_agent *a, uint64_t now)
{
    struct tsc_gossip_event ev;
    if (a->leaving || a->n_rejoin == 0 || a->was_joined || now < a->next_rejoin_us)
        return;
    if (tsc_gossip_count_status(a->gossip, TSC_STATUS_ALIVE) > 1)
        return;
    tsc_logf(TSC_LOG_INFO, "join: still alone; push-pull with %zu address(es) again", a->n_rejoin);
    a->next_rejoin_us = now + a->rejoin_backoff_us;
    a->rejoin_backoff_us =
        a->rejoin_backoff_us * 2 > REJOIN_MAX_US ? REJOIN_MAX_US : a->rejoin_backoff_us * 2;
    memset(&ev, 0, sizeof ev);
    ev.type = TSC_GOSSIP_EV_JOIN;
    ev.addrs = a->rejoin;
    ev.n_addrs = a->n_rejoin;
    tsc__agent_step(a, &ev);
}

/* Timeouts after the sockets. libuv runs a turn's expired timers BEFORE
 * it polls for I/O. After a long turn (a loaded host: a busy agent waited
 * for a CPU longer than it worked), the messages that answer a timeout --
 * a probe's ack, the leader's heartbeat, a majority's acks that renew its
 * lease -- are already in the socket buffers, but a timeout handled at once
 * does not see them: false suspicions, needless elections, a coordinator
 * stepping down (measured: 8 agents flooding logs on 2 cores changed the
 * coordinator every second). So the protocol timers only mark their work
 * due; it runs in the check phase, right after one poll for I/O, which the
 * idle handle keeps from blocking. */
static void on_due(uv_check_t *h)
{
    struct tsc_agent *a = h->data;
    unsigned due = a->due;
    a->due = 0;
    uv_idle_stop(&a->due_idle);
    uv_check_stop(&a->due_check);
    if (a->stopping)
        return;
    if (due & TSC__DUE_GOSSIP)
        gossip_tick(a);
    if ((due & TSC__DUE_COORD) && !a->stopping)
        tsc__coord_tick(a);
}

static void on_due_idle(uv_idle_t *h)
{
    (void)h;
}

void tsc__agent_due(struct tsc_agent *a, unsigned what)
{
    if (a->stopping || !(a->handles_open & TSC__H_DUE))
        return;
    if (a->due == 0) {
        uv_idle_start(&a->due_idle, on_due_idle);
        uv_check_start(&a->due_check, on_due);
    }
    a->due |= what;
}

static void on_timer(uv_timer_t *t)
{
    tsc__agent_due(t->data, TSC__DUE_GOSSIP);
}

/* The free heap back to the system once the log traffic has stopped for
 * TRIM_IDLE_US: main.c keeps up to 128 MiB of it so that a flood does not
 * fault in its buffers and memtables afresh, but an idle agent on a small
 * machine under test need not hold that much. */
static void maybe_trim(struct tsc_agent *a, uint64_t now)
{
    uint64_t mark = a->logs.c.records + a->logs.c.shipped + a->logs.c.merged;
    if (mark != a->trim_mark) {
        a->trim_mark = mark;
        a->trim_since = now;
        a->trimmed = 0;
    } else if (!a->trimmed && now - a->trim_since >= TRIM_IDLE_US) {
        malloc_trim(0);
        a->trimmed = 1;
    }
}

static void gossip_tick(struct tsc_agent *a)
{
    struct tsc_gossip_event ev;
    uint64_t now = tsc__agent_now();
    if (now >= a->next_sweep_us) {
        a->next_sweep_us = now + SWEEP_INTERVAL_US;
        tsc__net_sweep(a, now);
        maybe_trim(a, now);
    }
    log_rejections(a, now);
    maybe_rejoin(a, now);
    memset(&ev, 0, sizeof ev);
    ev.type = TSC_GOSSIP_EV_TICK;
    tsc__agent_step(a, &ev);
}

static void on_leave_timeout(uv_timer_t *t)
{
    struct tsc_agent *a = t->data;
    tsc_logf(TSC_LOG_WARN, "leave not confirmed within %d ms; stopping anyway",
             TSC_AGENT_LEAVE_CAP_MS);
    tsc__agent_stop(a);
}

void tsc__agent_leave(struct tsc_agent *a)
{
    struct tsc_gossip_event ev;
    if (a->stopping)
        return;
    if (a->leaving) {
        tsc_logf(TSC_LOG_INFO, "second signal: stopping now");
        tsc__agent_stop(a);
        return;
    }
    a->leaving = 1;
    tsc_logf(TSC_LOG_INFO, "leaving the cluster");
    uv_timer_start(&a->leave_timer, on_leave_timeout, TSC_AGENT_LEAVE_CAP_MS, 0);
    /* Hand the coordinator role over first (TimeoutNow to the most
     * up-to-date voter, thesis §3.10), then announce LEFT; the agent stops
     * when both are done, or after TSC_AGENT_LEAVE_CAP_MS. */
    tsc__coord_leave(a);
    if (a->stopping)
        return;
    memset(&ev, 0, sizeof ev);
    ev.type = TSC_GOSSIP_EV_LEAVE;
    tsc__agent_step(a, &ev);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct tsc_agent *a = s->data;
    tsc_logf(TSC_LOG_INFO, "received %s", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    tsc__agent_leave(a);
}

static void close_if(struct tsc_agent *a, int bit, uv_handle_t *h)
{
    if ((a->handles_open & bit) && !uv_is_closing(h))
        uv_close(h, NULL);
}

void tsc__agent_stop(struct tsc_agent *a)
{
    if (a->stopping)
        return;
    a->stopping = 1;
    close_if(a, TSC__H_TIMER, (uv_handle_t *)&a->timer);
    close_if(a, TSC__H_LEAVE_TIMER, (uv_handle_t *)&a->leave_timer);
    close_if(a, TSC__H_SIGTERM, (uv_handle_t *)&a->sigterm);
    close_if(a, TSC__H_SIGINT, (uv_handle_t *)&a->sigint);
    close_if(a, TSC__H_DUE, (uv_handle_t *)&a->due_idle);
    close_if(a, TSC__H_DUE, (uv_handle_t *)&a->due_check);
    tsc__coord_close(a);
    tsc__runs_close(a);
    tsc__logs_close(a);
    tsc__net_close(a);
    if (turn_watch.on) {
        turn_watch.on = 0;
        uv_close((uv_handle_t *)&turn_watch.h, NULL);
    }
}

static int make_data_dir(const char *dir, char *errmsg)
{
    struct stat st;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        tsc_errmsg_setf(errmsg, "data dir %s: %s", dir, strerror(errno));
        return TSC_EIO;
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        tsc_errmsg_setf(errmsg, "data dir %s: not a directory", dir);
        return TSC_EIO;
    }
    return 0;
}

static int start_engine(struct tsc_agent *a, char *errmsg)
{
    struct tsc_gossip_identity id;
    struct tsc_gossip_config cfg = a->cfg.gossip;
    struct tsc_buf meta;
    int rc;

    tsc_buf_init(&meta);
    rc = tsc_meta_encode(&a->cfg.meta, &meta, errmsg);
    if (rc != 0) {
        tsc_errmsg_wrapf(errmsg, "node meta");
        tsc_buf_free(&meta);
        return rc;
    }
    memset(&id, 0, sizeof id);
    memcpy(id.pk, a->pk, sizeof id.pk);
    memcpy(id.sk, a->sk, sizeof id.sk);
    id.addr = a->cfg.advertise;
    id.meta = meta.data;
    id.meta_len = meta.len;
    id.incarnation = a->incarnation;
    /* Wall-clock µs: larger than any seq this node id used before a restart,
     * so peers' replay windows accept us again without any stored counter. */
    id.seq_start = tsc__agent_wall_us();
    randombytes_buf(&cfg.seed, sizeof cfg.seed);
    rc = tsc_gossip_new(&a->gossip, &cfg, &a->wire, &id, tsc__agent_now(), errmsg);
    tsc_buf_free(&meta);
    sodium_memzero(&id, sizeof id);
    if (rc != 0)
        tsc_errmsg_wrapf(errmsg, "gossip engine");
    return rc;
}

static void log_startup(struct tsc_agent *a)
{
    char addr[TSC_ADDR_STRLEN], roles[256] = "";
    size_t off = 0;
    for (unsigned i = 0; i < a->cfg.meta.n_roles && off < sizeof roles; i++)
        off += (size_t)snprintf(roles + off, sizeof roles - off, "%s%s", i ? "," : "",
                                a->cfg.meta.roles[i]);
    tsc_logf(TSC_LOG_INFO, "started: addr=%s inc=%llu roles=%s data-dir=%s socket=%s",
             tsc_addr_format(&a->cfg.advertise, addr), (unsigned long long)a->incarnation,
             roles[0] ? roles : "-", a->cfg.data_dir, a->sock_path);
    for (size_t i = 0; i < a->n_rejoin; i++)
        tsc_logf(TSC_LOG_INFO, "join: %s%s", tsc_addr_format(&a->rejoin[i], addr),
                 a->cfg.n_joins ? "" : " (stored member)");
}

/* Diagnostic: TSC_DEBUG_LOOP_MS=N logs every loop turn that was busy
 * (not waiting in poll) for more than N ms. The cluster's failure detector
 * and election answer from this loop, so a long turn is a missed heartbeat. */
static void on_turn(uv_prepare_t *h)
{
    uint64_t now = uv_hrtime() / 1000u, idle = uv_metrics_idle_time(h->loop);
    uint64_t busy = now - turn_watch.last_us - (idle - turn_watch.last_idle_ns) / 1000u;
    if (turn_watch.last_us != 0 && busy > turn_watch.limit_us && busy < now)
        tsc_logf(TSC_LOG_WARN, "loop turn busy for %llu ms", (unsigned long long)(busy / 1000u));
    turn_watch.last_us = now;
    turn_watch.last_idle_ns = idle;
}

static void turn_watch_start(struct tsc_agent *a)
{
    const char *s = getenv("TSC_DEBUG_LOOP_MS");
    if (s == NULL || atoi(s) <= 0)
        return;
    turn_watch.limit_us = (uint64_t)atoi(s) * 1000u;
    uv_prepare_init(&a->loop, &turn_watch.h);
    uv_prepare_start(&turn_watch.h, on_turn);
    uv_unref((uv_handle_t *)&turn_watch.h);
    turn_watch.on = 1;
}

static void start_loop(struct tsc_agent *a)
{
    turn_watch_start(a);
    struct tsc_gossip_event ev;
    uv_timer_init(&a->loop, &a->timer);
    a->timer.data = a;
    uv_timer_init(&a->loop, &a->leave_timer);
    a->leave_timer.data = a;
    uv_signal_init(&a->loop, &a->sigterm);
    a->sigterm.data = a;
    uv_signal_init(&a->loop, &a->sigint);
    a->sigint.data = a;
    uv_idle_init(&a->loop, &a->due_idle);
    uv_check_init(&a->loop, &a->due_check);
    a->due_idle.data = a->due_check.data = a;
    a->handles_open |=
        TSC__H_TIMER | TSC__H_LEAVE_TIMER | TSC__H_SIGTERM | TSC__H_SIGINT | TSC__H_DUE;
    uv_signal_start(&a->sigterm, on_signal, SIGTERM);
    uv_signal_start(&a->sigint, on_signal, SIGINT);
    uv_timer_start(&a->timer, on_timer, 0, 0);
    tsc__coord_start(a); /* before any gossip step can report membership */
    tsc__runs_start(a);
    tsc__logs_start(a);

    a->rejoin_backoff_us = REJOIN_FIRST_US;
    if (a->n_rejoin > 0) {
        memset(&ev, 0, sizeof ev);
        ev.type = TSC_GOSSIP_EV_JOIN;
        ev.addrs = a->rejoin;
        ev.n_addrs = a->n_rejoin;
        a->next_rejoin_us = tsc__agent_now() + REJOIN_FIRST_US;
        tsc__agent_step(a, &ev);
    }
}

int tsc_agent_run(const struct tsc_agent_config *cfg, char *errmsg)
{
    char path[4096];
    int rc;
    struct tsc_agent *a = tsc_calloc(1, sizeof *a);
    if (a == NULL) {
        tsc_errmsg_setf(errmsg, "out of memory");
        return TSC_ENOMEM;
    }
    a->cfg = *cfg;
    a->started_us = tsc__agent_now();
    tsc_buf_init(&a->scratch);
    tsc_buf_init(&a->body);
    signal(SIGPIPE, SIG_IGN); /* a peer closing early must not kill the agent */

    if ((rc = tsc_crypto_init()) != 0) {
        tsc_errmsg_setf(errmsg, "libsodium initialisation failed");
        goto out;
    }
    if ((rc = make_data_dir(cfg->data_dir, errmsg)) != 0)
        goto out;
    snprintf(path, sizeof path, "%s/db", cfg->data_dir);
    if ((rc = tsc_store_rocksdb_open(&a->store, path, errmsg)) != 0)
        goto out;
    a->store_open = 1;
    if ((rc = tsc__state_load(a, errmsg)) != 0)
        goto out;
    tsc_log_set_id(a->self_id);
    tsc_wire_init(&a->wire, cfg->key, &tsc_crypto_sodium);
    if (cfg->n_joins > 0) {
        memcpy(a->rejoin, cfg->joins, cfg->n_joins * sizeof cfg->joins[0]);
        a->n_rejoin = cfg->n_joins;
    } else {
        tsc__state_load_rejoin(a);
    }
    if ((rc = uv_loop_init(&a->loop)) != 0) {
        tsc_errmsg_setf(errmsg, "event loop: %s", uv_strerror(rc));
        rc = TSC_EIO;
        goto out;
    }
    if (getenv("TSC_DEBUG_LOOP_MS") != NULL)
        uv_loop_configure(&a->loop, UV_METRICS_IDLE_TIME);
    if ((rc = start_engine(a, errmsg)) == 0 && (rc = tsc__coord_open(a, errmsg)) == 0 &&
        (rc = tsc__net_start(a, errmsg)) == 0 && (rc = tsc__runs_open(a, errmsg)) == 0 &&
        (rc = tsc__logs_open(a, errmsg)) == 0) {
        log_startup(a);
        start_loop(a);
        tsc__agent_trim_startup_pages();
    } else {
        a->stopping = 1;
        tsc__net_close(a);
    }
    /* Runs until every handle is closed: after leave/stop, or at once when
     * start-up failed (the close callbacks still have to run). */
    uv_run(&a->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&a->loop) != 0)
        tsc_logf(TSC_LOG_WARN, "event loop closed with handles still open");
    if (rc == 0)
        tsc_logf(TSC_LOG_INFO, "stopped");
out:
    tsc__logs_free(a);
    tsc__runs_free(a);
    tsc__coord_free(a);
    if (a->gossip != NULL)
        tsc_gossip_free(a->gossip);
    if (a->store_open)
        a->store.close(&a->store);
    tsc_buf_free(&a->scratch);
    tsc_buf_free(&a->body);
    sodium_memzero(a->sk, sizeof a->sk);
    sodium_memzero(a->cfg.key, sizeof a->cfg.key);
    tsc_free(a);
    return rc;
}
