/* tsc — runs, the participant side: the driver of the participant engine
 * (barrier/barrier.h) and the process runner (runner.c).
 *
 * A START (sealed, from the coordinator) is fenced by term (coord.c), then
 * given to the engine, which says whether to spawn, to answer with a stored
 * result, or nothing (already running). The contract's order is kept: the
 * STARTED mark is in the store (fsynced) before the script is spawned, and
 * the result is in the store (the WAL) before the report leaves. So after a crash the
 * restarted agent knows every stage it ever began: one without a result is
 * reported LOST (and the process group it left behind is killed), never run
 * again.
 *
 * Key space "results": [run u64 BE][stage u32 BE] -> msgpack
 *   [state, status, exit_code, signal, start_us, end_us, message, output]
 * with the whole captured output (runner.c bounds it to TSC_RUN_MAX_OUTPUT);
 * reports carry its tail only (TSC_PART_MAX_REPORT_OUTPUT).
 *
 * Logs (logs.h): every line the script prints is a record; a stage that is
 * accepted for the first time is an EVENT that merges the stamp of the
 * START (so it follows the coordinator's stage event in the merged log),
 * its end is an EVENT written before the REPORT leaves, and the REPORT
 * carries the stamp after it. The run's stream is closed when its last
 * stage (suite finalize) ends here, or when a later run starts. */
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/log.h"
#include "common/alloc.h"
#include "wire/mp.h"

static void part_step(struct tsc_agent *a, struct tsc_part_event *ev);

static void result_key(uint8_t key[12], uint64_t run, uint32_t stage)
{
    tsc_store_put_be64(key, run);
    key[8] = (uint8_t)(stage >> 24);
    key[9] = (uint8_t)(stage >> 16);
    key[10] = (uint8_t)(stage >> 8);
    key[11] = (uint8_t)stage;
}

static int result_encode(int state, const struct tsc_stage_result *r, struct tsc_buf *out)
{
    struct tsc_mp_writer w;
    static const struct tsc_stage_result none;
    if (r == NULL)
        r = &none;
    tsc_mp_writer_init(&w, out);
    msgpack_pack_array(&w.pk, 8);
    msgpack_pack_uint8(&w.pk, (uint8_t)state);
    msgpack_pack_uint8(&w.pk, r->status);
    msgpack_pack_int32(&w.pk, r->exit_code);
    msgpack_pack_int32(&w.pk, r->signal);
    msgpack_pack_uint64(&w.pk, r->start_us);
    msgpack_pack_uint64(&w.pk, r->end_us);
    msgpack_pack_str_with_body(&w.pk, r->message ? r->message : "", r->message_len);
    msgpack_pack_bin_with_body(&w.pk, r->output, r->output_len);
    return tsc_mp_writer_status(&w);
}

/* Signed 32-bit fields were packed as ints: accept non-negative ones only
 * (exit codes and signal numbers are). */
static int read_i32(struct tsc_mp_reader *r, int32_t *v)
{
    uint64_t u;
    if (tsc_mp_read_uint(r, &u) != 0 || u > INT32_MAX)
        return TSC_EMALFORMED;
    *v = (int32_t)u;
    return 0;
}

static int result_decode(const uint8_t *p, size_t len, int *state, struct tsc_stage_result *r)
{
    struct tsc_mp_reader rd;
    uint32_t n, mlen, olen;
    uint64_t st, status;
    memset(r, 0, sizeof *r);
    tsc_mp_reader_init(&rd, p, len);
    if (tsc_mp_read_array(&rd, &n) != 0 || n != 8 || tsc_mp_read_uint(&rd, &st) != 0 ||
        tsc_mp_read_uint(&rd, &status) != 0 || read_i32(&rd, &r->exit_code) != 0 ||
        read_i32(&rd, &r->signal) != 0 || tsc_mp_read_uint(&rd, &r->start_us) != 0 ||
        tsc_mp_read_uint(&rd, &r->end_us) != 0 || tsc_mp_read_str(&rd, &r->message, &mlen) != 0 ||
        tsc_mp_read_bin(&rd, &r->output, &olen) != 0 || st > TSC_PART_DONE || status > 255)
        return TSC_EMALFORMED;
    *state = (int)st;
    r->status = (uint8_t)status;
    r->message_len = mlen;
    r->output_len = olen;
    return 0;
}

