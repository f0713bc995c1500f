/* tsc — tscctl's output: a table for people, JSON for scripts.
 *
 * Roles, labels and readiness come from each member's signed record (what
 * the node says of itself); status comes from the answering agent (what it
 * believes, e.g. "dead"). The JSON shape is a contract with scripts and
 * tests: one array, one object per member, keys id (16 hex), addr, status,
 * incarnation, roles, labels, ready, self, age_ms, coordinator (true for the
 * member the answering agent recognises as coordinator). */
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "wire/record.h"

/* JSON string with the escapes RFC 8259 requires. */
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

/* The node's own meta, or an empty one when the record does not decode. */
static void member_meta(const struct tsc_control_member *m, struct tsc_meta *meta)
{
    struct tsc_record rec;
    memset(meta, 0, sizeof *meta);
    if (m->record == NULL ||
        tsc_record_decode(&tsc_crypto_sodium, m->record, m->record_len, 0, &rec) != 0 ||
        tsc_meta_decode(rec.meta, rec.meta_len, meta) != 0)
        memset(meta, 0, sizeof *meta);
}

static int by_addr(const void *x, const void *y)
{
    const struct tsc_control_member *a = x, *b = y;
    if (a->addr.ip != b->addr.ip)
        return a->addr.ip < b->addr.ip ? -1 : 1;
    if (a->addr.port != b->addr.port)
        return a->addr.port < b->addr.port ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

static void json_kv_object(FILE *f, const struct tsc_meta_kv *kv, unsigned n)
{
    fputc('{', f);
    for (unsigned i = 0; i < n; i++) {
        if (i)
            fputc(',', f);
        json_str(f, kv[i].key);
        fputc(':', f);
        json_str(f, kv[i].val);
    }
    fputc('}', f);
}

static void print_members_json(FILE *f, const struct tsc_control_member *ms, size_t n,
                               uint64_t coord)
{
    char addr[TSC_ADDR_STRLEN];
    struct tsc_meta meta;
    fputc('[', f);
    for (size_t i = 0; i < n; i++) {
        const struct tsc_control_member *m = &ms[i];
        member_meta(m, &meta);
        fprintf(f, "%s{\"id\":\"%016llx\",\"addr\":\"%s\",\"status\":\"%s\",\"incarnation\":%llu,",
                i ? "," : "", (unsigned long long)m->id, tsc_addr_format(&m->addr, addr),
                tsc_status_name(m->status), (unsigned long long)m->incarnation);
        fputs("\"roles\":[", f);
        for (unsigned r = 0; r < meta.n_roles; r++) {
            if (r)
                fputc(',', f);
            json_str(f, meta.roles[r]);
        }
        fputs("],\"labels\":", f);
        json_kv_object(f, meta.labels, meta.n_labels);
        fputs(",\"ready\":", f);
        json_kv_object(f, meta.ready, meta.n_ready);
        fprintf(f, ",\"self\":%s,\"age_ms\":%llu,\"coordinator\":%s}",
                m->is_self ? "true" : "false", (unsigned long long)m->age_ms,
                coord != 0 && m->id == coord ? "true" : "false");
    }
    fputs("]\n", f);
}

/* "a,b" or "k=v,k2=v2" or "-" into out. */
static void join_list(char *out, size_t cap, const char (*items)[TSC_META_STR], unsigned n)
{
    size_t off = 0;
    out[0] = '\0';
    for (unsigned i = 0; i < n && off < cap; i++)
        off += (size_t)snprintf(out + off, cap - off, "%s%s", i ? "," : "", items[i]);
    if (n == 0)
        snprintf(out, cap, "-");
}

static void join_kv(char *out, size_t cap, const struct tsc_meta_kv *kv, unsigned n)
{
    size_t off = 0;
    out[0] = '\0';
    for (unsigned i = 0; i < n && off < cap; i++)
        off +=
            (size_t)snprintf(out + off, cap - off, "%s%s=%s", i ? "," : "", kv[i].key, kv[i].val);
    if (n == 0)
        snprintf(out, cap, "-");
}

struct row {
    char id[24], addr[TSC_ADDR_STRLEN], status[8], inc[24];
    char roles[600], labels[1600], ready[1600];
};

static void print_members_table(FILE *f, const struct tsc_control_member *ms, size_t n,
                                uint64_t coord)
{
    size_t w_addr = 4, w_status = 6, w_inc = 3, w_roles = 5, w_labels = 6;
    size_t counts[4] = {0, 0, 0, 0};
    struct row *rows = calloc(n ? n : 1, sizeof *rows);
    struct tsc_meta meta;
    if (rows == NULL) {
        fprintf(stderr, "tscctl: out of memory\n");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct row *r = &rows[i];
        member_meta(&ms[i], &meta);
        snprintf(r->id, sizeof r->id, "%016llx%s%s", (unsigned long long)ms[i].id,
                 ms[i].is_self ? "*" : "", coord != 0 && ms[i].id == coord ? "C" : "");
        tsc_addr_format(&ms[i].addr, r->addr);
        snprintf(r->status, sizeof r->status, "%s", tsc_status_name(ms[i].status));
        snprintf(r->inc, sizeof r->inc, "%llu", (unsigned long long)ms[i].incarnation);
        join_list(r->roles, sizeof r->roles, (const char(*)[TSC_META_STR])meta.roles, meta.n_roles);
        join_kv(r->labels, sizeof r->labels, meta.labels, meta.n_labels);
        join_kv(r->ready, sizeof r->ready, meta.ready, meta.n_ready);
        if (ms[i].status < 4)
            counts[ms[i].status]++;
#define WIDEN(w, s)                                                                                \
    if (strlen(s) > w)                                                                             \
    w = strlen(s)
        WIDEN(w_addr, r->addr);
        WIDEN(w_status, r->status);
        WIDEN(w_inc, r->inc);
        WIDEN(w_roles, r->roles);
        WIDEN(w_labels, r->labels);
#undef WIDEN
    }
    fprintf(f, "%-18s  %-*s  %-*s  %*s  %-*s  %-*s  %s\n", "ID", (int)w_addr, "ADDR", (int)w_status,
            "STATUS", (int)w_inc, "INC", (int)w_roles, "ROLES", (int)w_labels, "LABELS", "READY");
    for (size_t i = 0; i < n; i++) {
        const struct row *r = &rows[i];
        fprintf(f, "%-18s  %-*s  %-*s  %*s  %-*s  %-*s  %s\n", r->id, (int)w_addr, r->addr,
                (int)w_status, r->status, (int)w_inc, r->inc, (int)w_roles, r->roles, (int)w_labels,
                r->labels, r->ready);
    }
    fprintf(f,
            "%zu members: %zu alive, %zu suspect, %zu dead, %zu left  (* = this agent, "
            "C = coordinator)\n",
            n, counts[0], counts[1], counts[2], counts[3]);
    free(rows);
}

void tsc_ctl_print_members(FILE *f, const struct tsc_control_resp *r, int json)
{
    /* Sort a copy by address: stable, readable output for people and diffs. */
    size_t n = r->n_members;
    struct tsc_control_member *ms = malloc((n ? n : 1) * sizeof *ms);
    if (ms == NULL) {
        fprintf(stderr, "tscctl: out of memory\n");
        return;
    }
    if (n)
        memcpy(ms, r->members, n * sizeof *ms);
    qsort(ms, n, sizeof *ms, by_addr);
    if (json)
        print_members_json(f, ms, n, r->coordinator);
    else
        print_members_table(f, ms, n, r->coordinator);
    free(ms);
}

void tsc_ctl_print_stats(FILE *f, const struct tsc_control_resp *r, int json)
{
    if (json) {
        fprintf(f, "{\"id\":\"%016llx\"", (unsigned long long)r->self);
        for (size_t i = 0; i < r->n_stats; i++)
            fprintf(f, ",\"%s\":%llu", r->stats[i].name, (unsigned long long)r->stats[i].value);
        fputs("}\n", f);
        return;
    }
    fprintf(f, "%-20s %016llx\n", "id", (unsigned long long)r->self);
    for (size_t i = 0; i < r->n_stats; i++)
        fprintf(f, "%-20s %llu\n", r->stats[i].name, (unsigned long long)r->stats[i].value);
}

static const char *role_name(int role)
{
    static const char *const names[] = {"none", "follower", "pre-candidate", "candidate", "leader"};
    return role >= 0 && role <= 4 ? names[role] : "?";
}

static const char *voter_status(int st)
{
    return st == TSC_CONTROL_STATUS_UNKNOWN ? "unknown" : tsc_status_name(st);
}

void tsc_ctl_print_status(FILE *f, const struct tsc_control_resp *r, int json)
{
    const struct tsc_control_status *st = &r->status;
    char addr[TSC_ADDR_STRLEN];
    if (json) {
        fprintf(f, "{\"self\":\"%016llx\",", (unsigned long long)r->self);
        if (st->coordinator != 0)
            fprintf(f, "\"coordinator\":\"%016llx\",", (unsigned long long)st->coordinator);
        else
            fputs("\"coordinator\":null,", f);
        if (st->coordinator != 0 && st->coordinator_addr.port != 0)
            fprintf(f, "\"coordinator_addr\":\"%s\",",
                    tsc_addr_format(&st->coordinator_addr, addr));
        else
            fputs("\"coordinator_addr\":null,", f);
        fprintf(f,
                "\"term\":%llu,\"role\":\"%s\",\"voter\":%s,\"acting\":%s,\"commit_index\":%llu,"
                "\"last_index\":%llu,\"voters\":[",
                (unsigned long long)st->term, role_name(st->role), st->voter ? "true" : "false",
                st->acting ? "true" : "false", (unsigned long long)st->commit,
                (unsigned long long)st->last_index);
        for (size_t i = 0; i < st->n_voters; i++) {
            const struct tsc_control_voter *v = &st->voters[i];
            fprintf(f, "%s{\"id\":\"%016llx\",", i ? "," : "", (unsigned long long)v->id);
            if (v->addr.port != 0)
                fprintf(f, "\"addr\":\"%s\",", tsc_addr_format(&v->addr, addr));
            else
                fputs("\"addr\":null,", f);
            fprintf(f, "\"status\":\"%s\",\"self\":%s,", voter_status(v->status),
                    v->is_self ? "true" : "false");
            if (v->has_match)
                fprintf(f, "\"match\":%llu,\"caught_up\":%s}", (unsigned long long)v->match,
                        v->match >= st->commit ? "true" : "false");
            else
                fputs("\"match\":null,\"caught_up\":null}", f);
        }
        fputs("]}\n", f);
        return;
    }
    fprintf(f, "%-13s %016llx\n", "agent", (unsigned long long)r->self);
    if (st->coordinator != 0)
        fprintf(f, "%-13s %016llx %s%s\n", "coordinator", (unsigned long long)st->coordinator,
                st->coordinator_addr.port ? tsc_addr_format(&st->coordinator_addr, addr) : "-",
                st->coordinator == r->self
                    ? (st->acting ? " (this agent, acting)" : " (this agent)")
                    : "");
    else
        fprintf(f, "%-13s none known\n", "coordinator");
    fprintf(f, "%-13s %llu\n", "term", (unsigned long long)st->term);
    fprintf(f, "%-13s %s%s\n", "role", role_name(st->role),
            st->voter ? ", voter" : ", not a voter");
    fprintf(f, "%-13s %llu (last index %llu)\n", "commit index", (unsigned long long)st->commit,
            (unsigned long long)st->last_index);
    fprintf(f, "voters (%zu):\n", st->n_voters);
    for (size_t i = 0; i < st->n_voters; i++) {
        const struct tsc_control_voter *v = &st->voters[i];
        char match[48] = "-";
        if (v->has_match)
            snprintf(match, sizeof match, "match %llu%s", (unsigned long long)v->match,
                     v->match >= st->commit ? " (caught up)" : " (behind)");
        fprintf(f, "  %016llx%s  %-21s  %-7s  %s\n", (unsigned long long)v->id,
                v->id == st->coordinator ? "C" : (v->is_self ? "*" : " "),
                v->addr.port ? tsc_addr_format(&v->addr, addr) : "-", voter_status(v->status),
                match);
    }
}
