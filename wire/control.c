/* tsc — control protocol codec (see control.h for the message shapes).
 *
 * Maps are keyed by short strings so that a newer tscctl can talk to an older
 * agent and the other way round: unknown keys are skipped on decode, missing
 * optional keys keep their zero value. */
#include "wire/control.h"

#include <string.h>

#include "common/alloc.h"
#include "wire/control_int.h"
#include "wire/mp.h"

const char *tsc_control_op_name(int op)
{
    switch (op) {
    case TSC_CONTROL_OP_MEMBERS:
        return "members";
    case TSC_CONTROL_OP_STATS:
        return "stats";
    case TSC_CONTROL_OP_STATUS:
        return "status";
    case TSC_CONTROL_OP_RUN:
        return "run";
    case TSC_CONTROL_OP_RUN_STATUS:
        return "run_status";
    case TSC_CONTROL_OP_CANCEL:
        return "cancel";
    case TSC_CONTROL_OP_HISTORY:
        return "history";
    case TSC_CONTROL_OP_RESULTS:
        return "results";
    case TSC_CONTROL_OP_LOG:
        return "log";
    case TSC_CONTROL_OP_LOGS:
        return "logs";
    case TSC_CONTROL_OP_SEND:
        return "send";
    case TSC_CONTROL_OP_RECV:
        return "recv";
    case TSC_CONTROL_OP_LOG_INDEX:
        return "log_index";
    default:
        return "?";
    }
}

int tsc_control_op_is_coordinator(int op)
{
    return (op >= TSC_CONTROL_OP_RUN && op <= TSC_CONTROL_OP_RESULTS) ||
           op == TSC_CONTROL_OP_LOGS || op == TSC_CONTROL_OP_LOG_INDEX;
}

static int is_log_op(int op)
{
    return op >= TSC_CONTROL_OP_LOG && op <= TSC_CONTROL_OP_LOG_INDEX;
}

/* ---- encoding ----------------------------------------------------------- */

static void pack_kv_bool(msgpack_packer *pk, const char *key, int v)
{
    tsc__pack_key(pk, key);
    if (v)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
}

/* Keys per kind of op: members/stats/status only "v" and "op"; the run ops
 * their run keys; the log ops the run keys they use ("run", "limit", "fwd")
 * and theirs. An agent that forwards a request re-encodes it, so every
 * field an op reads must be written here. */
int tsc_control_req_encode(const struct tsc_control_req *req, struct tsc_buf *out)
{
    struct tsc_mp_writer w;
    size_t start = out->len;
    if (req->op < TSC_CONTROL_OP_MEMBERS || req->op > TSC_CONTROL_OP_LOG_INDEX)
        return TSC_EINVAL;
    if (req->text_len > TSC_CONTROL_MAX_TEXT || (req->text_len > 0 && req->text == NULL))
        return TSC_EINVAL;
    int log_op = is_log_op(req->op);
    int run_op = !log_op && tsc_control_op_is_coordinator(req->op);
    tsc_mp_writer_init(&w, out);
    msgpack_pack_map(&w.pk, run_op ? 8 : log_op ? 9 : 2);
    tsc__pack_kv_uint(&w.pk, "v", TSC_CONTROL_VERSION);
    tsc__pack_key(&w.pk, "op");
    tsc__pack_key(&w.pk, tsc_control_op_name(req->op));
    if (run_op) {
        tsc__pack_kv_uint(&w.pk, "run", req->run);
        tsc__pack_kv_uint(&w.pk, "nonce", req->nonce);
        tsc__pack_key(&w.pk, "suite");
        msgpack_pack_bin_with_body(&w.pk, req->suite, req->suite_len);
        tsc__pack_key(&w.pk, "suite_name");
        msgpack_pack_str_with_body(&w.pk, req->suite_name,
                                   strnlen(req->suite_name, sizeof req->suite_name));
        tsc__pack_kv_uint(&w.pk, "limit", req->limit);
        pack_kv_bool(&w.pk, "fwd", req->forwarded);
    } else if (log_op) {
        tsc__pack_kv_uint(&w.pk, "run", req->run);
        tsc__pack_kv_uint(&w.pk, "limit", req->limit);
        pack_kv_bool(&w.pk, "fwd", req->forwarded);
        tsc__control_pack_log_req(&w.pk, req);
    }
    return tsc__pack_finish(&w, out, start);
}