/* STARTED is fsynced: it is what prevents a second execution after any
 * crash. A result goes to the WAL only: an OS crash may lose it, and the
 * restarted agent then reports the stage LOST (its STARTED mark is there),
 * which is the truth as far as it can tell. */
static int persist(struct tsc_agent *a, uint64_t run, uint32_t stage, int state,
                   const struct tsc_stage_result *r)
{
    uint8_t key[12];
    struct tsc_buf v;
    char errmsg[TSC_ERRMSG_SIZE];
    tsc_buf_init(&v);
    result_key(key, run, stage);
    int rc = result_encode(state, r, &v);
    if (rc == 0)
        rc = a->store.put(&a->store, TSC_STORE_RESULTS, key, sizeof key, v.data, v.len,
                          state == TSC_PART_STARTED, errmsg);
    if (rc != 0) {
        a->c.store_errors++;
        tsc_logf(TSC_LOG_ERROR, "run %llu stage %u: cannot store the stage state: %s",
                 (unsigned long long)run, stage, tsc_strerror(rc));
    }
    tsc_buf_free(&v);
    return rc;
}

static void workdir(struct tsc_agent *a, uint64_t run, char *out, size_t cap)
{
    snprintf(out, cap, "%s/run-%llu", a->runs.work_root, (unsigned long long)run);
}

static void self_name(struct tsc_agent *a, char *out, size_t cap)
{
    const struct tsc_meta *m = &a->cfg.meta;
    for (unsigned i = 0; i < m->n_labels; i++) {
        if (strcmp(m->labels[i].key, "name") == 0) {
            snprintf(out, cap, "%s", m->labels[i].val);
            return;
        }
    }
    snprintf(out, cap, "node-%016llx", (unsigned long long)a->self_id);
}

static void on_script_done(void *ctx, const struct tsc_runner_result *res)
{
    struct tsc_agent *a = ctx;
    struct tsc_stage_result r;
    struct tsc_part_event ev;
    memset(&r, 0, sizeof r);
    r.status = (uint8_t)res->status;
    r.exit_code = res->exit_code;
    r.signal = res->signal;
    r.start_us = res->start_us;
    r.end_us = res->end_us;
    r.output = res->output;
    r.output_len = res->output_len;
    r.message = res->message;
    r.message_len = strlen(res->message);
    memset(&ev, 0, sizeof ev);
    ev.type = TSC_PART_EV_DONE;
    ev.run = res->run;
    ev.stage = res->stage;
    ev.result = &r;
    if (a->stopping)
        return;
    /* The engine keeps (and asks to persist) the report's tail only; the
     * store gets the whole output, before the engine may report. */
    if (persist(a, res->run, res->stage, TSC_PART_DONE, &r) != 0)
        return;
    a->runs.done_stored = 1;
    part_step(a, &ev);
    a->runs.done_stored = 0;
}

/* TSC_STAGE: a START names its case, not its stage kind; the numbering
 * (wire/suite.h) gives the kind: suite stages have no case, stage 0 is the
 * suite init; case stages come in init/run/finalize triples from stage 1. */
static const char *stage_name(const struct tsc_stage_start *s)
{
    if (s->case_name_len == 0)
        return s->stage == 0 ? "init" : "finalize";
    static const char *const k[] = {"init", "run", "finalize"};
    return k[(s->stage - 1) % 3];
}

