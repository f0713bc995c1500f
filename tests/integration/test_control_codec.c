/* tsc — unit: the control protocol codec (wire/control.h). Round trips of
 * requests and every response kind; unknown ops and versions rejected with a
 * message; truncated, corrupted and random input never crashes and never
 * decodes into something half-filled. The log ops (log, logs, send, recv,
 * log_index) likewise, with their bounds: text size, peer names, ranges
 * that cannot be, arrays that claim more elements than there are bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "common/buf.h"
#include "wire/control.h"
#include "wire/mp.h"

static void test_request_round_trip(void **state)
{
    int ops[] = {TSC_CONTROL_OP_MEMBERS, TSC_CONTROL_OP_STATS};
    for (size_t i = 0; i < 2; i++) {
        struct tsc_buf b;
        struct tsc_control_req in = {.op = ops[i]}, out = {0};
        tsc_buf_init(&b);
        assert_int_equal(tsc_control_req_encode(&in, &b), 0);
        assert_int_equal(tsc_control_req_decode(b.data, b.len, &out, NULL), 0);
        assert_int_equal(out.op, ops[i]);
        tsc_buf_free(&b);
    }
    struct tsc_buf b;
    struct tsc_control_req bad = {.op = 99};
    tsc_buf_init(&b);
    assert_int_equal(tsc_control_req_encode(&bad, &b), TSC_EINVAL);
    assert_int_equal(b.len, 0);
}

/* {"v": v, "op": op} by hand, to test what the encoder would never emit. */
static void raw_request(struct tsc_buf *b, uint64_t v, const char *op)
{
    struct tsc_mp_writer w;
    tsc_buf_reset(b);
    tsc_mp_writer_init(&w, b);
    msgpack_pack_map(&w.pk, 3);
    msgpack_pack_str_with_body(&w.pk, "v", 1);
    msgpack_pack_uint64(&w.pk, v);
    msgpack_pack_str_with_body(&w.pk, "future", 6); /* unknown keys are skipped */
    msgpack_pack_array(&w.pk, 0);
    msgpack_pack_str_with_body(&w.pk, "op", 2);
    msgpack_pack_str_with_body(&w.pk, op, strlen(op));
}

static void test_request_rejects(void **state)
{
    struct tsc_buf b;
    struct tsc_control_req r;
    char errmsg[TSC_ERRMSG_SIZE];
    tsc_buf_init(&b);
    raw_request(&b, 1, "stats");
    assert_int_equal(tsc_control_req_decode(b.data, b.len, &r, errmsg), 0);
    assert_int_equal(r.op, TSC_CONTROL_OP_STATS);
    raw_request(&b, 1, "reboot");
    assert_int_equal(tsc_control_req_decode(b.data, b.len, &r, errmsg), TSC_EINVAL);
    assert_non_null(strstr(errmsg, "reboot"));
    raw_request(&b, 7, "stats");
    assert_int_equal(tsc_control_req_decode(b.data, b.len, &r, errmsg), TSC_EINVAL);
    assert_int_equal(tsc_control_req_decode((const uint8_t *)"\x80", 1, &r, errmsg),
                     TSC_EINVAL); /* {} has no version */
    assert_int_equal(tsc_control_req_decode((const uint8_t *)"\xc1", 1, &r, errmsg),
                     TSC_EMALFORMED);
    assert_int_equal(tsc_control_req_decode(NULL, 0, &r, errmsg), TSC_EMALFORMED);
    tsc_buf_free(&b);
}

static void test_members_round_trip(void **state)
{
    static const uint8_t rec[] = {0x92, 0xc4, 0x01, 0x00, 0xc4, 0x00};
    struct tsc_control_member in[3];
    struct tsc_control_resp out;
    struct tsc_buf b;
    memset(in, 0, sizeof in);
    for (int i = 0; i < 3; i++) {
        in[i].id = 0x1122334455667700ull + (uint64_t)i;
        in[i].addr.ip = 0x7f000001u;
        in[i].addr.port = (uint16_t)(7946 + i);
        in[i].status = (uint8_t)i;
        in[i].incarnation = 10u + (uint64_t)i;
        in[i].is_self = i == 1;
        in[i].age_ms = 1000u * (uint64_t)i;
        in[i].record = rec;
        in[i].record_len = sizeof rec;
    }
    tsc_buf_init(&b);
    assert_int_equal(tsc_control_resp_encode_members(42, 0, in, 3, &b), 0);
    assert_int_equal(tsc_control_resp_decode(b.data, b.len, &out), 0);
    assert_true(out.ok);
    assert_true(out.has_members);
    assert_false(out.has_stats);
    assert_int_equal(out.self, 42);
    assert_int_equal(out.n_members, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(out.members[i].id, in[i].id);
        assert_int_equal(out.members[i].addr.port, in[i].addr.port);
        assert_int_equal(out.members[i].addr.ip, in[i].addr.ip);
        assert_int_equal(out.members[i].status, in[i].status);
        assert_int_equal(out.members[i].incarnation, in[i].incarnation);
        assert_int_equal(out.members[i].is_self, in[i].is_self);
        assert_int_equal(out.members[i].age_ms, in[i].age_ms);
        assert_int_equal(out.members[i].record_len, sizeof rec);
        assert_memory_equal(out.members[i].record, rec, sizeof rec);
    }
    tsc_control_resp_free(&out);

    /* Every truncation fails cleanly (and allocates nothing that leaks:
     * the ASan build checks). */
    for (size_t n = 0; n < b.len; n++)
        assert_int_not_equal(tsc_control_resp_decode(b.data, n, &out), 0);
    tsc_buf_free(&b);
}