int tsc_control_resp_encode_members(uint64_t self, uint64_t coordinator,
                                    const struct tsc_control_member *members, size_t n,
                                    struct tsc_buf *out)
{
    struct tsc_mp_writer w;
    size_t start = out->len;
    if (n > UINT32_MAX)
        return TSC_EINVAL;
    tsc_mp_writer_init(&w, out);
    tsc__pack_head(&w.pk, self, 2);
    tsc__pack_kv_uint(&w.pk, "coord", coordinator);
    tsc__pack_key(&w.pk, "members");
    msgpack_pack_array(&w.pk, n);
    for (size_t i = 0; i < n; i++) {
        const struct tsc_control_member *m = &members[i];
        msgpack_pack_map(&w.pk, 8);
        tsc__pack_kv_uint(&w.pk, "id", m->id);
        tsc__pack_kv_uint(&w.pk, "ip", m->addr.ip);
        tsc__pack_kv_uint(&w.pk, "port", m->addr.port);
        tsc__pack_kv_uint(&w.pk, "status", m->status);
        tsc__pack_kv_uint(&w.pk, "inc", m->incarnation);
        pack_kv_bool(&w.pk, "self", m->is_self);
        tsc__pack_kv_uint(&w.pk, "age_ms", m->age_ms);
        tsc__pack_key(&w.pk, "record");
        msgpack_pack_bin_with_body(&w.pk, m->record, m->record_len);
    }
    return tsc__pack_finish(&w, out, start);
}

int tsc_control_resp_encode_status(uint64_t self, const struct tsc_control_status *st,
                                   struct tsc_buf *out)
{
    struct tsc_mp_writer w;
    size_t start = out->len;
    if (st->n_voters > TSC_CONTROL_MAX_VOTERS)
        return TSC_EINVAL;
    tsc_mp_writer_init(&w, out);
    tsc__pack_head(&w.pk, self, 1);
    tsc__pack_key(&w.pk, "status");
    msgpack_pack_map(&w.pk, 10);
    tsc__pack_kv_uint(&w.pk, "coord", st->coordinator);
    tsc__pack_kv_uint(&w.pk, "coord_ip", st->coordinator_addr.ip);
    tsc__pack_kv_uint(&w.pk, "coord_port", st->coordinator_addr.port);
    tsc__pack_kv_uint(&w.pk, "term", st->term);
    tsc__pack_kv_uint(&w.pk, "role", st->role > 0 ? (uint64_t)st->role : 0);
    pack_kv_bool(&w.pk, "voter", st->voter);
    pack_kv_bool(&w.pk, "acting", st->acting);
    tsc__pack_kv_uint(&w.pk, "commit", st->commit);
    tsc__pack_kv_uint(&w.pk, "last", st->last_index);
    tsc__pack_key(&w.pk, "voters");
    msgpack_pack_array(&w.pk, st->n_voters);
    for (size_t i = 0; i < st->n_voters; i++) {
        const struct tsc_control_voter *v = &st->voters[i];
        msgpack_pack_map(&w.pk, v->has_match ? 6 : 5);
        tsc__pack_kv_uint(&w.pk, "id", v->id);
        tsc__pack_kv_uint(&w.pk, "ip", v->addr.ip);
        tsc__pack_kv_uint(&w.pk, "port", v->addr.port);
        tsc__pack_kv_uint(&w.pk, "status", v->status);
        pack_kv_bool(&w.pk, "self", v->is_self);
        if (v->has_match)
            tsc__pack_kv_uint(&w.pk, "match", v->match);
    }
    return tsc__pack_finish(&w, out, start);
}

