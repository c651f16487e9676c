/* The sweeprun subcommands. Each returns the process exit code. */
#ifndef SWEEPRUN_COMMANDS_H
#define SWEEPRUN_COMMANDS_H

enum {
    EXIT_OK = 0,
    EXIT_FAILED = 1,      /* the run itself failed (I/O error, ...) */
    EXIT_BAD_INPUT = 2,   /* bad flags, files or datasets: nothing was run */
    EXIT_DIVERGED = 3,    /* the loss became NaN/inf; the run file is kept */
    EXIT_MISMATCH = 4,    /* eval did not reproduce the recorded accuracy */
    /* sweeprun status: 0 when the sweep is finished, else one of these */
    EXIT_STATUS_RUNNING = 5,      /* a sweep is running in the out folder now */
    EXIT_STATUS_UNFINISHED = 6,   /* none is, and trials are left (interrupted or stopped) */
    /* train, sweep: stopped by a stop signal (--stop-signals; TERM, INT,
     * USR1 by default); every trial in flight wrote a checkpoint at the
     * step it stopped after and is marked interrupted: rerun the same
     * command to continue. 143 = 128 + SIGTERM, what a shell reports for
     * a process SIGTERM killed, so a job script that treats "killed by
     * the time limit" as "requeue" handles this alike, whichever signal
     * it was. A second SIGINT ends the process at once with 130 (no new
     * checkpoint; the last complete one stays usable). */
    EXIT_INTERRUPTED = 143,
};

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_models(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_status(int argc, char **argv);

/* Print "sweeprun: <message>" to stderr (one line): every message of the
 * CLI, errors and warnings. */
void report_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
