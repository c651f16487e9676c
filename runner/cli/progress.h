/* Training progress for people: a live bar with rate and ETA when stdout is
 * a terminal, one plain summary line per epoch otherwise (logs, CI). */
#ifndef SWEEPRUN_PROGRESS_H
#define SWEEPRUN_PROGRESS_H
#include <stdio.h>
#include "train.h"

typedef struct Progress {
    FILE *out;
    int live;            /* draw the bar (stdout is a terminal) */
    int quiet;           /* print nothing per epoch */
    int epochs;
    double last_draw;
} Progress;

/* Is out a terminal a person watches? (Under mpirun every rank's output
 * is a pseudo-terminal: then it is mpirun's output that counts.) */
int progress_is_terminal(FILE *out);
void progress_init(Progress *p, FILE *out, int epochs, int quiet);
void progress_batch(Progress *p, int epoch, int batch, int batches, double running_loss,
                    double elapsed, long images);
void progress_epoch(Progress *p, const EpochStats *s);

#endif
