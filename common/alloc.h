/* tsc — allocation through a swappable hook, so tests can make the n-th
 * allocation fail and check that every error path releases what it took. */
#ifndef TSC_COMMON_ALLOC_H
#define TSC_COMMON_ALLOC_H

#include <stddef.h>

struct tsc_alloc_hook {
    void *(*malloc)(void *ctx, size_t size);
    void *(*realloc)(void *ctx, void *ptr, size_t size);
    void (*free)(void *ctx, void *ptr);
    void *ctx;
};

/* Install a hook (NULL restores libc). Not thread-safe: tests only. */
void tsc_alloc_set_hook(const struct tsc_alloc_hook *hook);

/* Make the n-th allocation from now fail (1 = the next one); 0 disables. */
void tsc_alloc_fail_after(unsigned long n);

void *tsc_malloc(size_t size);
void *tsc_calloc(size_t n, size_t size); /* overflow-checked */
void *tsc_realloc(void *ptr, size_t size);
void tsc_free(void *ptr);

#endif
