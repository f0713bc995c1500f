/* tsc — following files a suite names (see follow.h). */
#include "agent/follow.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/error.h"

struct followed {
    uint64_t run;
    char path[PATH_MAX]; /* resolved */
    char name[PATH_MAX]; /* as the suite names it (what records show) */
    int fd;              /* -1: not open (not there yet, or between rotations) */
    dev_t dev;
    ino_t ino;
    off_t off;
    char *part; /* an incomplete line, TSC_FOLLOW_MAX_LINE bytes */
    size_t n_part;
};

struct tsc_follow {
    tsc_follow_line_fn fn;
    void *ctx;
    struct followed *files[TSC_FOLLOW_MAX_FILES];
    size_t n;
    size_t lines; /* passed on by the current poll */
};

int tsc_follow_new(struct tsc_follow **out, tsc_follow_line_fn fn, void *ctx)
{
    struct tsc_follow *f = tsc_calloc(1, sizeof *f);
    if (f == NULL)
        return TSC_ENOMEM;
    f->fn = fn;
    f->ctx = ctx;
    *out = f;
    return 0;
}

static void drop(struct followed *x)
{
    if (x->fd >= 0)
        close(x->fd);
    tsc_free(x->part);
    tsc_free(x);
}

void tsc_follow_free(struct tsc_follow *f)
{
    if (f == NULL)
        return;
    for (size_t i = 0; i < f->n; i++)
        drop(f->files[i]);
    tsc_free(f);
}

size_t tsc_follow_count(const struct tsc_follow *f)
{
    return f ? f->n : 0;
}

int tsc_follow_unquote(const char *line, size_t len, char *out, size_t cap)
{
    size_t i = 0, n = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
        i++;
    while (len > i && (line[len - 1] == ' ' || line[len - 1] == '\t' || line[len - 1] == '\r'))
        len--;
    for (; i < len; i++) {
        char c = line[i];
        if (c == '\'') {
            const char *end = memchr(line + i + 1, '\'', len - i - 1);
            if (end == NULL)
                return TSC_EINVAL;
            size_t k = (size_t)(end - (line + i + 1));
            if (n + k >= cap)
                return TSC_EINVAL;
            memcpy(out + n, line + i + 1, k);
            n += k;
            i = (size_t)(end - line);
            continue;
        }
        if (c == '\\' && i + 1 < len)
            c = line[++i];
        if (n + 1 >= cap)
            return TSC_EINVAL;
        out[n++] = c;
    }
    out[n] = '\0';
    return 0;
}

static void emit(struct tsc_follow *f, struct followed *x, const char *p, size_t len)
{
    f->fn(f->ctx, x->run, x->name, p, len);
    f->lines++;
}

/* Split bytes into lines, holding an incomplete last one in x->part. */
static void feed(struct tsc_follow *f, struct followed *x, const char *p, size_t len)
{
    while (len > 0) {
        const char *nl = memchr(p, '\n', len);
        size_t take = nl ? (size_t)(nl - p) : len;
        while (take > 0) {
            size_t room = TSC_FOLLOW_MAX_LINE - x->n_part;
            size_t k = take < room ? take : room;
            memcpy(x->part + x->n_part, p, k);
            x->n_part += k;
            p += k;
            len -= k;
            take -= k;
            if (x->n_part == TSC_FOLLOW_MAX_LINE) { /* a piece of a long line */
                emit(f, x, x->part, x->n_part);
                x->n_part = 0;
            }
        }
        if (nl != NULL) {
            emit(f, x, x->part, x->n_part);
            x->n_part = 0;
            p++;
            len--;
        }
    }
}

static void flush_part(struct tsc_follow *f, struct followed *x)
{
    if (x->n_part > 0)
        emit(f, x, x->part, x->n_part);
    x->n_part = 0;
}

