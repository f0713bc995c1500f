/* tsc — reading and writing the cluster key file (see keyfile.h). */
#define _GNU_SOURCE
#include "agent/keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Decode 64 hex characters surrounded by optional whitespace. */
static int parse_hex(const uint8_t *p, size_t n, uint8_t key[TSC_KEY_BYTES])
{
    while (n > 0 && is_space(p[n - 1]))
        n--;
    while (n > 0 && is_space(p[0])) {
        p++;
        n--;
    }
    if (n != 2 * TSC_KEY_BYTES)
        return -1;
    for (size_t i = 0; i < TSC_KEY_BYTES; i++) {
        int hi = hexval(p[2 * i]), lo = hexval(p[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        key[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

int tsc_keyfile_read(const char *path, uint8_t key[TSC_KEY_BYTES], char *errmsg)
{
    uint8_t data[256];
    size_t n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        tsc_errmsg_setf(errmsg, "key file %s: %s", path, strerror(errno));
        return errno == ENOENT ? TSC_ENOTFOUND : TSC_EIO;
    }
    /* Read at most sizeof data; a longer file is not a key file anyway. */
    for (;;) {
        ssize_t r = read(fd, data + n, sizeof data - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            tsc_errmsg_setf(errmsg, "key file %s: %s", path, strerror(errno));
            close(fd);
            return TSC_EIO;
        }
        if (r == 0 || (n += (size_t)r) == sizeof data)
            break;
    }
    close(fd);
    if (parse_hex(data, n, key) == 0)
        return 0;
    if (n == TSC_KEY_BYTES) {
        memcpy(key, data, TSC_KEY_BYTES);
        return 0;
    }
    tsc_errmsg_setf(errmsg, "key file %s: want 64 hex characters (tscctl keygen) or 32 raw bytes",
                    path);
    return TSC_EINVAL;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int tsc_keyfile_write(const char *path, const uint8_t key[TSC_KEY_BYTES], int force, char *errmsg)
{
    static const char digits[] = "0123456789abcdef";
    char text[2 * TSC_KEY_BYTES + 1];
    char tmp[4096];
    const char *target = path;
    int fd;

    for (size_t i = 0; i < TSC_KEY_BYTES; i++) {
        text[2 * i] = digits[key[i] >> 4];
        text[2 * i + 1] = digits[key[i] & 15];
    }
    text[2 * TSC_KEY_BYTES] = '\n';

    if (force) {
        /* Write beside the target and rename over it, so a reader never sees
         * a half-written key and the old one is replaced in one step. */
        if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
            tsc_errmsg_setf(errmsg, "key file %s: path too long", path);
            return TSC_EIO;
        }
        target = tmp;
    }
    fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        tsc_errmsg_setf(errmsg, "key file %s: %s%s", path, strerror(e),
                        e == EEXIST ? " (use --force to replace it)" : "");
        return e == EEXIST ? TSC_EEXIST : TSC_EIO;
    }
    /* The umask could have narrowed 0600 further; never let it widen. */
    if (fchmod(fd, 0600) != 0 || write_all(fd, text, sizeof text) != 0 || fsync(fd) != 0) {
        tsc_errmsg_setf(errmsg, "key file %s: %s", path, strerror(errno));
        close(fd);
        unlink(target);
        return TSC_EIO;
    }
    if (close(fd) != 0) {
        tsc_errmsg_setf(errmsg, "key file %s: %s", path, strerror(errno));
        unlink(target);
        return TSC_EIO;
    }
    if (force && rename(tmp, path) != 0) {
        tsc_errmsg_setf(errmsg, "key file %s: %s", path, strerror(errno));
        unlink(tmp);
        return TSC_EIO;
    }
    return 0;
}
