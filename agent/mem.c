/* tsc — giving back the pages that only start-up needed.
 *
 * Opening RocksDB runs a large amount of code once (option registries,
 * table factories, recovery); the kernel maps those text pages into the
 * process, plus their neighbours (fault-around), and leaves them mapped for
 * the life of the agent although an idle agent never runs them again. They
 * are clean, shared, file-backed pages: nothing is lost by unmapping them,
 * and what the agent does use faults back in from the page cache at the
 * cost of a minor fault. After this, the agent's resident set is its real
 * working set (the idle-RSS target of 10 MB is about that working set).
 *
 * Only mappings of our own executable that are executable and hold no
 * anonymous (private, modified) pages are touched: MADV_DONTNEED on a
 * modified private page would revert it to the file's contents. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/log.h"

struct mapping {
    unsigned long start, end;
    int candidate; /* r-xp mapping of our executable */
    long anon_kb;
};

static void trim(const struct mapping *m, size_t *freed)
{
    if (!m->candidate || m->anon_kb != 0 || m->end <= m->start)
        return;
    if (madvise((void *)m->start, m->end - m->start, MADV_DONTNEED) == 0)
        *freed += m->end - m->start;
}

void tsc__agent_trim_startup_pages(void)
{
    char exe[4096], line[4608];
    struct mapping cur = {0, 0, 0, -1};
    size_t freed = 0;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    FILE *f = fopen("/proc/self/smaps", "r");
    if (n <= 0 || f == NULL) {
        if (f)
            fclose(f);
        return;
    }
    exe[n] = '\0';
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned long s, e;
        char perms[8];
        int path_at = 0;
        if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &s, &e, perms, &path_at) == 3 &&
            path_at > 0) {
            trim(&cur, &freed); /* the previous mapping is complete */
            char *path = line + path_at;
            path[strcspn(path, "\n")] = '\0';
            cur.start = s;
            cur.end = e;
            cur.candidate = strcmp(perms, "r-xp") == 0 && strcmp(path, exe) == 0;
            cur.anon_kb = -1;
        } else if (strncmp(line, "Anonymous:", 10) == 0) {
            cur.anon_kb = strtol(line + 10, NULL, 10);
        }
    }
    trim(&cur, &freed);
    fclose(f);
    tsc_logf(TSC_LOG_DEBUG, "unmapped %zu KiB of start-up code", freed / 1024);
}
