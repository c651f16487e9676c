#include "sweep_events.h"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

int sweep_events_open(SweepEventLog *log, const char *out_dir, char *err, int err_size)
{
    memset(log, 0, sizeof *log);
    snprintf(log->path, sizeof log->path, "%s/%s", out_dir, SWEEP_EVENTS_FILE);
    log->fd = open(log->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (log->fd < 0) {
        snprintf(err, err_size, "out: cannot append to %s: %s", log->path, strerror(errno));
        return -1;
    }
    return 0;
}

void sweep_events_close(SweepEventLog *log)
{
    if (log->fd >= 0) close(log->fd);
    log->fd = -1;
}

void sweep_events_seal(SweepEventLog *log)
{
    int fd = open(log->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    off_t end = lseek(fd, 0, SEEK_END);
    char last = '\n';
    if (end > 0 && pread(fd, &last, 1, end - 1) != 1) last = '\n';
    close(fd);
    if (last != '\n' && log->fd >= 0 && write(log->fd, "\n", 1) != 1 && !log->warned) {
        fprintf(stderr, "sweeprun: warning: event log %s: cannot end its torn last line: %s\n", log->path,
                strerror(errno));
        log->warned = 1;
    }
}

cJSON *sweep_event_new(const char *name, const char *sweep)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddNumberToObject(ev, "v", SWEEP_EVENTS_VERSION);
    /* Milliseconds are enough to order one process's events and to time epochs. */
    cJSON_AddNumberToObject(ev, "t", floor((double)tv.tv_sec * 1000 + tv.tv_usec / 1000) / 1000);
    cJSON_AddStringToObject(ev, "event", name);
    cJSON_AddStringToObject(ev, "sweep", sweep);
    return ev;
}

void sweep_event_number(cJSON *ev, const char *key, double value)
{
    if (isfinite(value)) cJSON_AddNumberToObject(ev, key, value);
    else cJSON_AddNullToObject(ev, key);
}

int sweep_events_append(SweepEventLog *log, cJSON *ev)
{
    char *text = cJSON_PrintUnformatted(ev);
    cJSON_Delete(ev);
    if (!text || log->fd < 0) {
        free(text);
        return -1;
    }
    size_t len = strlen(text);
    text[len] = '\n';   /* cJSON's terminator becomes the line end: one write of the whole line */
    ssize_t wrote = write(log->fd, text, len + 1);
    int saved = errno;
    free(text);
    if (wrote == (ssize_t)(len + 1)) return 0;
    if (!log->warned)
        fprintf(stderr, "sweeprun: warning: event log %s: %s; the sweep goes on (run files are unaffected)\n",
                log->path, wrote < 0 ? strerror(saved) : "short write (disk full?)");
    log->warned = 1;
    return -1;
}

long sweep_events_read(const char *path, long *offset, long *line_no, SweepEventFn on_event, void *user, int *bad,
                       long *first_bad_line)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    if (fseek(f, *offset, SEEK_SET)) {
        fclose(f);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long pending = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] != '\n') {   /* no newline yet: in flight, or torn by a kill */
            pending = n;
            break;
        }
        *offset += n;
        ++*line_no;
        cJSON *ev = cJSON_ParseWithLength(line, (size_t)n);
        if (cJSON_IsObject(ev) && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(ev, "event")))
            on_event(user, ev);
        else {
            if (!*bad && first_bad_line) *first_bad_line = *line_no;
            ++*bad;
        }
        cJSON_Delete(ev);
    }
    free(line);
    fclose(f);
    return pending;
}
