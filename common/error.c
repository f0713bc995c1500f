/* tsc — the one table of error codes, and errmsg helpers. */
#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *tsc_strerror(int rc)
{
    switch (rc) {
    case TSC_OK:
        return "success";
#define TSC__ERR_TEXT(name, value, text)                                                           \
    case name:                                                                                     \
        return text;
        TSC_ERRORS(TSC__ERR_TEXT)
#undef TSC__ERR_TEXT
    default:
        return "unknown error";
    }
}

const char *tsc_errname(int rc)
{
    switch (rc) {
    case TSC_OK:
        return "TSC_OK";
#define TSC__ERR_NAME(name, value, text)                                                           \
    case name:                                                                                     \
        return #name;
        TSC_ERRORS(TSC__ERR_NAME)
#undef TSC__ERR_NAME
    default:
        return "TSC_E?";
    }
}

void tsc_errmsg_setf(char *errmsg, const char *fmt, ...)
{
    va_list ap;
    if (errmsg == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(errmsg, TSC_ERRMSG_SIZE, fmt, ap);
    va_end(ap);
}

void tsc_errmsg_wrapf(char *errmsg, const char *fmt, ...)
{
    char old[TSC_ERRMSG_SIZE];
    va_list ap;
    if (errmsg == NULL)
        return;
    memcpy(old, errmsg, sizeof old);
    old[sizeof old - 1] = '\0';
    va_start(ap, fmt);
    vsnprintf(errmsg, TSC_ERRMSG_SIZE, fmt, ap);
    va_end(ap);
    if (old[0] == '\0')
        return;
    /* Append ": old" by hand: snprintf would warn about the truncation that
     * is exactly what we want for over-long chains of context. */
    size_t n = strlen(errmsg);
    const char *parts[2] = {": ", old};
    for (int i = 0; i < 2; i++) {
        size_t k = strlen(parts[i]);
        if (k > TSC_ERRMSG_SIZE - 1 - n)
            k = TSC_ERRMSG_SIZE - 1 - n;
        memcpy(errmsg + n, parts[i], k);
        n += k;
    }
    errmsg[n] = '\0';
}