/* Read from x's open file up to its end (bounded per poll). */
static void read_new(struct tsc_follow *f, struct followed *x)
{
    char buf[64 << 10];
    size_t total = 0;
    while (total < TSC_FOLLOW_MAX_READ) {
        ssize_t r = pread(x->fd, buf, sizeof buf, x->off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        x->off += r;
        total += (size_t)r;
        feed(f, x, buf, (size_t)r);
    }
}

static int open_at(struct followed *x, int at_end)
{
    struct stat st;
    int fd = open(x->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -1;
    }
    x->fd = fd;
    x->dev = st.st_dev;
    x->ino = st.st_ino;
    x->off = at_end ? st.st_size : 0;
    return 0;
}

static void poll_one(struct tsc_follow *f, struct followed *x)
{
    struct stat st, now;
    if (x->fd < 0 && open_at(x, 0) != 0)
        return;
    if (fstat(x->fd, &st) == 0 && st.st_size < x->off) {
        /* Truncated: whatever was held belonged to the old content. */
        flush_part(f, x);
        x->off = 0;
    }
    read_new(f, x);
    if (stat(x->path, &now) != 0 || now.st_ino != x->ino || now.st_dev != x->dev) {
        /* Rotated or removed: the old file was read to its end above; go
         * on with the new one (if any) from its start. */
        flush_part(f, x);
        close(x->fd);
        x->fd = -1;
        if (open_at(x, 0) == 0)
            read_new(f, x);
    }
}

size_t tsc_follow_poll(struct tsc_follow *f)
{
    f->lines = 0;
    for (size_t i = 0; i < f->n; i++)
        poll_one(f, f->files[i]);
    return f->lines;
}

static int add(struct tsc_follow *f, uint64_t run, const char *workdir, const char *path)
{
    char full[PATH_MAX];
    int n = path[0] == '/' ? snprintf(full, sizeof full, "%s", path)
                           : snprintf(full, sizeof full, "%s/%s", workdir, path);
    if (n < 0 || (size_t)n >= sizeof full)
        return TSC_EINVAL;
    for (size_t i = 0; i < f->n; i++)
        if (f->files[i]->run == run && strcmp(f->files[i]->path, full) == 0)
            return 0;
    if (f->n == TSC_FOLLOW_MAX_FILES)
        return TSC_EFULL;
    struct followed *x = tsc_calloc(1, sizeof *x);
    char *part = tsc_malloc(TSC_FOLLOW_MAX_LINE);
    if (x == NULL || part == NULL) {
        tsc_free(x);
        tsc_free(part);
        return TSC_ENOMEM;
    }
    x->run = run;
    x->fd = -1;
    x->part = part;
    memcpy(x->path, full, (size_t)n + 1);
    snprintf(x->name, sizeof x->name, "%s", path);
    /* An absolute path existed before the run: its old content is not the
     * run's. A relative one is in the run's own work directory, which the
     * run's first stage may already have written to: all of it is. */
    open_at(x, path[0] == '/'); /* not there yet: opened at 0 when it appears */
    f->files[f->n++] = x;
    return 0;
}

int tsc_follow_set(struct tsc_follow *f, uint64_t run, const char *workdir, const char *list,
                   size_t len)
{
    char path[PATH_MAX];
    int rc = 0;
    while (len > 0) {
        const char *nl = memchr(list, '\n', len);
        size_t k = nl ? (size_t)(nl - list) : len;
        int r = tsc_follow_unquote(list, k, path, sizeof path);
        if (r == 0 && path[0] != '\0')
            r = add(f, run, workdir, path);
        if (r != 0 && rc == 0)
            rc = r;
        list += k;
        len -= k;
        if (nl != NULL) {
            list++;
            len--;
        }
    }
    return rc;
}

void tsc_follow_stop(struct tsc_follow *f, uint64_t run)
{
    size_t j = 0;
    for (size_t i = 0; i < f->n; i++) {
        struct followed *x = f->files[i];
        if (x->run != run) {
            f->files[j++] = x;
            continue;
        }
        if (x->fd >= 0 || open_at(x, 0) == 0)
            poll_one(f, x);
        flush_part(f, x);
        drop(x);
    }
    f->n = j;
}