static void test_stats_and_error(void **state)
{
    struct tsc_control_stat st[2] = {{"rejected_auth", 7}, {"members", 5}};
    struct tsc_control_stat bad[1] = {{"Bad-Name", 1}};
    struct tsc_control_resp out;
    struct tsc_buf b;
    int found;
    tsc_buf_init(&b);
    assert_int_equal(tsc_control_resp_encode_stats(9, st, 2, &b), 0);
    assert_int_equal(tsc_control_resp_decode(b.data, b.len, &out), 0);
    assert_true(out.ok && out.has_stats);
    assert_int_equal(tsc_control_resp_stat(&out, "rejected_auth", &found), 7);
    assert_true(found);
    assert_int_equal(tsc_control_resp_stat(&out, "nope", &found), 0);
    assert_false(found);
    tsc_control_resp_free(&out);

    tsc_buf_reset(&b);
    assert_int_equal(tsc_control_resp_encode_stats(9, bad, 1, &b), TSC_EINVAL);
    assert_int_equal(b.len, 0);

    assert_int_equal(tsc_control_resp_encode_error(TSC_EINVAL, "unknown control op 'x'", &b), 0);
    assert_int_equal(tsc_control_resp_decode(b.data, b.len, &out), 0);
    assert_false(out.ok);
    assert_int_equal(out.code, TSC_EINVAL);
    assert_string_equal(out.error, "unknown control op 'x'");
    tsc_control_resp_free(&out);
    tsc_buf_free(&b);
}

/* Random bytes and bit-flipped valid responses: decode returns 0 or an
 * error, never crashes (the sanitizer build makes over-reads fatal). */