/* Spawn the script of a START; 0 or the runner's error (errmsg says why). */
static int spawn(struct tsc_agent *a, const struct tsc_stage_start *s, char *errmsg)
{
    char dir[4200], name[TSC_META_STR + 24], e_run[48], e_stage[48], e_idx[48], e_case[160],
        e_node[120], e_role[120], e_sock[4300];
    struct tsc_buf script;
    workdir(a, s->run, dir, sizeof dir);
    self_name(a, name, sizeof name);
    snprintf(e_run, sizeof e_run, "TSC_RUN=%llu", (unsigned long long)s->run);
    snprintf(e_stage, sizeof e_stage, "TSC_STAGE=%s", stage_name(s));
    snprintf(e_idx, sizeof e_idx, "TSC_STAGE_INDEX=%u", s->stage);
    snprintf(e_case, sizeof e_case, "TSC_CASE=%.*s", (int)s->case_name_len, s->case_name);
    snprintf(e_node, sizeof e_node, "TSC_NODE=%s", name);
    snprintf(e_role, sizeof e_role, "TSC_ROLE=%.*s", (int)s->role_len, s->role);
    snprintf(e_sock, sizeof e_sock, "TSC_SOCKET=%s", a->sock_path);
    const char *env[] = {e_run, e_stage, e_idx, e_case, e_node, e_role, e_sock};
    struct tsc_runner_spec spec;
    memset(&spec, 0, sizeof spec);
    tsc_buf_init(&script);
    if (tsc_buf_append(&script, s->script, s->script_len) != 0 ||
        tsc_buf_append(&script, "", 1) != 0) {
        tsc_buf_free(&script);
        tsc_errmsg_setf(errmsg, "out of memory");
        return TSC_ENOMEM;
    }
    spec.run = s->run;
    spec.stage = s->stage;
    spec.script = (const char *)script.data;
    spec.workdir = dir;
    spec.env = env;
    spec.n_env = sizeof env / sizeof env[0];
    spec.timeout_us = s->timeout_us;
    /* With the "bytes cut" marker the result must still fit the limit the
     * barrier checks (a longer one would be refused and never reported). */
    spec.max_output = TSC_RUN_MAX_OUTPUT - TSC_RUNNER_MARKER_MAX;
    int rc = tsc_runner_start(&a->runs.runner, &spec, errmsg);
    tsc_buf_free(&script);
    return rc;
}

static void send_report(struct tsc_agent *a, const struct tsc_part_report *r)
{
    struct tsc_addr to;
    struct tsc_buf body;
    if (tsc__runs_member(a, r->to, &to, NULL) != 0)
        return; /* unknown coordinator: it will ask again */
    tsc_buf_init(&body);
    if (tsc_stage_report_encode(a->wire.crypto, a->sk, &r->report, &body) == 0 &&
        tsc__logs_stamp_append(a, r->report.run, &body) == 0)
        tsc__runs_send(a, &to, TSC_MSG_STAGE_REPORT, body.data, body.len);
    tsc_buf_free(&body);
}

/* ---- logs ------------------------------------------------------------------ */

/* A stage accepted for the first time (it runs now, or passes at once). */
static void log_start(struct tsc_agent *a, const struct tsc_stage_start *s,
                      const struct tsc__logstamp *stamp)
{
    /* Runs run one after the other: a later one means the earlier ended. */
    for (struct tsc__logstream *o = a->logs.streams; o != NULL; o = o->next)
        if (o->run < s->run && !o->closed)
            tsc__logs_close_run(a, o->run);
    struct tsc__logstream *x = tsc__logs_stream_get(a, s->run);
    if (x == NULL)
        return;
    uint32_t ci = s->case_name_len > 0 && s->stage > 0 ? (s->stage - 1) / 3 : TSC_LOGREC_NO_CASE;
    tsc__logs_stage_name(x->part_name, sizeof x->part_name, s->case_name, s->case_name_len,
                         s->stage);
    x->part_stage = s->stage;
    x->part_case = ci;
    x->part_last = s->case_name_len == 0 && s->stage != 0;
    x->stage = s->stage;
    x->case_index = ci;
    tsc__logs_eventf(a, s->run, stamp, "stage %s start", x->part_name);
}

