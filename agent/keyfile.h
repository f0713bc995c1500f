/* tsc — the cluster key file shared by tscd (--key) and tscctl (keygen, --key).
 *
 * Format written: the 32-byte key as 64 lowercase hex characters and a
 * newline, so it can be pasted into a provisioning template or an
 * environment. Accepted on read: that, with any surrounding whitespace, or
 * exactly 32 raw bytes. */
#ifndef TSC_AGENT_KEYFILE_H
#define TSC_AGENT_KEYFILE_H

#include <stdint.h>

#include "wire/crypto.h"

/* Read a key. 0, TSC_ENOTFOUND (no such file), TSC_EIO (unreadable) or
 * TSC_EINVAL (wrong format); errmsg (may be NULL) names the file. */
int tsc_keyfile_read(const char *path, uint8_t key[TSC_KEY_BYTES], char *errmsg);

/* Write a key with mode 0600. Without force an existing file is left alone
 * and TSC_EEXIST returned; with force it is replaced atomically (temp file +
 * rename). 0, TSC_EEXIST or TSC_EIO, with errmsg. */
int tsc_keyfile_write(const char *path, const uint8_t key[TSC_KEY_BYTES], int force, char *errmsg);

#endif
