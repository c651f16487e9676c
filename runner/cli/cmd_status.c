/* `sweeprun status OUT|FILE.ini [--json]`: where a sweep stands, from another
 * shell or node, while it runs or after. It reads OUT/events.jsonl only
 * (never a run file another process may be writing) and asks the out
 * folder's lock whether a sweep is running now. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "commands.h"
#include "sweep_events.h"
#include "sweep_file.h"
#include "sweep_status.h"
#include "sweep_view.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: sweeprun status OUT_FOLDER [--json]\n"
        "       sweeprun status FILE.ini [--json]\n"
        "\n"
        "Where a sweep stands: totals, the trials running (ranks, device, epoch, last accuracy, ETA),\n"
        "the best trial so far by validation accuracy, and the time left. Reads OUT/events.jsonl\n"
        "(docs/events.md); safe while the sweep runs, from any node that sees the out folder.\n"
        "\n"
        "  --json   the same as one JSON object\n"
        "\n"
        "exit codes: 0 the sweep is finished (every trial ended), %d a sweep is running now,\n"
        "%d not running and unfinished (interrupted or stopped: rerun the sweep to continue),\n"
        "2 bad input (no such folder or sweep file, no event log)\n",
        EXIT_STATUS_RUNNING, EXIT_STATUS_UNFINISHED);
}

/* A sweep holds an exclusive flock on OUT/.sweeprun.lock while it runs
 * (cmd_sweep.c). Taking a shared one for an instant tells whether it does;
 * a sweep that starts in that instant waits for it (lock_out retries). */
static int sweep_running(const char *out_dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/.sweeprun.lock", out_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    int busy = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd);   /* releases the shared lock if we got it */
    return busy;
}

/* OUT folder from the argument: a folder as is, a sweep file's `out`. */
static int out_folder(const char *arg, char *out, int size)
{
    struct stat st;
    if (stat(arg, &st)) {
        report_error("status: %s: %s (expected a sweep's out folder or its sweep file)", arg, strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(out, size, "%s", arg);
        return 0;
    }
    SweepFile sf;
    SweepProblems problems;
    sweep_problems_init(&problems, arg);
    int bad = sweep_file_parse(arg, &sf, &problems);
    if (bad) {
        sweep_problems_print(&problems, stderr);
        report_error("status: %d problem%s in %s", bad, bad == 1 ? "" : "s", arg);
    } else
        snprintf(out, size, "%s", sf.out);
    sweep_file_free(&sf);
    sweep_problems_free(&problems);
    return bad ? -1 : 0;
}

int cmd_status(int argc, char **argv)
{
    const char *arg = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return EXIT_OK;
        } else if (!strncmp(argv[i], "--", 2)) {
            report_error("status: unknown option '%s' (see sweeprun status --help)", argv[i]);
            return EXIT_BAD_INPUT;
        } else if (arg) {
            report_error("status: one sweep at a time (got '%s' and '%s')", arg, argv[i]);
            return EXIT_BAD_INPUT;
        } else arg = argv[i];
    }
    if (!arg) {
        report_error("status: expected a sweep's out folder or sweep file (usage: sweeprun status OUT [--json])");
        return EXIT_BAD_INPUT;
    }
    char out[4096], path[4200];
    if (out_folder(arg, out, sizeof out)) return EXIT_BAD_INPUT;
    snprintf(path, sizeof path, "%s/%s", out, SWEEP_EVENTS_FILE);
    int running = sweep_running(out);   /* before reading: a sweep that ends meanwhile reads as finished next time */
    SweepStatus s;
    sweep_status_init(&s);
    if (sweep_status_read(&s, path)) {
        report_error("status: %s: %s (a sweep writes it from its first run on; is %s a sweep's out folder?)", path,
                     strerror(errno), out);
        return EXIT_BAD_INPUT;
    }
    if (!s.runs) {
        report_error("status: %s holds no sweep_start event (not a sweep's event log?)", path);
        sweep_status_free(&s);
        return EXIT_BAD_INPUT;
    }
    if (!running) sweep_status_mark_interrupted(&s);
    if (json) {
        cJSON *o = sweep_status_json(&s, running);
        char *text = cJSON_Print(o);
        printf("%s\n", text);
        free(text);
        cJSON_Delete(o);
    } else
        sweep_view_print_status(&s, out, running, stdout, isatty(STDOUT_FILENO) ? view_terminal_width(stdout) : 200);
    StatusTotals t;
    sweep_status_totals(&s, &t);
    sweep_status_free(&s);
    if (running) return EXIT_STATUS_RUNNING;
    return t.queued || t.by_kind[STATUS_INTERRUPTED] || t.by_kind[STATUS_WAITING] ? EXIT_STATUS_UNFINISHED : EXIT_OK;
}
