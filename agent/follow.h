/* tsc — following files a suite names (issue "Logs": "files that the suite
 * names on a machine, followed while the run lasts; rotation and truncation
 * handled").
 *
 * The participant hands the follower each START's follow list (rendered
 * paths, one per line, quoted as shell words: barrier/runlog.h); the agent's
 * timer calls tsc_follow_poll, which reads what was appended to every file
 * since and calls `fn` once per complete line. Polling (stat + read) rather
 * than inotify: it works the same on every file system, and the agent polls
 * only while a run with followed files is active.
 *
 *   - A file that does not exist yet is looked for again at every poll.
 *   - Truncation (size below the offset read so far): read again from 0.
 *   - Rotation (the path now names another inode): the old file is read to
 *     its end first, then the new one from its start.
 *   - A line longer than TSC_FOLLOW_MAX_LINE is passed on in pieces; a
 *     partial last line is held until its newline, or passed on when the
 *     run's following stops (tsc_follow_stop) or the file is rotated.
 *
 * Plain POSIX file calls, no libuv: the caller decides when to poll. */
#ifndef TSC_AGENT_FOLLOW_H
#define TSC_AGENT_FOLLOW_H

#include <stddef.h>
#include <stdint.h>

#define TSC_FOLLOW_MAX_FILES 64
#define TSC_FOLLOW_MAX_LINE  (16u << 10)
#define TSC_FOLLOW_MAX_READ  (1u << 20) /* bytes read per file per poll */

struct tsc_follow;

/* One complete line (without its newline) of a file followed for run;
 * path as the follow list names it (relative paths stay relative). */
typedef void (*tsc_follow_line_fn)(void *ctx, uint64_t run, const char *path, const char *line,
                                   size_t len);

/* 0 or TSC_ENOMEM. */
int tsc_follow_new(struct tsc_follow **out, tsc_follow_line_fn fn, void *ctx);
void tsc_follow_free(struct tsc_follow *f);

/* Follow every path of list (len bytes, one quoted path per line; relative
 * paths are resolved against workdir) for run, unless already followed for
 * run. An absolute path that exists now is read from its current end (what
 * was there before the run is not the run's); a relative one (in the run's
 * work directory) and one that appears later are read from 0.
 * 0, TSC_EFULL (more than TSC_FOLLOW_MAX_FILES: the rest are ignored),
 * TSC_EINVAL (a line is not a path: unbalanced quote) or TSC_ENOMEM. */
int tsc_follow_set(struct tsc_follow *f, uint64_t run, const char *workdir, const char *list,
                   size_t len);

/* Read what is new in every followed file. Returns the number of lines
 * passed on. */
size_t tsc_follow_poll(struct tsc_follow *f);

/* Stop following run's files (after a last poll, and passing on partial
 * lines). */
void tsc_follow_stop(struct tsc_follow *f, uint64_t run);

/* Files followed now (0: the caller may stop polling). */
size_t tsc_follow_count(const struct tsc_follow *f);

/* Undo the single-quote shell quoting of common/template.h in one line:
 * 'a'\''b' -> a'b, backslash escapes the next character outside quotes,
 * everything else is literal; leading and trailing blanks are dropped.
 * out gets at most cap - 1 bytes and a NUL. 0 or TSC_EINVAL (unbalanced
 * quote, or too long). */
int tsc_follow_unquote(const char *line, size_t len, char *out, size_t cap);

#endif