/* Stat names become JSON keys in tscctl; keep them to a safe alphabet. */
static int stat_name_ok(const char *s)
{
    size_t n = strnlen(s, TSC_CONTROL_STAT_NAME);
    if (n == 0 || n >= TSC_CONTROL_STAT_NAME)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

int tsc_control_resp_encode_stats(uint64_t self, const struct tsc_control_stat *stats, size_t n,
                                  struct tsc_buf *out)
{
    struct tsc_mp_writer w;
    size_t start = out->len;
    if (n > TSC_CONTROL_MAX_STATS)
        return TSC_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!stat_name_ok(stats[i].name))
            return TSC_EINVAL;
    tsc_mp_writer_init(&w, out);
    tsc__pack_head(&w.pk, self, 1);
    tsc__pack_key(&w.pk, "stats");
    msgpack_pack_map(&w.pk, n);
    for (size_t i = 0; i < n; i++)
        tsc__pack_kv_uint(&w.pk, stats[i].name, stats[i].value);
    return tsc__pack_finish(&w, out, start);
}

int tsc_control_resp_encode_error(int code, const char *message, struct tsc_buf *out)
{
    struct tsc_mp_writer w;
    size_t start = out->len;
    size_t mlen = message ? strnlen(message, TSC_ERRMSG_SIZE - 1) : 0;
    tsc_mp_writer_init(&w, out);
    msgpack_pack_map(&w.pk, 4);
    tsc__pack_kv_uint(&w.pk, "v", TSC_CONTROL_VERSION);
    pack_kv_bool(&w.pk, "ok", 0);
    tsc__pack_kv_uint(&w.pk, "code", code > 0 ? (uint64_t)code : 0);
    tsc__pack_key(&w.pk, "error");
    msgpack_pack_str_with_body(&w.pk, message ? message : "", mlen);
    return tsc__pack_finish(&w, out, start);
}

/* ---- decoding ----------------------------------------------------------- */

int tsc_control_req_decode(const uint8_t *p, size_t len, struct tsc_control_req *req, char *errmsg)
{
    struct tsc_mp_reader r;
    uint32_t n;
    uint64_t version = 0;
    const char *op = NULL;
    uint32_t op_len = 0;
    memset(req, 0, sizeof *req);
    tsc_mp_reader_init(&r, p, len);
    if (tsc_mp_read_map(&r, &n) != 0)
        goto malformed;
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t klen;
        if (tsc_mp_read_str(&r, &k, &klen) != 0)
            goto malformed;
        if (tsc__key_is(k, klen, "v")) {
            if (tsc_mp_read_uint(&r, &version) != 0)
                goto malformed;
        } else if (tsc__key_is(k, klen, "op")) {
            if (tsc_mp_read_str(&r, &op, &op_len) != 0)
                goto malformed;
        } else if (tsc__key_is(k, klen, "run") || tsc__key_is(k, klen, "nonce") ||
                   tsc__key_is(k, klen, "suite") || tsc__key_is(k, klen, "suite_name") ||
                   tsc__key_is(k, klen, "limit") || tsc__key_is(k, klen, "fwd")) {
            if (tsc__control_decode_req_key(&r, k, klen, req) != 0)
                goto malformed;
        } else if (tsc__control_is_log_req_key(k, klen)) {
            if (tsc__control_decode_log_req_key(&r, k, klen, req) != 0)
                goto malformed;
        } else if (tsc_mp_skip(&r) != 0) {
            goto malformed;
        }
    }
    if (tsc_mp_remaining(&r) != 0)
        goto malformed;
    if (version != TSC_CONTROL_VERSION) {
        tsc_errmsg_setf(errmsg, "unsupported control protocol version %llu",
                        (unsigned long long)version);
        return TSC_EINVAL;
    }
    if (op == NULL) {
        tsc_errmsg_setf(errmsg, "control request without \"op\"");
        return TSC_EMALFORMED;
    }
    if (tsc__key_is(op, op_len, "members")) {
        req->op = TSC_CONTROL_OP_MEMBERS;
    } else if (tsc__key_is(op, op_len, "stats")) {
        req->op = TSC_CONTROL_OP_STATS;
    } else if (tsc__key_is(op, op_len, "status")) {
        req->op = TSC_CONTROL_OP_STATUS;
    } else if ((req->op = tsc__control_run_op(op, op_len)) != 0) {
        /* a run op */
    } else {
        /* Echo at most 32 bytes, and only printable ones, of what we got. */
        char shown[33];
        uint32_t m = op_len < 32 ? op_len : 32;
        for (uint32_t i = 0; i < m; i++)
            shown[i] = (op[i] >= 0x20 && op[i] < 0x7f) ? op[i] : '?';
        shown[m] = '\0';
        tsc_errmsg_setf(errmsg, "unknown control op '%s'", shown);
        return TSC_EINVAL;
    }
    return 0;
