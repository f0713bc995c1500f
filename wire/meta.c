/* tsc — a node's roles, labels and readiness map, as carried inside its
 * signed record (see record.h for the format and the string rules). */
#include "wire/record.h"

#include "common/error.h"
#include "wire/mp.h"

#include <string.h>

#define K_ROLES  "roles"
#define K_LABELS "labels"
#define K_READY  "ready"

/* strnlen is POSIX, not C11. */
static size_t bounded_len(const char *s, size_t max)
{
    size_t n = 0;
    while (n < max && s[n] != '\0')
        n++;
    return n;
}

/* The one string rule, for NUL-terminated input (encode) and for counted
 * input straight off the wire (decode). errmsg may be NULL. */
static int check_bytes(const char *s, size_t len, int is_key, char *errmsg)
{
    if (len == 0) {
        tsc_errmsg_setf(errmsg, "empty string");
        return TSC_EINVAL;
    }
    if (len >= TSC_META_STR) {
        tsc_errmsg_setf(errmsg, "'%.20s...' is longer than %d bytes", s, TSC_META_STR - 1);
        return TSC_EINVAL;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x21 || ch > 0x7e) {
            tsc_errmsg_setf(errmsg, "'%.*s': byte 0x%02x at %zu is not printable ASCII (no spaces)",
                            (int)i, s, ch, i);
            return TSC_EINVAL;
        }
        if (is_key && ch == '=') {
            tsc_errmsg_setf(errmsg, "'%.*s': '=' is not allowed in a key", (int)len, s);
            return TSC_EINVAL;
        }
    }
    return 0;
}

int tsc_meta_check_str(const char *s, int is_key, char *errmsg)
{
    if (s == NULL) {
        tsc_errmsg_setf(errmsg, "missing string");
        return TSC_EINVAL;
    }
    return check_bytes(s, bounded_len(s, TSC_META_STR), is_key, errmsg);
}

/* Validate a whole struct before writing a byte, so encode either writes a
 * complete meta or nothing. */
static int check_kvs(const char *what, const struct tsc_meta_kv *kv, unsigned n, unsigned max,
                     char *errmsg)
{
    if (n > max) {
        tsc_errmsg_setf(errmsg, "%u %s, at most %u allowed", n, what, max);
        return TSC_EINVAL;
    }
    for (unsigned i = 0; i < n; i++) {
        if (tsc_meta_check_str(kv[i].key, 1, errmsg) != 0 ||
            tsc_meta_check_str(kv[i].val, 0, errmsg) != 0) {
            tsc_errmsg_wrapf(errmsg, "%s %u", what, i + 1);
            return TSC_EINVAL;
        }
        for (unsigned j = 0; j < i; j++) {
            if (strncmp(kv[i].key, kv[j].key, TSC_META_STR) == 0) {
                tsc_errmsg_setf(errmsg, "%s: duplicate key '%s'", what, kv[i].key);
                return TSC_EINVAL;
            }
        }
    }
    return 0;
}

static int check_meta(const struct tsc_meta *m, char *errmsg)
{
    if (m->n_roles > TSC_META_MAX_ROLES) {
        tsc_errmsg_setf(errmsg, "%u roles, at most %d allowed", m->n_roles, TSC_META_MAX_ROLES);
        return TSC_EINVAL;
    }
    for (unsigned i = 0; i < m->n_roles; i++) {
        if (tsc_meta_check_str(m->roles[i], 0, errmsg) != 0) {
            tsc_errmsg_wrapf(errmsg, "role %u", i + 1);
            return TSC_EINVAL;
        }
        for (unsigned j = 0; j < i; j++) {
            if (strncmp(m->roles[i], m->roles[j], TSC_META_STR) == 0) {
                tsc_errmsg_setf(errmsg, "duplicate role '%s'", m->roles[i]);
                return TSC_EINVAL;
            }
        }
    }
    if (check_kvs("labels", m->labels, m->n_labels, TSC_META_MAX_LABELS, errmsg) != 0 ||
        check_kvs("ready", m->ready, m->n_ready, TSC_META_MAX_READY, errmsg) != 0)
        return TSC_EINVAL;
    return 0;
}

static void pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = bounded_len(s, TSC_META_STR);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static void pack_kvs(msgpack_packer *pk, const char *name, const struct tsc_meta_kv *kv, unsigned n)
{
    pack_str(pk, name);
    msgpack_pack_map(pk, n);
    for (unsigned i = 0; i < n; i++) {
        pack_str(pk, kv[i].key);
        pack_str(pk, kv[i].val);
    }
}

/* Appends the encoded meta to out; out unchanged on error. All three keys
 * are always written, so equal structs give equal bytes. */