static void log_end(struct tsc_agent *a, uint64_t run, uint32_t stage,
                    const struct tsc_stage_result *r)
{
    struct tsc__logstream *x = tsc__logs_stream(a, run);
    char name[TSC__LOGS_STAGE_NAME];
    if (x != NULL && x->part_stage == stage)
        snprintf(name, sizeof name, "%s", x->part_name);
    else
        snprintf(name, sizeof name, "%u", stage);
    tsc__logs_eventf(a, run, NULL, "stage %s end: %s exit %d", name,
                     tsc_result_status_name(r ? r->status : TSC_RESULT_ERROR),
                     r ? (int)r->exit_code : -1);
}

/* After the report of the run's last stage: nothing more comes from here,
 * unless this agent coordinates (its "run ended" comes later: runs.c closes
 * the stream then, on every voter). */
static void log_maybe_close(struct tsc_agent *a, uint64_t run, uint32_t stage)
{
    struct tsc__logstream *x = tsc__logs_stream(a, run);
    if (x != NULL && x->part_last && x->part_stage == stage && !a->runs.acting)
        tsc__logs_close_run(a, run);
}

static void on_line(void *ctx, uint64_t run, uint32_t stage, int is_stderr, const uint8_t *p,
                    size_t len)
{
    tsc__logs_line(ctx, run, stage, is_stderr, p, len);
}

static void part_step(struct tsc_agent *a, struct tsc_part_event *ev)
{
    struct tsc_part_update up;
    struct tsc_stage_start start;
    char errmsg[TSC_ERRMSG_SIZE] = "";
    int spawn_failed = 0;
    if (a->runs.p == NULL)
        return;
    memset(&up, 0, sizeof up);
    ev->now = tsc__agent_now();
    tsc_part_step(a->runs.p, ev, &up);
    if (up.persist_started && persist(a, up.run, up.stage, TSC_PART_STARTED, NULL) != 0)
        return; /* never run a script we could not remember starting */
    if (up.persist_done && !a->runs.done_stored &&
        persist(a, up.run, up.stage, TSC_PART_DONE, up.result) != 0)
        return; /* no report for a result we could not keep */
    if (up.kill)
        tsc_runner_kill_run(&a->runs.runner, up.kill_run);
    int first = ev->type == TSC_PART_EV_START && ev->start != NULL && (up.spawn || up.persist_done);
    if (first)
        log_start(a, ev->start, a->runs.start_stamp);
    int ended = up.persist_done && (ev->type == TSC_PART_EV_DONE || first);
    if (ended)
        log_end(a, up.run, up.stage, up.result);
    if (up.spawn && up.start != NULL) {
        start = *up.start;
        if (spawn(a, &start, errmsg) != 0) {
            spawn_failed = 1;
            tsc_logf(TSC_LOG_WARN, "run %llu stage %u: %s", (unsigned long long)start.run,
                     start.stage, errmsg);
        }
    }
    for (size_t i = 0; i < up.n_reports; i++)
        send_report(a, &up.reports[i]);
    if (ended)
        log_maybe_close(a, up.run, up.stage);
    if (spawn_failed) {
        struct tsc_stage_result r;
        struct tsc_part_event done;
        memset(&r, 0, sizeof r);
        r.status = TSC_RESULT_ERROR;
        r.message = errmsg;
        r.message_len = strlen(errmsg);
        memset(&done, 0, sizeof done);
        done.type = TSC_PART_EV_DONE;
        done.run = start.run;
        done.stage = start.stage;
        done.result = &r;
        part_step(a, &done);
    }
}

