/* tsc — allocation hook. The default forwards to libc. */
#include "common/alloc.h"

#include <stdlib.h>
#include <string.h>

static struct tsc_alloc_hook hook;
static int have_hook;
static unsigned long fail_countdown;

void tsc_alloc_set_hook(const struct tsc_alloc_hook *h)
{
    if (h == NULL) {
        have_hook = 0;
        return;
    }
    hook = *h;
    have_hook = 1;
}

void tsc_alloc_fail_after(unsigned long n)
{
    fail_countdown = n;
}

static int should_fail(void)
{
    if (fail_countdown == 0)
        return 0;
    if (--fail_countdown == 0)
        return 1;
    return 0;
}

void *tsc_malloc(size_t size)
{
    if (should_fail())
        return NULL;
    if (have_hook)
        return hook.malloc(hook.ctx, size);
    return malloc(size == 0 ? 1 : size);
}

void *tsc_calloc(size_t n, size_t size)
{
    if (size != 0 && n > (size_t)-1 / size)
        return NULL;
    void *p = tsc_malloc(n * size);
    if (p != NULL)
        memset(p, 0, n * size);
    return p;
}

void *tsc_realloc(void *ptr, size_t size)
{
    if (should_fail())
        return NULL;
    if (have_hook)
        return hook.realloc(hook.ctx, ptr, size);
    return realloc(ptr, size == 0 ? 1 : size);
}

void tsc_free(void *ptr)
{
    if (ptr == NULL)
        return;
    if (have_hook)
        hook.free(hook.ctx, ptr);
    else
        free(ptr);
}
