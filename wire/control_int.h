/* tsc — control codec internals shared by control.c and control_run.c. */
#ifndef TSC_WIRE_CONTROL_INT_H
#define TSC_WIRE_CONTROL_INT_H

#include "wire/control.h"
#include "wire/mp.h"

/* enum tsc_control_op of a run op's name, or 0. */
int tsc__control_run_op(const char *s, uint32_t n);
/* Decode the value of a run key of a request ("run", "nonce", "suite",
 * "suite_name", "limit", "fwd"). 0 or TSC_EMALFORMED. */
int tsc__control_decode_req_key(struct tsc_mp_reader *r, const char *k, uint32_t klen,
                                struct tsc_control_req *req);
/* Is k a key of a run response ("run", "progress", "records", "history")? */
int tsc__control_is_run_key(const char *k, uint32_t klen);
/* Decode its value. 0, TSC_EMALFORMED or TSC_ENOMEM. */
int tsc__control_decode_run_key(struct tsc_mp_reader *r, const char *k, uint32_t klen,
                                struct tsc_control_resp *out);

#endif