malformed:
    tsc_errmsg_setf(errmsg, "malformed control request");
    return TSC_EMALFORMED;
}

static int read_u32(struct tsc_mp_reader *r, uint32_t *out)
{
    uint64_t v;
    if (tsc_mp_read_uint(r, &v) != 0 || v > UINT32_MAX)
        return TSC_EMALFORMED;
    *out = (uint32_t)v;
    return 0;
}

static int read_u16(struct tsc_mp_reader *r, uint16_t *out)
{
    uint64_t v;
    if (tsc_mp_read_uint(r, &v) != 0 || v > UINT16_MAX)
        return TSC_EMALFORMED;
    *out = (uint16_t)v;
    return 0;
}

static int decode_member(struct tsc_mp_reader *r, struct tsc_control_member *m)
{
    uint32_t n;
    uint64_t v;
    memset(m, 0, sizeof *m);
    if (tsc_mp_read_map(r, &n) != 0)
        return TSC_EMALFORMED;
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t klen;
        int rc = 0;
        if (tsc_mp_read_str(r, &k, &klen) != 0)
            return TSC_EMALFORMED;
        if (tsc__key_is(k, klen, "id")) {
            rc = tsc_mp_read_uint(r, &m->id);
        } else if (tsc__key_is(k, klen, "ip")) {
            rc = read_u32(r, &m->addr.ip);
        } else if (tsc__key_is(k, klen, "port")) {
            rc = read_u16(r, &m->addr.port);
        } else if (tsc__key_is(k, klen, "status")) {
            rc = tsc_mp_read_uint(r, &v);
            if (rc == 0 && v > 3)
                rc = TSC_EMALFORMED;
            m->status = (uint8_t)v;
        } else if (tsc__key_is(k, klen, "inc")) {
            rc = tsc_mp_read_uint(r, &m->incarnation);
        } else if (tsc__key_is(k, klen, "self")) {
            rc = tsc_mp_read_bool(r, &m->is_self);
        } else if (tsc__key_is(k, klen, "age_ms")) {
            rc = tsc_mp_read_uint(r, &m->age_ms);
        } else if (tsc__key_is(k, klen, "record")) {
            uint32_t blen;
            rc = tsc_mp_read_bin(r, &m->record, &blen);
            m->record_len = blen;
        } else {
            rc = tsc_mp_skip(r);
        }
        if (rc != 0)
            return TSC_EMALFORMED;
    }
    return m->id != 0 ? 0 : TSC_EMALFORMED;
}

/* Members grow the array one by one (doubling), so memory follows what was
 * actually decoded, never the count an array header claims. */
static int decode_members(struct tsc_mp_reader *r, struct tsc_control_resp *out)
{
    uint32_t n;
    size_t cap = 0;
    if (tsc_mp_read_array(r, &n) != 0)
        return TSC_EMALFORMED;
    for (uint32_t i = 0; i < n; i++) {
        if (out->n_members == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct tsc_control_member *nm = tsc_realloc(out->members, ncap * sizeof *out->members);
            if (nm == NULL)
                return TSC_ENOMEM;
            out->members = nm;
            cap = ncap;
        }
        int rc = decode_member(r, &out->members[out->n_members]);
        if (rc != 0)
            return rc;
        out->n_members++;
    }
    out->has_members = 1;
    return 0;
}

