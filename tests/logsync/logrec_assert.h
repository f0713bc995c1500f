/* tsc — a cmocka assertion shared by the record and block codec tests:
 * two log records (logsync/merge.h) are the same, field by field. Include
 * after <cmocka.h>. */
#ifndef TSC_TESTS_LOGSYNC_LOGREC_ASSERT_H
#define TSC_TESTS_LOGSYNC_LOGREC_ASSERT_H

#include "logsync/merge.h"

static void assert_same(const struct tsc_logrec *a, const struct tsc_logrec *b)
{
    assert_int_equal(a->node, b->node);
    assert_int_equal(a->seq, b->seq);
    assert_int_equal(tsc_vclock_compare(&a->clock, &b->clock), TSC_VCLOCK_EQUAL);
    assert_int_equal(a->clock.n, b->clock.n);
    assert_int_equal(a->lamport, b->lamport);
    assert_int_equal(a->wall_us, b->wall_us);
    assert_int_equal(a->run, b->run);
    assert_int_equal(a->stage, b->stage);
    assert_int_equal(a->case_index, b->case_index);
    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->len, b->len);
    if (a->len > 0)
        assert_memory_equal(a->text, b->text, a->len);
}

#endif