static void test_hostile_input(void **state)
{
    struct tsc_control_member m = {.id = 1, .record = (const uint8_t *)"x", .record_len = 1};
    struct tsc_control_resp out;
    struct tsc_buf b;
    uint8_t junk[512];
    srand(7);
    tsc_buf_init(&b);
    assert_int_equal(tsc_control_resp_encode_members(1, 0, &m, 1, &b), 0);
    for (int round = 0; round < 20000; round++) {
        size_t n;
        if (round % 2) {
            n = (size_t)rand() % sizeof junk;
            for (size_t i = 0; i < n; i++)
                junk[i] = (uint8_t)rand();
        } else {
            n = b.len;
            memcpy(junk, b.data, n);
            junk[(size_t)rand() % n] ^= (uint8_t)(1u << (rand() % 8));
        }
        if (tsc_control_resp_decode(junk, n, &out) == 0)
            tsc_control_resp_free(&out);
        struct tsc_control_req r;
        (void)tsc_control_req_decode(junk, n, &r, NULL);
    }
    /* A huge declared member count with no members behind it. */
    static const uint8_t lying[] = {0x84, 0xa1, 'v', 0x01, 0xa2, 'o',  'k',  0xc3, 0xa4,
                                    's',  'e',  'l', 'f',  0x01, 0xa7, 'm',  'e',  'm',
                                    'b',  'e',  'r', 's',  0xdd, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(tsc_control_resp_decode(lying, sizeof lying, &out), TSC_EMALFORMED);
    tsc_buf_free(&b);
}

/* op "status" and the members' "coord": round trip, and the request op. */
static void test_status_round_trip(void **state)
{
    struct tsc_buf b;
    struct tsc_control_status in;
    struct tsc_control_resp r;
    struct tsc_control_req q = {.op = TSC_CONTROL_OP_STATUS}, q2 = {0};
    tsc_buf_init(&b);
    assert_int_equal(tsc_control_req_encode(&q, &b), 0);
    assert_int_equal(tsc_control_req_decode(b.data, b.len, &q2, NULL), 0);
    assert_int_equal(q2.op, TSC_CONTROL_OP_STATUS);
    memset(&in, 0, sizeof in);
    in.coordinator = 0xabcdef;
    in.coordinator_addr.ip = 0x7f000001;
    in.coordinator_addr.port = 7946;
    in.term = 7;
    in.role = 4;
    in.voter = 1;
    in.acting = 1;
    in.commit = 5;
    in.last_index = 6;
    in.n_voters = 2;
    in.voters[0].id = 0xabcdef;
    in.voters[0].status = 0;
    in.voters[0].has_match = 1;
    in.voters[0].match = 6;
    in.voters[0].is_self = 1;
    in.voters[1].id = 42;
    in.voters[1].status = TSC_CONTROL_STATUS_UNKNOWN;
    tsc_buf_reset(&b);
    assert_int_equal(tsc_control_resp_encode_status(9, &in, &b), 0);
    assert_int_equal(tsc_control_resp_decode(b.data, b.len, &r), 0);
    assert_true(r.ok && r.has_status && r.self == 9);
    assert_int_equal(r.status.coordinator, 0xabcdef);
    assert_int_equal(r.status.coordinator_addr.port, 7946);
    assert_int_equal(r.status.term, 7);
    assert_int_equal(r.status.role, 4);
    assert_true(r.status.voter && r.status.acting);
    assert_int_equal(r.status.commit, 5);
    assert_int_equal(r.status.last_index, 6);
    assert_int_equal(r.status.n_voters, 2);
    assert_true(r.status.voters[0].has_match && r.status.voters[0].match == 6);
    assert_true(r.status.voters[0].is_self);
    assert_false(r.status.voters[1].has_match);
    assert_int_equal(r.status.voters[1].status, TSC_CONTROL_STATUS_UNKNOWN);
    /* Every truncation fails cleanly. */
    for (size_t cut = 0; cut < b.len; cut++)
        assert_int_not_equal(tsc_control_resp_decode(b.data, cut, &r), 0);
    tsc_control_resp_free(&r);
    tsc_buf_free(&b);
}

/* The run ops: every field of a request survives, and every response kind. */
static void test_run_ops_round_trip(void **state)
{
    static const uint8_t suite[] = {0x81, 0xa1, 'v', 0x01};
    struct tsc_buf b;
    struct tsc_control_req in = {.op = TSC_CONTROL_OP_RUN,
                                 .run = 7,
                                 .nonce = 0xabcdef,
                                 .suite = suite,
                                 .suite_len = sizeof suite,
                                 .limit = 20,
                                 .forwarded = 1},
                           out;
    snprintf(in.suite_name, sizeof in.suite_name, "redis");
    tsc_buf_init(&b);
    for (int op = TSC_CONTROL_OP_RUN; op <= TSC_CONTROL_OP_RESULTS; op++) {
        in.op = op;
        tsc_buf_reset(&b);
        assert_int_equal(tsc_control_req_encode(&in, &b), 0);
        assert_int_equal(tsc_control_req_decode(b.data, b.len, &out, NULL), 0);
        assert_int_equal(out.op, op);
        assert_true(tsc_control_op_is_coordinator(op));
        assert_int_equal(out.run, 7);
        assert_int_equal(out.nonce, 0xabcdef);
        assert_int_equal(out.suite_len, sizeof suite);
        assert_memory_equal(out.suite, suite, sizeof suite);
        assert_string_equal(out.suite_name, "redis");
        assert_int_equal(out.limit, 20);
        assert_int_equal(out.forwarded, 1);
    }
    assert_false(tsc_control_op_is_coordinator(TSC_CONTROL_OP_STATUS));

    /* progress */
    static const uint8_t outcomes[] = {1, 2, 0}, reported[] = {1, 0}, sub[] = {9, 9};
    struct tsc_control_progress p = {.run = 5,
                                     .state = 2,
                                     .stage = 2,
                                     .n_stages = 3,
                                     .queued = 1,
                                     .outcomes = outcomes,
                                     .reported = reported,
                                     .n_reported = 2,
                                     .submit = sub,
                                     .submit_len = 2};
    snprintf(p.diagnosis, sizeof p.diagnosis, "node3 timed out");
    struct tsc_control_resp r;
    tsc_buf_reset(&b);
    assert_int_equal(tsc_control_resp_encode_progress(1, &p, &b), 0);
    assert_int_equal(tsc_control_resp_decode(b.data, b.len, &r), 0);
    assert_true(r.ok && r.has_progress);
    assert_int_equal(r.progress.run, 5);
    assert_int_equal(r.progress.state, 2);
    assert_int_equal(r.progress.stage, 2);
    assert_int_equal(r.progress.n_stages, 3);
    assert_int_equal(r.progress.queued, 1);
    assert_memory_equal(r.progress.outcomes, outcomes, 3);
    assert_int_equal(r.progress.n_reported, 2);
    assert_memory_equal(r.progress.reported, reported, 2);
    assert_int_equal(r.progress.submit_len, 2);
    assert_string_equal(r.progress.diagnosis, "node3 timed out");
    tsc_control_resp_free(&r);
    /* Every truncation fails cleanly. */
    for (size_t n = 0; n < b.len; n++)
        assert_int_not_equal(tsc_control_resp_decode(b.data, n, &r), 0);

    /* records */
    struct tsc_control_bytes recs[2] = {{sub, 2}, {outcomes, 3}};
    tsc_buf_reset(&b);
    assert_int_equal(tsc_control_resp_encode_records(1, 5, recs, 2, &b), 0);
    assert_int_equal(tsc_control_resp_decode(b.data, b.len, &r), 0);
    assert_true(r.has_records && r.has_run);
    assert_int_equal(r.run, 5);
    assert_int_equal(r.n_records, 2);
    assert_int_equal(r.records[1].len, 3);
    assert_memory_equal(r.records[1].p, outcomes, 3);
    tsc_control_resp_free(&r);
    for (size_t n = 0; n < b.len; n++)
        assert_int_not_equal(tsc_control_resp_decode(b.data, n, &r), 0);

    /* history */
    struct tsc_control_run_summary h[2] = {
        {.run = 9, .state = 3, .submitted_us = 10, .ended_us = 20, .n_cases = 4, .n_failed = 1},
        {.run = 8, .state = 4}};
    snprintf(h[0].suite, sizeof h[0].suite, "hello");
    tsc_buf_reset(&b);
    assert_int_equal(tsc_control_resp_encode_history(1, h, 2, &b), 0);
    assert_int_equal(tsc_control_resp_decode(b.data, b.len, &r), 0);
    assert_true(r.has_history);
    assert_int_equal(r.n_history, 2);
    assert_int_equal(r.history[0].run, 9);
    assert_string_equal(r.history[0].suite, "hello");
    assert_int_equal(r.history[0].n_failed, 1);
    assert_int_equal(r.history[1].state, 4);
    tsc_control_resp_free(&r);
    for (size_t n = 0; n < b.len; n++)
        assert_int_not_equal(tsc_control_resp_decode(b.data, n, &r), 0);
    tsc_buf_free(&b);
}

/* ---- the log ops ------------------------------------------------------------ */

static void test_log_requests_round_trip(void **state)
{
    static const uint8_t text[] = "line one\nline \"two\"\n\xff\x00 end";
    struct tsc_buf b;
    struct tsc_control_req in = {.run = 77,
                                 .limit = 16384,
                                 .forwarded = 1,
                                 .text = text,
                                 .text_len = sizeof text - 1,
                                 .from = 123456789012ull,
                                 .timeout_ms = 30000},
                           out;
    static const char *const names[] = {"log", "logs", "send", "recv", "log_index"};
    snprintf(in.peer, sizeof in.peer, "node-2");
    tsc_buf_init(&b);
    for (int op = TSC_CONTROL_OP_LOG; op <= TSC_CONTROL_OP_LOG_INDEX; op++) {
        in.op = op;
        assert_string_equal(tsc_control_op_name(op), names[op - TSC_CONTROL_OP_LOG]);
        tsc_buf_reset(&b);
        assert_int_equal(tsc_control_req_encode(&in, &b), 0);
        assert_int_equal(tsc_control_req_decode(b.data, b.len, &out, NULL), 0);
        assert_int_equal(out.op, op);
        assert_int_equal(out.run, 77);
        assert_int_equal(out.limit, 16384);
        assert_int_equal(out.forwarded, 1);
        assert_int_equal(out.text_len, sizeof text - 1);
        assert_memory_equal(out.text, text, sizeof text - 1);
        assert_string_equal(out.peer, "node-2");
        assert_int_equal(out.from, 123456789012ull);
        assert_int_equal(out.timeout_ms, 30000);
        for (size_t n = 0; n < b.len; n++)
            assert_int_not_equal(tsc_control_req_decode(b.data, n, &out, NULL), 0);
    }
    /* Only the coordinator answers logs and log_index; the others are the
     * local agent's. */
    assert_true(tsc_control_op_is_coordinator(TSC_CONTROL_OP_LOGS));
    assert_true(tsc_control_op_is_coordinator(TSC_CONTROL_OP_LOG_INDEX));
    assert_false(tsc_control_op_is_coordinator(TSC_CONTROL_OP_LOG));
    assert_false(tsc_control_op_is_coordinator(TSC_CONTROL_OP_SEND));
    assert_false(tsc_control_op_is_coordinator(TSC_CONTROL_OP_RECV));
    assert_string_equal(tsc_control_op_name(TSC_CONTROL_OP_LOG_INDEX + 1), "?");

    /* An empty request of each: zero values survive. */
    struct tsc_control_req empty = {.op = TSC_CONTROL_OP_RECV};
    tsc_buf_reset(&b);
    assert_int_equal(tsc_control_req_encode(&empty, &b), 0);
    assert_int_equal(tsc_control_req_decode(b.data, b.len, &out, NULL), 0);
    assert_int_equal(out.op, TSC_CONTROL_OP_RECV);
    assert_int_equal(out.text_len, 0);
    assert_string_equal(out.peer, "");
    assert_int_equal(out.timeout_ms, 0);

    /* Text over the bound, or bytes missing: the encoder refuses. */
    tsc_buf_reset(&b);
    in.op = TSC_CONTROL_OP_LOG;
    in.text_len = TSC_CONTROL_MAX_TEXT + 1;
    assert_int_equal(tsc_control_req_encode(&in, &b), TSC_EINVAL);
    in.text = NULL;
    in.text_len = 3;
    assert_int_equal(tsc_control_req_encode(&in, &b), TSC_EINVAL);
    in.op = TSC_CONTROL_OP_LOG_INDEX + 1;
    in.text_len = 0;
    assert_int_equal(tsc_control_req_encode(&in, &b), TSC_EINVAL);
    assert_int_equal(b.len, 0);
    tsc_buf_free(&b);
}

/* {"v":1,"op":op, key: value} with value written by the callback. */
static void raw_log_request(struct tsc_buf *b, const char *op, const char *key,
                            void (*value)(msgpack_packer *, size_t), size_t arg)
{
    struct tsc_mp_writer w;
    tsc_buf_reset(b);
    tsc_mp_writer_init(&w, b);
    msgpack_pack_map(&w.pk, 3);
    msgpack_pack_str_with_body(&w.pk, "v", 1);
    msgpack_pack_uint64(&w.pk, 1);
    msgpack_pack_str_with_body(&w.pk, "op", 2);
    msgpack_pack_str_with_body(&w.pk, op, strlen(op));
    msgpack_pack_str_with_body(&w.pk, key, strlen(key));
    value(&w.pk, arg);
    assert_int_equal(tsc_mp_writer_status(&w), 0);
}

static void big_bin(msgpack_packer *pk, size_t n)
{
    uint8_t *p = calloc(n ? n : 1, 1);
    assert_non_null(p);
    memset(p, 'x', n);
    msgpack_pack_bin_with_body(pk, p, n);
    free(p);
}

static void str_of(msgpack_packer *pk, size_t n)
{
    char s[128];
    assert_true(n <= sizeof s);
    memset(s, 'p', n);
    if (n > 2)
        s[1] = n == 5 ? '\0' : 'p'; /* length 5: an embedded NUL */
    msgpack_pack_str_with_body(pk, s, n);
}

static void uint_of(msgpack_packer *pk, size_t v)
{
    msgpack_pack_uint64(pk, (uint64_t)v == 1 ? (uint64_t)UINT32_MAX + 1 : v);
}

static void str_value(msgpack_packer *pk, size_t n)
{
    (void)n;
    msgpack_pack_str_with_body(pk, "text", 4);
}

static void test_log_requests_reject(void **state)
{
    struct tsc_buf b;
    struct tsc_control_req r;
    char errmsg[TSC_ERRMSG_SIZE];
    tsc_buf_init(&b);
    raw_log_request(&b, "log", "text", big_bin, TSC_CONTROL_MAX_TEXT);
    assert_int_equal(tsc_control_req_decode(b.data, b.len, &r, errmsg), 0);
    assert_int_equal(r.text_len, TSC_CONTROL_MAX_TEXT);
    raw_log_request(&b, "log", "text", big_bin, TSC_CONTROL_MAX_TEXT + 1);
    assert_int_equal(tsc_control_req_decode(b.data, b.len, &r, errmsg), TSC_EMALFORMED);
    raw_log_request(&b, "log", "text", str_value, 0); /* text must be bin */
    assert_int_equal(tsc_control_req_decode(b.data, b.len, &r, errmsg), TSC_EMALFORMED);
    raw_log_request(&b, "send", "peer", str_of, TSC_CONTROL_NAME - 1);
    assert_int_equal(tsc_control_req_decode(b.data, b.len, &r, errmsg), 0);
    assert_int_equal(strlen(r.peer), TSC_CONTROL_NAME - 1);
    raw_log_request(&b, "send", "peer", str_of, TSC_CONTROL_NAME);
    assert_int_equal(tsc_control_req_decode(b.data, b.len, &r, errmsg), TSC_EMALFORMED);
    raw_log_request(&b, "send", "peer", str_of, 5);
    assert_int_equal(tsc_control_req_decode(b.data, b.len, &r, errmsg), TSC_EMALFORMED);
    raw_log_request(&b, "recv", "timeout_ms", uint_of, 1); /* 2^32 */
    assert_int_equal(tsc_control_req_decode(b.data, b.len, &r, errmsg), TSC_EMALFORMED);
    raw_log_request(&b, "recv", "timeout_ms", uint_of, 5000);
    assert_int_equal(tsc_control_req_decode(b.data, b.len, &r, errmsg), 0);
    assert_int_equal(r.timeout_ms, 5000);
    raw_log_request(&b, "logs", "from", str_value, 0);
    assert_int_equal(tsc_control_req_decode(b.data, b.len, &r, errmsg), TSC_EMALFORMED);
    raw_log_request(&b, "logz", "from", uint_of, 3);
    assert_int_equal(tsc_control_req_decode(b.data, b.len, &r, errmsg), TSC_EINVAL);
    assert_non_null(strstr(errmsg, "logz"));
    tsc_buf_free(&b);
}

static void test_seq_and_msg_round_trip(void **state)
{
    static const uint8_t text[] = {'h', 'i', 0, 0xff, '\n'};
    struct tsc_control_resp r;
    struct tsc_buf b;
    tsc_buf_init(&b);
    assert_int_equal(tsc_control_resp_encode_seq(5, 12, 99, &b), 0);
    assert_int_equal(tsc_control_resp_decode(b.data, b.len, &r), 0);
    assert_true(r.ok && r.has_seq && r.has_run);
    assert_false(r.has_logs || r.has_msg || r.has_ranges);
    assert_int_equal(r.self, 5);
    assert_int_equal(r.run, 12);
    assert_int_equal(r.seq, 99);
    tsc_control_resp_free(&r);
    for (size_t n = 0; n < b.len; n++)
        assert_int_not_equal(tsc_control_resp_decode(b.data, n, &r), 0);

    tsc_buf_reset(&b);
    assert_int_equal(tsc_control_resp_encode_msg(5, 12, 0xfeedull, 7, text, sizeof text, &b), 0);
    assert_int_equal(tsc_control_resp_decode(b.data, b.len, &r), 0);
    assert_true(r.ok && r.has_msg);
    assert_false(r.has_seq);
    assert_int_equal(r.msg_run, 12);
    assert_int_equal(r.msg_from, 0xfeedull);
    assert_int_equal(r.msg_seq, 7);
    assert_int_equal(r.msg_len, sizeof text);
    assert_memory_equal(r.msg_text, text, sizeof text);
    tsc_control_resp_free(&r);
    for (size_t n = 0; n < b.len; n++)
        assert_int_not_equal(tsc_control_resp_decode(b.data, n, &r), 0);

    /* An empty message is a message; one without text is not. */
    tsc_buf_reset(&b);
    assert_int_equal(tsc_control_resp_encode_msg(5, 12, 1, 1, NULL, 0, &b), 0);
    assert_int_equal(tsc_control_resp_decode(b.data, b.len, &r), 0);
    assert_true(r.has_msg);
    assert_int_equal(r.msg_len, 0);
    tsc_control_resp_free(&r);
    static const uint8_t no_text[] = {0x84, 0xa1, 'v',  0x01, 0xa2, 'o',  'k',  0xc3,
                                      0xa4, 's',  'e',  'l',  'f',  0x01, 0xa3, 'm',
                                      's',  'g',  0x81, 0xa3, 's',  'e',  'q',  0x07};
    assert_int_equal(tsc_control_resp_decode(no_text, sizeof no_text, &r), TSC_EMALFORMED);
    tsc_buf_reset(&b);
    assert_int_equal(tsc_control_resp_encode_msg(5, 12, 1, 1, NULL, 3, &b), TSC_EINVAL);
    assert_int_equal(tsc_control_resp_encode_msg(5, 12, 1, 1, text, TSC_CONTROL_MAX_TEXT + 1, &b),
                     TSC_EINVAL);
    assert_int_equal(b.len, 0);
    tsc_buf_free(&b);
}

static void test_logs_round_trip(void **state)
{
    static const uint8_t r1[] = {0x9a, 1, 2, 3}, r2[] = {0x01}, e1[] = {0x97, 1, 2};
    struct tsc_control_bytes recs[2] = {{r1, sizeof r1}, {r2, sizeof r2}}, errs[1] = {{e1, 3}};
    struct tsc_control_logs l = {.run = 9,
                                 .first = 101,
                                 .merged = 500,
                                 .finished = 1,
                                 .records = recs,
                                 .n_records = 2,
                                 .errors = errs,
                                 .n_errors = 1};
    struct tsc_control_resp r;
    struct tsc_buf b;
    tsc_buf_init(&b);
    assert_int_equal(tsc_control_resp_encode_logs(3, &l, &b), 0);
    assert_int_equal(tsc_control_resp_decode(b.data, b.len, &r), 0);
    assert_true(r.ok && r.has_logs);
    assert_false(r.has_ranges);
    assert_int_equal(r.logs.run, 9);
    assert_int_equal(r.logs.first, 101);
    assert_int_equal(r.logs.merged, 500);
    assert_true(r.logs.finished);
    assert_int_equal(r.logs.n_records, 2);
    assert_memory_equal(r.logs.records[0].p, r1, sizeof r1);
    assert_int_equal(r.logs.records[1].len, 1);
    assert_int_equal(r.logs.n_errors, 1);
    assert_memory_equal(r.logs.errors[0].p, e1, 3);
    tsc_control_resp_free(&r);
    assert_null(r.logs.records);
    for (size_t n = 0; n < b.len; n++)
        assert_int_not_equal(tsc_control_resp_decode(b.data, n, &r), 0);

    /* An empty page (nothing merged yet, not finished). */
    struct tsc_control_logs none = {.run = 9, .first = 1};
    tsc_buf_reset(&b);
    assert_int_equal(tsc_control_resp_encode_logs(3, &none, &b), 0);
    assert_int_equal(tsc_control_resp_decode(b.data, b.len, &r), 0);
    assert_true(r.has_logs && !r.logs.finished);
    assert_int_equal(r.logs.n_records, 0);
    assert_int_equal(r.logs.n_errors, 0);
    tsc_control_resp_free(&r);

    /* Bounds and missing arrays: refused, nothing written. */
    tsc_buf_reset(&b);
    l.n_records = TSC_CONTROL_MAX_LOG_RECORDS + 1;
    assert_int_equal(tsc_control_resp_encode_logs(3, &l, &b), TSC_EINVAL);
    l.n_records = 1;
    l.records = NULL;
    assert_int_equal(tsc_control_resp_encode_logs(3, &l, &b), TSC_EINVAL);
    l.records = recs;
    l.n_errors = TSC_CONTROL_MAX_LOG_ERRORS + 1;
    assert_int_equal(tsc_control_resp_encode_logs(3, &l, &b), TSC_EINVAL);
    assert_int_equal(b.len, 0);

    /* Records with first 0 (indices start at 1) do not describe a page. */
    l.n_errors = 0;
    l.first = 0;
    assert_int_equal(tsc_control_resp_encode_logs(3, &l, &b), 0);
    assert_int_equal(tsc_control_resp_decode(b.data, b.len, &r), TSC_EMALFORMED);
    tsc_buf_free(&b);
}

static void test_log_index_round_trip(void **state)
{
    static const uint8_t e1[] = {0x97, 1}, rec[] = {1};
    struct tsc_control_bytes errs[1] = {{e1, 2}}, recs[1] = {{rec, 1}};
    struct tsc_control_logs l = {.run = 4,
                                 .first = 1,
                                 .merged = 30,
                                 .records = recs,
                                 .n_records = 1,
                                 .errors = errs,
                                 .n_errors = 1};
    struct tsc_control_log_range g[3] = {
        {.stage = 0, .case_index = UINT32_MAX, .node = 0xa1, .first = 1, .last = 10, .count = 4},
        {.stage = 5, .case_index = 1, .node = 0xb2, .first = 11, .last = 11, .count = 1},
        {.stage = 5, .case_index = 1, .node = 0xa1, .first = 12, .last = 30, .count = 19},
    };
    struct tsc_control_resp r;
    struct tsc_buf b;
    tsc_buf_init(&b);
    assert_int_equal(tsc_control_resp_encode_log_index(3, &l, g, 3, &b), 0);
    assert_int_equal(tsc_control_resp_decode(b.data, b.len, &r), 0);
    assert_true(r.ok && r.has_logs && r.has_ranges);
    assert_int_equal(r.logs.run, 4);
    assert_int_equal(r.logs.merged, 30);
    assert_false(r.logs.finished);
    assert_int_equal(r.logs.n_records, 0); /* an index carries no records */
    assert_int_equal(r.logs.n_errors, 1);
    assert_int_equal(r.n_ranges, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r.ranges[i].stage, g[i].stage);
        assert_int_equal(r.ranges[i].case_index, g[i].case_index);
        assert_int_equal(r.ranges[i].node, g[i].node);
        assert_int_equal(r.ranges[i].first, g[i].first);
        assert_int_equal(r.ranges[i].last, g[i].last);
        assert_int_equal(r.ranges[i].count, g[i].count);
    }
    tsc_control_resp_free(&r);
    assert_null(r.ranges);
    for (size_t n = 0; n < b.len; n++)
        assert_int_not_equal(tsc_control_resp_decode(b.data, n, &r), 0);

    /* Ranges that cannot be: empty, reversed, more records than indices. */
    static const struct tsc_control_log_range bad[] = {
        {.node = 1, .first = 0, .last = 3, .count = 1},
        {.node = 1, .first = 5, .last = 4, .count = 1},
        {.node = 1, .first = 5, .last = 6, .count = 3},
        {.node = 1, .first = 5, .last = 6, .count = 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tsc_buf_reset(&b);
        assert_int_equal(tsc_control_resp_encode_log_index(3, &l, &bad[i], 1, &b), 0);
        assert_int_equal(tsc_control_resp_decode(b.data, b.len, &r), TSC_EMALFORMED);
    }
    tsc_buf_reset(&b);
    assert_int_equal(tsc_control_resp_encode_log_index(3, &l, NULL, 1, &b), TSC_EINVAL);
    assert_int_equal(
        tsc_control_resp_encode_log_index(3, &l, g, TSC_CONTROL_MAX_LOG_RANGES + 1, &b),
        TSC_EINVAL);
    assert_int_equal(b.len, 0);
    tsc_buf_free(&b);
}

/* Bit flips of the log answers, and arrays that claim more than is there. */
static void test_log_hostile_input(void **state)
{
    static const uint8_t rec[] = {1, 2, 3};
    struct tsc_control_bytes recs[2] = {{rec, 3}, {rec, 2}};
    struct tsc_control_logs l = {
        .run = 1, .first = 1, .records = recs, .n_records = 2, .errors = recs, .n_errors = 1};
    struct tsc_control_log_range g = {.node = 1, .first = 1, .last = 2, .count = 2};
    struct tsc_control_resp out;
    struct tsc_buf bufs[3];
    uint8_t junk[512];
    srand(11);
    for (int i = 0; i < 3; i++)
        tsc_buf_init(&bufs[i]);
    assert_int_equal(tsc_control_resp_encode_logs(1, &l, &bufs[0]), 0);
    assert_int_equal(tsc_control_resp_encode_log_index(1, &l, &g, 1, &bufs[1]), 0);
    assert_int_equal(tsc_control_resp_encode_msg(1, 1, 2, 3, rec, 3, &bufs[2]), 0);
    for (int round = 0; round < 30000; round++) {
        const struct tsc_buf *b = &bufs[round % 3];
        size_t n = b->len;
        assert_true(n <= sizeof junk);
        memcpy(junk, b->data, n);
        junk[(size_t)rand() % n] ^= (uint8_t)(1u << (rand() % 8));
        if (round % 7 == 0)
            n = (size_t)rand() % n;
        if (tsc_control_resp_decode(junk, n, &out) == 0)
            tsc_control_resp_free(&out);
    }
    /* {"v":1,"ok":true,"self":1,"ranges": array32 of 2^32-1} and the same
     * for "logs"."records": refused before anything is allocated. */
    static const uint8_t lying_ranges[] = {0x84, 0xa1, 'v', 0x01, 0xa2, 'o',  'k',  0xc3, 0xa4,
                                           's',  'e',  'l', 'f',  0x01, 0xa6, 'r',  'a',  'n',
                                           'g',  'e',  's', 0xdd, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(tsc_control_resp_decode(lying_ranges, sizeof lying_ranges, &out),
                     TSC_EMALFORMED);
    static const uint8_t lying_records[] = {
        0x84, 0xa1, 'v', 0x01, 0xa2, 'o', 'k', 0xc3, 0xa4, 's', 'e', 'l', 'f',  0x01, 0xa4, 'l',
        'o',  'g',  's', 0x81, 0xa7, 'r', 'e', 'c',  'o',  'r', 'd', 's', 0xdc, 0x01, 0x00};
    assert_int_equal(tsc_control_resp_decode(lying_records, sizeof lying_records, &out),
                     TSC_EMALFORMED);
    for (int i = 0; i < 3; i++)
        tsc_buf_free(&bufs[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_round_trip),   cmocka_unit_test(test_request_round_trip),
        cmocka_unit_test(test_request_rejects),     cmocka_unit_test(test_members_round_trip),
        cmocka_unit_test(test_stats_and_error),     cmocka_unit_test(test_hostile_input),
        cmocka_unit_test(test_run_ops_round_trip),  cmocka_unit_test(test_log_requests_round_trip),
        cmocka_unit_test(test_log_requests_reject), cmocka_unit_test(test_seq_and_msg_round_trip),
        cmocka_unit_test(test_logs_round_trip),     cmocka_unit_test(test_log_index_round_trip),
        cmocka_unit_test(test_log_hostile_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
