/* Stopping `train` and `sweep` on a signal (a Slurm time limit, Ctrl-C, a
 * requeue): the signal is only recorded; the training loop asks
 * stop_signal_caught() between optimizer steps, every rank of a group
 * agrees on the step to stop after (train_loop.c), the trials in flight
 * write a checkpoint at that step and are marked interrupted, and the
 * command exits with EXIT_INTERRUPTED (commands.h).
 *
 * No handler ever runs on a computing thread. The stop signals are blocked
 * in every thread (stop_signals_hold, before MPI, CUDA or OpenMP start any)
 * and one watcher thread takes them with sigwait. The reason: oneDNN 2.6's
 * AVX-512 sgemm kernel, for n > 84, points the stack pointer into a heap
 * workspace it allocated, and a signal delivered to a thread inside it has
 * its frame written below that pointer, over the heap. With a plain
 * handler, `sweeprun train --model gecco --batch-size 1000` sent one SIGINT
 * at a random step died in malloc ("unaligned tcache chunk", "smallbin
 * double linked list corrupted") in 13 of 60 runs on the project's Xeon
 * (the interrupted context: RIP in oneDNN's JIT code, RSP inside [heap]),
 * and in 11 of 60 with the handler only counting, never stopping. With the
 * watcher: 0 of 120.
 *
 * A second SIGINT (Ctrl-C pressed twice) ends the process at once with
 * _exit(130): no checkpoint of the current position, nothing flushed. What
 * the run file already holds stays valid (every write is flushed and the
 * checkpoint is rewritten behind an `epoch = -1` marker), so such a run
 * resumes from its last complete checkpoint. */
#ifndef SWEEPRUN_STOP_SIGNALS_H
#define SWEEPRUN_STOP_SIGNALS_H

#define STOP_SIGNALS_DEFAULT "TERM,INT,USR1"
#define STOP_SIGNALS_MAX 8

typedef struct StopSignals {
    int count;
    int signo[STOP_SIGNALS_MAX];
} StopSignals;

/* "TERM,INT,USR1" (names with or without SIG, any case: TERM, SIGTERM,
 * usr2), or "none" for no handler at all. Allowed: TERM, INT, USR1, USR2,
 * HUP, QUIT, XCPU. 0 ok; -1 with a message naming the flag in err. */
int stop_signals_parse(const char *text, StopSignals *set, char *err, int err_size);
/* Block every signal --stop-signals can name in the calling thread, and so
 * in every thread it starts from now on. First thing in `train` and
 * `sweep`, before any library starts a thread. */
void stop_signals_hold(void);
/* From now on the watcher thread records the signals of set; the other
 * held ones get their default action back (an empty set: all of them).
 * Once per process; later calls do nothing. */
void stop_signals_install(const StopSignals *set);
/* The first stop signal caught (its number), 0 while none was. Safe to
 * call from the training loop at every step: one read of a volatile. */
int stop_signal_caught(void);
/* "SIGTERM" for SIGTERM, "signal N" for others. */
const char *stop_signal_name(int signo);

/* The one `--stop-signals LIST` option of `train` and `sweep`: at argv[*i],
 * consumes it (and its value; --stop-signals=LIST too) into set and
 * returns 1; 0 when argv[*i] is something else; -1 with err when the
 * value is missing or bad. */
int stop_signals_take_flag(int argc, char **argv, int *i, StopSignals *set, char *err, int err_size);

#endif
