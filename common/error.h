/* tsc — error codes and error messages shared by every module.
 *
 * Every fallible function returns 0 or a positive TSC_E* code from the one
 * X-macro table below. Long-lived objects and callers keep a char buffer of
 * TSC_ERRMSG_SIZE bytes; each layer wraps the message with its own context on
 * the way up ("load suite: line 12: unknown stage 'int'"). */
#ifndef TSC_COMMON_ERROR_H
#define TSC_COMMON_ERROR_H

#include <stddef.h>

#define TSC_ERRORS(X)                                                                              \
    X(TSC_ENOMEM, 1, "out of memory")                                                              \
    X(TSC_EINVAL, 2, "invalid argument")                                                           \
    X(TSC_EMALFORMED, 3, "malformed input")                                                        \
    X(TSC_ETOOBIG, 4, "input too large")                                                           \
    X(TSC_EAUTH, 5, "authentication failed (wrong cluster key or tampered frame)")                 \
    X(TSC_EREPLAY, 6, "replayed or stale frame")                                                   \
    X(TSC_EVERSION, 7, "unsupported protocol version")                                             \
    X(TSC_ECLUSTER, 8, "frame from another cluster")                                               \
    X(TSC_ESIG, 9, "bad signature")                                                                \
    X(TSC_EIO, 10, "I/O error")                                                                    \
    X(TSC_ENOTFOUND, 11, "not found")                                                              \
    X(TSC_ECONNREFUSED, 12, "connection refused")                                                  \
    X(TSC_ETIMEDOUT, 13, "timed out")                                                              \
    X(TSC_EFULL, 14, "capacity exhausted")                                                         \
    X(TSC_ESTORE, 15, "storage error")                                                             \
    X(TSC_ESTATE, 16, "operation not valid in this state")                                         \
    X(TSC_EEXIST, 17, "already exists")                                                            \
    X(TSC_ESTALE, 18, "stale record")                                                              \
    X(TSC_EUNKNOWN, 19, "unknown sender")

enum tsc_error {
    TSC_OK = 0,
#define TSC__ERR_ENUM(name, value, text) name = value,
    TSC_ERRORS(TSC__ERR_ENUM)
#undef TSC__ERR_ENUM
        TSC_ERROR_MAX
};

#define TSC_ERRMSG_SIZE 256

/* The human text of a TSC_E* code; never NULL, also for unknown codes. */
const char *tsc_strerror(int rc);

/* The symbolic name of a TSC_E* code ("TSC_EAUTH"); never NULL. */
const char *tsc_errname(int rc);

/* Format a message into errmsg (TSC_ERRMSG_SIZE bytes), truncating safely.
 * errmsg may be NULL, then nothing happens. */
void tsc_errmsg_setf(char *errmsg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefix the current message with context: "ctx: <old message>". errmsg may be
 * NULL. If errmsg is empty the result is just the context. */
void tsc_errmsg_wrapf(char *errmsg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