int tsc_meta_encode(const struct tsc_meta *m, struct tsc_buf *out, char *errmsg)
{
    struct tsc_mp_writer w;
    size_t start = out->len;
    int rc = check_meta(m, errmsg);
    if (rc != 0)
        return rc;
    tsc_mp_writer_init(&w, out);
    msgpack_pack_map(&w.pk, 3);
    pack_str(&w.pk, K_ROLES);
    msgpack_pack_array(&w.pk, m->n_roles);
    for (unsigned i = 0; i < m->n_roles; i++)
        pack_str(&w.pk, m->roles[i]);
    pack_kvs(&w.pk, K_LABELS, m->labels, m->n_labels);
    pack_kvs(&w.pk, K_READY, m->ready, m->n_ready);
    if (tsc_mp_writer_status(&w) != 0) {
        out->len = start;
        tsc_errmsg_setf(errmsg, "out of memory");
        return TSC_ENOMEM;
    }
    if (out->len - start > TSC_META_MAX_BYTES) {
        tsc_errmsg_setf(errmsg, "meta is %zu bytes, at most %d allowed", out->len - start,
                        TSC_META_MAX_BYTES);
        out->len = start;
        return TSC_ETOOBIG;
    }
    return 0;
}

/* ---- decoding ------------------------------------------------------------ */

/* Read one string and copy it, NUL-terminated, into dst[TSC_META_STR]. */
static int read_meta_str(struct tsc_mp_reader *r, int is_key, char *dst)
{
    const char *s;
    uint32_t len;
    if (tsc_mp_read_str(r, &s, &len) != 0 || check_bytes(s, len, is_key, NULL) != 0)
        return TSC_EMALFORMED;
    memcpy(dst, s, len);
    dst[len] = '\0';
    return 0;
}

static int read_kvs(struct tsc_mp_reader *r, struct tsc_meta_kv *kv, unsigned *n, unsigned max)
{
    uint32_t count;
    if (tsc_mp_read_map(r, &count) != 0 || count > max)
        return TSC_EMALFORMED;
    for (unsigned i = 0; i < count; i++) {
        if (read_meta_str(r, 1, kv[i].key) != 0 || read_meta_str(r, 0, kv[i].val) != 0)
            return TSC_EMALFORMED;
        for (unsigned j = 0; j < i; j++)
            if (strcmp(kv[i].key, kv[j].key) == 0)
                return TSC_EMALFORMED;
    }
    *n = count;
    return 0;
}

static int read_roles(struct tsc_mp_reader *r, struct tsc_meta *m)
{
    uint32_t count;
    if (tsc_mp_read_array(r, &count) != 0 || count > TSC_META_MAX_ROLES)
        return TSC_EMALFORMED;
    for (unsigned i = 0; i < count; i++) {
        if (read_meta_str(r, 0, m->roles[i]) != 0)
            return TSC_EMALFORMED;
        for (unsigned j = 0; j < i; j++)
            if (strcmp(m->roles[i], m->roles[j]) == 0)
                return TSC_EMALFORMED;
    }
    m->n_roles = count;
    return 0;
}

static int key_is(const char *s, uint32_t len, const char *name)
{
    return len == strlen(name) && memcmp(s, name, len) == 0;
}

/* m is zeroed first; on error its contents are unspecified. An empty input
 * is not a meta (a record with no meta carries an empty map). */
int tsc_meta_decode(const uint8_t *p, size_t len, struct tsc_meta *m)
{
    struct tsc_mp_reader r;
    uint32_t n;
    int seen_roles = 0, seen_labels = 0, seen_ready = 0;
    memset(m, 0, sizeof *m);
    if (len > TSC_META_MAX_BYTES)
        return TSC_ETOOBIG;
    tsc_mp_reader_init(&r, p, len);
    if (tsc_mp_read_map(&r, &n) != 0)
        return TSC_EMALFORMED;
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t klen;
        int rc;
        if (tsc_mp_read_str(&r, &k, &klen) != 0)
            return TSC_EMALFORMED;
        if (key_is(k, klen, K_ROLES)) {
            rc = seen_roles++ ? TSC_EMALFORMED : read_roles(&r, m);
        } else if (key_is(k, klen, K_LABELS)) {
            rc = seen_labels++ ? TSC_EMALFORMED
                               : read_kvs(&r, m->labels, &m->n_labels, TSC_META_MAX_LABELS);
        } else if (key_is(k, klen, K_READY)) {
            rc = seen_ready++ ? TSC_EMALFORMED
                              : read_kvs(&r, m->ready, &m->n_ready, TSC_META_MAX_READY);
        } else {
            rc = tsc_mp_skip(&r);
        }
        if (rc != 0)
            return TSC_EMALFORMED;
    }
    if (tsc_mp_remaining(&r) != 0)
        return TSC_EMALFORMED;
    return 0;
}