static int decode_stats(struct tsc_mp_reader *r, struct tsc_control_resp *out)
{
    uint32_t n;
    if (tsc_mp_read_map(r, &n) != 0 || n > TSC_CONTROL_MAX_STATS)
        return TSC_EMALFORMED;
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t klen;
        struct tsc_control_stat *s = &out->stats[out->n_stats];
        if (tsc_mp_read_str(r, &k, &klen) != 0 || klen == 0 || klen >= TSC_CONTROL_STAT_NAME)
            return TSC_EMALFORMED;
        memcpy(s->name, k, klen);
        s->name[klen] = '\0';
        if (!stat_name_ok(s->name) || tsc_mp_read_uint(r, &s->value) != 0)
            return TSC_EMALFORMED;
        out->n_stats++;
    }
    out->has_stats = 1;
    return 0;
}

static int decode_voter(struct tsc_mp_reader *r, struct tsc_control_voter *v)
{
    uint32_t n;
    uint64_t x;
    memset(v, 0, sizeof *v);
    if (tsc_mp_read_map(r, &n) != 0)
        return TSC_EMALFORMED;
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t klen;
        int rc;
        if (tsc_mp_read_str(r, &k, &klen) != 0)
            return TSC_EMALFORMED;
        if (tsc__key_is(k, klen, "id")) {
            rc = tsc_mp_read_uint(r, &v->id);
        } else if (tsc__key_is(k, klen, "ip")) {
            rc = read_u32(r, &v->addr.ip);
        } else if (tsc__key_is(k, klen, "port")) {
            rc = read_u16(r, &v->addr.port);
        } else if (tsc__key_is(k, klen, "status")) {
            rc = tsc_mp_read_uint(r, &x);
            if (rc == 0 && x > 3 && x != TSC_CONTROL_STATUS_UNKNOWN)
                rc = TSC_EMALFORMED;
            v->status = (uint8_t)x;
        } else if (tsc__key_is(k, klen, "self")) {
            rc = tsc_mp_read_bool(r, &v->is_self);
        } else if (tsc__key_is(k, klen, "match")) {
            rc = tsc_mp_read_uint(r, &v->match);
            v->has_match = 1;
        } else {
            rc = tsc_mp_skip(r);
        }
        if (rc != 0)
            return TSC_EMALFORMED;
    }
    return v->id != 0 ? 0 : TSC_EMALFORMED;
}

static int decode_status(struct tsc_mp_reader *r, struct tsc_control_resp *out)
{
    struct tsc_control_status *st = &out->status;
    uint32_t n;
    uint64_t x;
    if (tsc_mp_read_map(r, &n) != 0)
        return TSC_EMALFORMED;
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t klen;
        int rc = 0;
        if (tsc_mp_read_str(r, &k, &klen) != 0)
            return TSC_EMALFORMED;
        if (tsc__key_is(k, klen, "coord")) {
            rc = tsc_mp_read_uint(r, &st->coordinator);
        } else if (tsc__key_is(k, klen, "coord_ip")) {
            rc = read_u32(r, &st->coordinator_addr.ip);
        } else if (tsc__key_is(k, klen, "coord_port")) {
            rc = read_u16(r, &st->coordinator_addr.port);
        } else if (tsc__key_is(k, klen, "term")) {
            rc = tsc_mp_read_uint(r, &st->term);
        } else if (tsc__key_is(k, klen, "role")) {
            rc = tsc_mp_read_uint(r, &x);
            if (rc == 0 && x > 15)
                rc = TSC_EMALFORMED;
            st->role = (int)x;
        } else if (tsc__key_is(k, klen, "voter")) {
            rc = tsc_mp_read_bool(r, &st->voter);
        } else if (tsc__key_is(k, klen, "acting")) {
            rc = tsc_mp_read_bool(r, &st->acting);
        } else if (tsc__key_is(k, klen, "commit")) {
            rc = tsc_mp_read_uint(r, &st->commit);
        } else if (tsc__key_is(k, klen, "last")) {
            rc = tsc_mp_read_uint(r, &st->last_index);
        } else if (tsc__key_is(k, klen, "voters") && st->n_voters == 0) {
            uint32_t m;
            rc = tsc_mp_read_array(r, &m);
            if (rc == 0 && m > TSC_CONTROL_MAX_VOTERS)
                rc = TSC_EMALFORMED;
            for (uint32_t j = 0; rc == 0 && j < m; j++)
                if ((rc = decode_voter(r, &st->voters[j])) == 0)
                    st->n_voters++;
        } else {
            rc = tsc_mp_skip(r);
        }
        if (rc != 0)
            return TSC_EMALFORMED;
    }
    out->has_status = 1;
    return 0;
}

