/* Median pruning across ranks: how a rank learns the other trials'
 * per-epoch test accuracies.
 *
 * The board is a table acc[epoch][trial] in an MPI window on world rank 0
 * (NaN = not reached). At the start, rank 0 fills it from the run files
 * already in the out folder (finished ones and the .tmp of interrupted
 * ones; nobody is writing them then), so a resumed sweep still compares
 * with the trials of earlier runs. During the sweep, a group's first rank
 * posts its trial's accuracy after every epoch (MPI_Accumulate with
 * MPI_REPLACE) and reads an epoch's column (MPI_Get_accumulate with
 * MPI_NO_OP): element-wise atomic, passive target, no file is read while
 * another process writes it (HDF5 files are not safe to read while being
 * written without SWMR, and a .tmp is locked by its writer).
 *
 * The board keeps only the epochs a decision can look at (PruneSpan): none
 * without pruning, else from the warmup epoch to the one before the last.
 * It is allocated whole at the start (an MPI window cannot grow while other
 * ranks read it without the owner's help, and rank 0 is busy training), so
 * its size is checked with the sweep file (prune_board_check).
 *
 * The decision depends on which trials have reported by then, so, as in
 * every asynchronous median pruner, it can differ between runs with
 * different timing; with one rank it is deterministic. */
#ifndef SWEEPRUN_PRUNE_BOARD_H
#define SWEEPRUN_PRUNE_BOARD_H
#include "comm.h"
#include "sweep_file.h"

/* The 0-based epochs first .. first + count - 1 the board keeps. */
typedef struct PruneSpan {
    int first, count;
} PruneSpan;

/* Most bytes the board may take on rank 0. */
#define PRUNE_BOARD_MAX_BYTES (256L << 20)

typedef struct PruneBoard {
    const ProcessGroup *world;
    int n_trials;
    PruneSpan span;
    MPI_Win win;
    double *table;                /* rank 0's (or the only process's) [span.count][n_trials] */
} PruneBoard;

/* The epochs where rule can prune a trial of a sweep whose longest trial
 * has max_epochs: after epoch warmup (1-based) up to the one before the
 * last. count 0 when pruning is off. */
PruneSpan prune_board_span(const PruneRule *rule, int max_epochs);
/* 0 when n_trials x span fits PRUNE_BOARD_MAX_BYTES; else -1 with err. */
int prune_board_check(int n_trials, PruneSpan span, char *err, int err_size);

/* Collective over world. initial: rank 0's starting table
 * ([span.count][n_trials], row r for epoch span.first + r, NaN where
 * unknown), ignored elsewhere. */
void prune_board_open(PruneBoard *b, const ProcessGroup *world, int n_trials, PruneSpan span,
                      const double *initial);
/* Trial `trial` reached test accuracy acc after epoch `epoch` (0-based);
 * not kept outside the span. */
void prune_board_post(PruneBoard *b, int trial, int epoch, double acc);
/* Every trial's accuracy after epoch `epoch` (0-based) into out[n_trials]
 * (all NaN outside the span). */
void prune_board_read(PruneBoard *b, int epoch, double *out);
void prune_board_close(PruneBoard *b);

/* The rule, on plain numbers: should a trial with accuracy `mine` after
 * 1-based epoch `epoch` stop, given the accuracies of the other trials of
 * its model at that epoch (others[n], NaN entries ignored)? Writes the
 * median it compared with (NaN if none). 1 = prune. */
int prune_decide(const PruneRule *rule, int epoch, double mine, const double *others, int n,
                 double *median);

#endif