void tsc__part_on_start(struct tsc_agent *a, const struct tsc_envelope *env)
{
    struct tsc_stage_start s;
    struct tsc_part_event ev;
    struct tsc__logstamp st;
    size_t len = env->body_len;
    /* The coordinator's stamp may follow the START (logs.h). */
    int stamped = tsc__logs_stamp_split(a, env->body, env->body_len, &len, &st);
    if (stamped < 0)
        len = env->body_len;
    if (tsc_stage_start_decode(env->body, len, &s) != 0) {
        a->c.control_rejected++;
        if (stamped > 0)
            tsc_vclock_free(&st.clock);
        return;
    }
    if (tsc__coord_fence(a, s.term) != 0) {
        tsc_logf(TSC_LOG_DEBUG, "run %llu stage %u: START of stale term %llu ignored",
                 (unsigned long long)s.run, s.stage, (unsigned long long)s.term);
        if (stamped > 0)
            tsc_vclock_free(&st.clock);
        return;
    }
    memset(&ev, 0, sizeof ev);
    ev.type = TSC_PART_EV_START;
    ev.from = env->sender;
    ev.start = &s;
    ev.term = s.term;
    ev.run = s.run;
    ev.stage = s.stage;
    a->runs.start_stamp = stamped > 0 ? &st : NULL;
    part_step(a, &ev);
    a->runs.start_stamp = NULL;
    if (s.follow_len > 0) {
        char dir[4200];
        workdir(a, s.run, dir, sizeof dir);
        tsc__logs_follow(a, s.run, dir, s.follow, s.follow_len);
    }
    if (stamped > 0)
        tsc_vclock_free(&st.clock);
}

void tsc__part_on_cancel(struct tsc_agent *a, const struct tsc_envelope *env)
{
    struct tsc_stage_cancel c;
    struct tsc_part_event ev;
    if (tsc_stage_cancel_decode(env->body, env->body_len, &c) != 0) {
        a->c.control_rejected++;
        return;
    }
    if (tsc__coord_fence(a, c.term) != 0)
        return;
    memset(&ev, 0, sizeof ev);
    ev.type = TSC_PART_EV_CANCEL;
    ev.from = env->sender;
    ev.run = c.run;
    ev.term = c.term;
    ev.stage = c.stage;
    part_step(a, &ev);
}

static int restore_one(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    struct tsc_agent *a = ctx;
    struct tsc_stage_result r;
    struct tsc_part_event ev;
    int state;
    char dir[4200];
    if (klen != 12 || result_decode(val, vlen, &state, &r) != 0)
        return 0;
    memset(&ev, 0, sizeof ev);
    ev.type = TSC_PART_EV_RESTORE;
    ev.run = tsc_store_get_be64(key);
    ev.stage = (uint32_t)key[8] << 24 | (uint32_t)key[9] << 16 | (uint32_t)key[10] << 8 | key[11];
    ev.state = state;
    ev.result = state == TSC_PART_DONE ? &r : NULL;
    if (state == TSC_PART_STARTED) {
        workdir(a, ev.run, dir, sizeof dir);
        if (tsc_runner_kill_leftover(dir, ev.run, ev.stage))
            tsc_logf(TSC_LOG_WARN, "run %llu stage %u: killed the script left by the last agent",
                     (unsigned long long)ev.run, ev.stage);
    }
    part_step(a, &ev);
    return 0;
}

int tsc__part_open(struct tsc_agent *a, char *errmsg)
{
    int rc = tsc_part_new(&a->runs.p, a->self_id);
    if (rc != 0) {
        tsc_errmsg_setf(errmsg, "participant engine: %s", tsc_strerror(rc));
        return rc;
    }
    tsc_runner_init(&a->runs.runner, &a->loop, on_script_done, a);
    tsc_runner_set_lines(&a->runs.runner, on_line);
    return a->store.scan(&a->store, TSC_STORE_RESULTS, restore_one, a, errmsg);
}

void tsc__part_close(struct tsc_agent *a)
{
    tsc_runner_close(&a->runs.runner);
}

void tsc__part_free(struct tsc_agent *a)
{
    if (a->runs.p != NULL)
        tsc_part_free(a->runs.p);
    a->runs.p = NULL;
}