static int decode_resp(struct tsc_mp_reader *r, struct tsc_control_resp *out)
{
    uint32_t n;
    uint64_t version = 0, v;
    int have_ok = 0;
    if (tsc_mp_read_map(r, &n) != 0)
        return TSC_EMALFORMED;
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t klen;
        int rc;
        if (tsc_mp_read_str(r, &k, &klen) != 0)
            return TSC_EMALFORMED;
        if (tsc__key_is(k, klen, "v")) {
            rc = tsc_mp_read_uint(r, &version);
        } else if (tsc__key_is(k, klen, "ok")) {
            rc = tsc_mp_read_bool(r, &out->ok);
            have_ok = 1;
        } else if (tsc__key_is(k, klen, "self")) {
            rc = tsc_mp_read_uint(r, &out->self);
        } else if (tsc__key_is(k, klen, "code")) {
            rc = tsc_mp_read_uint(r, &v);
            out->code = v < TSC_ERROR_MAX ? (int)v : TSC_EIO;
        } else if (tsc__key_is(k, klen, "error")) {
            const char *s;
            uint32_t slen;
            rc = tsc_mp_read_str(r, &s, &slen);
            if (rc == 0) {
                size_t m = slen < TSC_ERRMSG_SIZE - 1 ? slen : TSC_ERRMSG_SIZE - 1;
                memcpy(out->error, s, m);
                out->error[m] = '\0';
            }
        } else if (tsc__key_is(k, klen, "members") && !out->has_members) {
            rc = decode_members(r, out);
        } else if (tsc__key_is(k, klen, "stats") && !out->has_stats) {
            rc = decode_stats(r, out);
        } else if (tsc__key_is(k, klen, "status") && !out->has_status) {
            rc = decode_status(r, out);
        } else if (tsc__key_is(k, klen, "coord")) {
            rc = tsc_mp_read_uint(r, &out->coordinator);
        } else if (tsc__control_is_run_key(k, klen)) {
            rc = tsc__control_decode_run_key(r, k, klen, out);
        } else if (tsc__control_is_log_key(k, klen)) {
            rc = tsc__control_decode_log_key(r, k, klen, out);
        } else {
            rc = tsc_mp_skip(r);
        }
        if (rc != 0)
            return rc == TSC_ENOMEM ? rc : TSC_EMALFORMED;
    }
    if (tsc_mp_remaining(r) != 0 || version != TSC_CONTROL_VERSION || !have_ok)
        return TSC_EMALFORMED;
    if (!out->ok && out->code == 0)
        out->code = TSC_EIO;
    return 0;
}

int tsc_control_resp_decode(const uint8_t *p, size_t len, struct tsc_control_resp *r)
{
    struct tsc_mp_reader rd;
    memset(r, 0, sizeof *r);
    tsc_mp_reader_init(&rd, p, len);
    int rc = decode_resp(&rd, r);
    if (rc != 0)
        tsc_control_resp_free(r);
    return rc;
}

void tsc_control_resp_free(struct tsc_control_resp *r)
{
    tsc_free(r->members);
    r->members = NULL;
    r->n_members = 0;
    tsc_free(r->records);
    r->records = NULL;
    r->n_records = 0;
    tsc_free(r->history);
    r->history = NULL;
    r->n_history = 0;
    tsc__control_free_logs(r);
}

uint64_t tsc_control_resp_stat(const struct tsc_control_resp *r, const char *name, int *found)
{
    for (size_t i = 0; i < r->n_stats; i++) {
        if (strcmp(r->stats[i].name, name) == 0) {
            if (found)
                *found = 1;
            return r->stats[i].value;
        }
    }
    if (found)
        *found = 0;
    return 0;
}
