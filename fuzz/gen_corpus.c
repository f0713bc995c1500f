/* tsc — write the seed corpus of a fuzz target into a directory:
 *     gen_corpus DIR [TARGET]
 * TARGET is fuzz_unseal (the default), fuzz_gossip or fuzz_election. One
 * file per seed; the directory must exist. */
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "fuzz/fuzz.h"

struct out {
    const char *dir;
    int failed;
    int count;
};

static void write_seed(void *ctx, const char *name, const uint8_t *p, size_t n)
{
    struct out *o = ctx;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", o->dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(p, 1, n, f) != n) {
        perror(path);
        o->failed = 1;
    }
    if (f != NULL && fclose(f) != 0)
        o->failed = 1;
    o->count++;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *target;
        int (*seeds)(void (*emit)(void *, const char *, const uint8_t *, size_t), void *);
    } targets[] = {
        {"fuzz_unseal", tsc_fuzz_seeds},
        {"fuzz_gossip", tsc_fuzz_gossip_seeds},
        {"fuzz_election", tsc_fuzz_election_seeds},
    };
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: gen_corpus DIR [fuzz_unseal|fuzz_gossip|fuzz_election]\n");
        return 2;
    }
    const char *target = argc == 3 ? argv[2] : "fuzz_unseal";
    for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
        if (strcmp(target, targets[t].target) != 0)
            continue;
        struct out o = {argv[1], 0, 0};
        int rc = targets[t].seeds(write_seed, &o);
        if (rc != 0) {
            fprintf(stderr, "gen_corpus: %s\n", tsc_strerror(rc));
            return 1;
        }
        if (o.failed)
            return 1;
        printf("gen_corpus: %d seeds for %s in %s\n", o.count, target, o.dir);
        return 0;
    }
    fprintf(stderr, "gen_corpus: unknown target '%s'\n", target);
    return 2;
}
