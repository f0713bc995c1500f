/* tsc — write the seed corpus of fuzz_unseal into a directory:
 *     gen_corpus DIR
 * One file per seed; the directory must exist. */
#include <stdio.h>

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
    if (argc != 2) {
        fprintf(stderr, "usage: gen_corpus DIR\n");
        return 2;
    }
    struct out o = {argv[1], 0, 0};
    int rc = tsc_fuzz_seeds(write_seed, &o);
    if (rc != 0) {
        fprintf(stderr, "gen_corpus: %s\n", tsc_strerror(rc));
        return 1;
    }
    if (o.failed)
        return 1;
    printf("gen_corpus: %d seeds in %s\n", o.count, o.dir);
    return 0;
}
