/* OUT/events.jsonl: what a sweep did, one JSON object per line (schema in
 * docs/events.md). The first rank of each trial's group appends its trial's
 * events; rank 0 appends the sweep's start and end. Each event is one
 * write() of one whole line to a file opened O_APPEND, so lines from
 * several processes never interleave within a line (on a local or POSIX
 * file system; see docs/events.md for NFS).
 *
 * Readers (the live view, `sweeprun status`, Python) read complete lines
 * only: a last line without its newline is a write in flight or a process
 * killed mid-write, and is left for later or ignored with a note. */
#ifndef SWEEPRUN_SWEEP_EVENTS_H
#define SWEEPRUN_SWEEP_EVENTS_H
#include <cjson/cJSON.h>

#define SWEEP_EVENTS_VERSION 1
#define SWEEP_EVENTS_FILE "events.jsonl"

typedef struct SweepEventLog {
    int fd;                 /* -1: closed */
    int warned;             /* a failed append was reported once */
    char path[4200];
} SweepEventLog;

/* Open (create) OUT/events.jsonl for appending. 0 ok; -1 with err. */
int sweep_events_open(SweepEventLog *log, const char *out_dir, char *err, int err_size);
void sweep_events_close(SweepEventLog *log);
/* End a torn last line (a writer killed mid-line) with a newline, so the
 * next event starts a line of its own and readers skip only the torn one.
 * Rank 0 calls it before a run's first event, while no one else writes. */
void sweep_events_seal(SweepEventLog *log);
/* A new event object: {"v":1,"t":UNIX_SECONDS,"event":name,"sweep":sweep}. */
cJSON *sweep_event_new(const char *name, const char *sweep);
/* A number, or null when it is NaN or infinite (JSON has neither). */
void sweep_event_number(cJSON *ev, const char *key, double value);
/* Append ev as one line and free it. A failed write is reported once on
 * stderr and otherwise ignored: the run files, not the log, are what a
 * sweep's results are. Returns 0 when the line was written. */
int sweep_events_append(SweepEventLog *log, cJSON *ev);

/* Reading: every complete line from *offset on, parsed, to on_event (the
 * object is freed after the call). *offset moves past the last complete
 * line. A complete line that is not a JSON object is counted in *bad (its
 * 1-based number in *first_bad_line when it is the first). Returns the
 * number of bytes after *offset that do not yet end in a newline (a torn
 * or in-flight last line), or -1 when the file cannot be opened (errno). */
typedef void (*SweepEventFn)(void *user, const cJSON *event);
long sweep_events_read(const char *path, long *offset, long *line_no, SweepEventFn on_event, void *user, int *bad,
                       long *first_bad_line);

#endif
