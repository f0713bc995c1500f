/* tsc — tscctl's transport: one request, one response, over the agent's
 * TCP port (sealed with the cluster key) or its Unix socket (plaintext,
 * guarded by file permissions). Framing: [4-byte BE length][frame].
 *
 * Plain blocking sockets with poll() deadlines: a CLI that sends one frame
 * gains nothing from an event loop. The point of this file is to classify
 * failures precisely, because the exit code is the CLI's answer to scripts:
 * refused or timed out means "no agent", the auth marker or a reply we
 * cannot open means "wrong key". */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sodium.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "wire/frame.h"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until fd is ready for `events` or the deadline passes. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        struct pollfd p = {fd, events, 0};
        if (left <= 0)
            return TSC_ETIMEDOUT;
        int r = poll(&p, 1, (int)left);
        if (r > 0)
            return 0;
        if (r == 0)
            return TSC_ETIMEDOUT;
        if (errno != EINTR)
            return TSC_EIO;
    }
}

/* Non-blocking connect with a deadline; returns the connected fd or -1 with
 * *rc set. */
static int connect_to(const struct sockaddr *sa, socklen_t len, int64_t deadline, int *rc,
                      char *errmsg, const char *where)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int err = 0;
    socklen_t elen = sizeof err;
    if (fd < 0) {
        tsc_errmsg_setf(errmsg, "socket: %s", strerror(errno));
        *rc = TSC_EIO;
        return -1;
    }
    if (connect(fd, sa, len) != 0) {
        if (errno != EINPROGRESS && errno != EAGAIN) {
            err = errno;
        } else if ((*rc = wait_fd(fd, POLLOUT, deadline)) != 0) {
            tsc_errmsg_setf(errmsg, "no agent at %s: connection timed out", where);
            close(fd);
            return -1;
        } else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0) {
            err = errno;
        }
    }
    if (err == 0)
        return fd;
    close(fd);
    if (err == ECONNREFUSED || err == ENOENT || err == ENOTSOCK || err == EHOSTUNREACH ||
        err == ENETUNREACH || err == ETIMEDOUT) {
        tsc_errmsg_setf(errmsg, "no agent at %s: %s", where, strerror(err));
        *rc = err == ETIMEDOUT ? TSC_ETIMEDOUT : TSC_ECONNREFUSED;
    } else {
        tsc_errmsg_setf(errmsg, "cannot connect to %s: %s", where, strerror(err));
        *rc = TSC_EIO;
    }
    return -1;
}

static int send_all(int fd, const uint8_t *p, size_t n, int64_t deadline)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            int rc = wait_fd(fd, POLLOUT, deadline);
            if (rc != 0)
                return rc;
        } else {
            return TSC_EIO;
        }
    }
    return 0;
}

/* Read exactly n bytes. TSC_EIO with *eof set when the peer closed first. */
static int recv_all(int fd, uint8_t *p, size_t n, int64_t deadline, int *eof)
{
    while (n > 0) {
        ssize_t r = recv(fd, p, n, 0);
        if (r > 0) {
            p += r;
            n -= (size_t)r;
        } else if (r == 0) {
            *eof = 1;
            return TSC_EIO;
        } else if (errno == EAGAIN || errno == EINTR) {
            int rc = wait_fd(fd, POLLIN, deadline);
            if (rc != 0)
                return rc;
        } else {
            return errno == ECONNRESET ? (*eof = 1, TSC_EIO) : TSC_EIO;
        }
    }
    return 0;
}

/* One framed exchange on a connected socket: frame out, frame in. */
static int exchange(int fd, const uint8_t *out, size_t out_len, struct tsc_buf *in,
                    int64_t deadline, char *errmsg, const char *where)
{
    uint8_t hdr[4] = {(uint8_t)(out_len >> 24), (uint8_t)(out_len >> 16), (uint8_t)(out_len >> 8),
                      (uint8_t)out_len};
    int eof = 0, rc;
    if ((rc = send_all(fd, hdr, 4, deadline)) != 0 ||
        (rc = send_all(fd, out, out_len, deadline)) != 0) {
        tsc_errmsg_setf(errmsg, "%s: sending the request: %s", where,
                        rc == TSC_ETIMEDOUT ? "timed out" : strerror(errno));
        return rc;
    }
    if ((rc = recv_all(fd, hdr, 4, deadline, &eof)) != 0) {
        if (rc == TSC_ETIMEDOUT)
            tsc_errmsg_setf(errmsg, "no answer from %s (timed out)", where);
        else
            tsc_errmsg_setf(errmsg, "%s closed the connection without an answer", where);
        return rc;
    }
    uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
    if (n == 0 || n > TSC_WIRE_MAX_FRAME) {
        tsc_errmsg_setf(errmsg, "%s: bad reply length %u (not a tsc agent?)", where, n);
        return TSC_EMALFORMED;
    }
    if (tsc_buf_reserve(in, n) != 0) {
        tsc_errmsg_setf(errmsg, "out of memory");
        return TSC_ENOMEM;
    }
    if ((rc = recv_all(fd, in->data + in->len, n, deadline, &eof)) != 0) {
        tsc_errmsg_setf(errmsg, "%s: truncated reply", where);
        return rc == TSC_ETIMEDOUT ? rc : TSC_EIO;
    }
    in->len += n;
    return 0;
}

