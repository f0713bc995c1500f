/* tsc — the input format of the engine fuzz targets (fuzz_gossip,
 * fuzz_election): the fuzz input is a little "script", read front to back
 * with a cursor that never fails. Every read past the end yields zeros, so
 * any byte string is a valid script and a truncated one simply ends early;
 * this keeps libFuzzer's mutations meaningful (a flipped byte changes one
 * decision, not the parse of everything after it).
 *
 * Scripts are a sequence of operations: one opcode byte (taken modulo the
 * number of operations of the target), then the operation's arguments. The
 * opcodes are listed here so that the seed corpus (fuzz/corpus_engines.c)
 * and the targets agree on them. */
#ifndef TSC_FUZZ_SCRIPT_H
#define TSC_FUZZ_SCRIPT_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

struct tsc_fuzz_in {
    const uint8_t *p;
    size_t n; /* bytes left */
};

static inline uint8_t tsc_fuzz_u8(struct tsc_fuzz_in *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

/* Little-endian, zero-padded at the end of the input. */
static inline uint64_t tsc_fuzz_uint(struct tsc_fuzz_in *in, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++)
        v |= (uint64_t)tsc_fuzz_u8(in) << (8 * i);
    return v;
}

static inline uint16_t tsc_fuzz_u16(struct tsc_fuzz_in *in)
{
    return (uint16_t)tsc_fuzz_uint(in, 2);
}

static inline uint32_t tsc_fuzz_u32(struct tsc_fuzz_in *in)
{
    return (uint32_t)tsc_fuzz_uint(in, 4);
}

static inline uint64_t tsc_fuzz_u64(struct tsc_fuzz_in *in)
{
    return tsc_fuzz_uint(in, 8);
}

/* Up to `want` bytes of the input, in place; *len says how many. */
static inline const uint8_t *tsc_fuzz_bytes(struct tsc_fuzz_in *in, size_t want, size_t *len)
{
    const uint8_t *p = in->p;
    *len = want < in->n ? want : in->n;
    in->p += *len;
    in->n -= *len;
    return p;
}

/* The OOM operation makes the n-th allocation of the next step fail. That
 * is not network input, and it finds bugs of its own (failed allocations
 * leaving the engine inconsistent), so it is off unless the environment
 * sets TSC_FUZZ_OOM=1; when off, the operation is read and ignored, so
 * inputs mean the same either way. */
static inline int tsc_fuzz_oom_enabled(void)
{
    static int enabled = -1;
    if (enabled < 0) {
        const char *v = getenv("TSC_FUZZ_OOM");
        enabled = v != NULL && v[0] == '1';
    }
    return enabled;
}

/* fuzz_gossip: the first byte configures the engine (bit 0: a 600-byte
 * datagram limit; bit 1: start alone, without the push-pull that teaches
 * the engine members 1..3), then operations: */
enum {
    TSC_FZG_TICK_DEADLINE = 0, /* advance to the engine's next deadline, TICK */
    TSC_FZG_TICK_BY,           /* u16 × 100 µs, TICK */
    TSC_FZG_RAW_DATAGRAM,      /* u16 length (mod 1500), bytes */
    TSC_FZG_RAW_STREAM,        /* u16 length (mod 4096), bytes */
    TSC_FZG_SEALED_DATAGRAM,   /* envelope, SWIM body built from arguments */
    TSC_FZG_SEALED_STREAM,     /* envelope, push-pull body built from arguments */
    TSC_FZG_REPLAY,            /* the last sealed frame again, maybe with a byte flipped */
    TSC_FZG_ECHO,              /* one of the engine's own frames back to it */
    TSC_FZG_CONTROL,           /* LEAVE, SET_META or JOIN */
    TSC_FZG_OOM,               /* u8: fail the n-th allocation of the next step */
    TSC_FZG_OPS
};

/* fuzz_election: the first byte chooses the start (bits 0-1: bootstrapped
 * with 3 voters, restored from a log, not a voter, or a voter set of one;
 * bit 2: a 512-byte datagram limit), then operations: */
enum {
    TSC_FZE_TICK_DEADLINE = 0, /* advance to the engine's next deadline, TICK */
    TSC_FZE_TICK_BY,           /* u16 × 100 µs, TICK */
    TSC_FZE_RAW,               /* u8 kind, u16 length (mod 1500), bytes */
    TSC_FZE_SEALED,            /* envelope, raft body built from arguments */
    TSC_FZE_REPLY,             /* a peer answers the engine's last request to it */
    TSC_FZE_REPLAY,            /* the last sealed frame again, maybe with a byte flipped */
    TSC_FZE_COMMAND,           /* APPEND, ADD/REMOVE_VOTER, LEAVE, PEERS, BOOTSTRAP */
    TSC_FZE_OOM,               /* fail the n-th allocation of the next step */
    TSC_FZE_ECHO,              /* one of the engine's own frames back to it */
    TSC_FZE_OPS
};

#endif