static int call_unix(const struct tsc_ctl_target *t, const struct tsc_buf *req,
                     struct tsc_buf *resp, int64_t deadline, char *errmsg)
{
    struct sockaddr_un sa;
    int rc = 0;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(t->socket_path) >= sizeof sa.sun_path) {
        tsc_errmsg_setf(errmsg, "socket path too long: %s", t->socket_path);
        return TSC_EINVAL;
    }
    strcpy(sa.sun_path, t->socket_path);
    int fd = connect_to((struct sockaddr *)&sa, sizeof sa, deadline, &rc, errmsg, t->socket_path);
    if (fd < 0)
        return rc;
    rc = exchange(fd, req->data, req->len, resp, deadline, errmsg, t->socket_path);
    close(fd);
    return rc;
}

static int call_tcp(const struct tsc_ctl_target *t, const struct tsc_buf *req, struct tsc_buf *resp,
                    int64_t deadline, char *errmsg)
{
    char where[TSC_ADDR_STRLEN];
    struct sockaddr_in sa;
    struct tsc_wire w;
    struct tsc_envelope env;
    struct tsc_buf frame, reply, scratch;
    uint8_t nonce[TSC_NONCE_BYTES];
    struct timespec ts;
    int rc = 0;

    tsc_addr_format(&t->agent, where);
    tsc_wire_init(&w, t->key, &tsc_crypto_sodium);
    tsc_buf_init(&frame);
    tsc_buf_init(&reply);
    tsc_buf_init(&scratch);
    clock_gettime(CLOCK_REALTIME, &ts);
    memset(&env, 0, sizeof env);
    env.sender = 0; /* tscctl has no node id */
    env.seq = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    env.type = TSC_MSG_CONTROL_REQ;
    env.body = req->data;
    env.body_len = req->len;
    randombytes_buf(nonce, sizeof nonce);
    if ((rc = tsc_wire_seal(&w, &env, nonce, TSC_WIRE_MAX_FRAME, &frame)) != 0) {
        tsc_errmsg_setf(errmsg, "sealing the request: %s", tsc_strerror(rc));
        goto out;
    }
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(t->agent.ip);
    sa.sin_port = htons(t->agent.port);
    int fd = connect_to((struct sockaddr *)&sa, sizeof sa, deadline, &rc, errmsg, where);
    if (fd < 0)
        goto out;
    rc = exchange(fd, frame.data, frame.len, &reply, deadline, errmsg, where);
    close(fd);
    if (rc != 0)
        goto out;
    if (reply.len == TSC_CONTROL_EAUTH_MARKER_LEN &&
        memcmp(reply.data, TSC_CONTROL_EAUTH_MARKER, TSC_CONTROL_EAUTH_MARKER_LEN) == 0) {
        tsc_errmsg_setf(errmsg, "the agent at %s rejected our request: wrong cluster key", where);
        rc = TSC_EAUTH;
        goto out;
    }
    rc = tsc_wire_open(&w, reply.data, reply.len, TSC_WIRE_MAX_FRAME, &scratch, &env);
    if (rc == TSC_EAUTH || rc == TSC_ECLUSTER) {
        tsc_errmsg_setf(errmsg, "cannot open the reply from %s: wrong cluster key", where);
        rc = TSC_EAUTH;
    } else if (rc != 0) {
        tsc_errmsg_setf(errmsg, "bad reply from %s: %s", where, tsc_strerror(rc));
    } else if (env.type != TSC_MSG_CONTROL_RESP) {
        tsc_errmsg_setf(errmsg, "bad reply from %s: message type %u", where, env.type);
        rc = TSC_EMALFORMED;
    } else if (tsc_buf_append(resp, env.body, env.body_len) != 0) {
        rc = TSC_ENOMEM;
    }
out:
    sodium_memzero(&w, sizeof w);
    tsc_buf_free(&frame);
    tsc_buf_free(&reply);
    tsc_buf_free(&scratch);
    return rc;
}

int tsc_ctl_call(const struct tsc_ctl_target *t, const struct tsc_buf *req, struct tsc_buf *resp,
                 char *errmsg)
{
    int64_t deadline = now_ms() + (t->timeout_ms > 0 ? t->timeout_ms : 5000);
    if (t->socket_path != NULL)
        return call_unix(t, req, resp, deadline, errmsg);
    return call_tcp(t, req, resp, deadline, errmsg);
}
