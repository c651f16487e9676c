/* HDF5 run files: one file per training run (layout in docs/run-file.md).
 *
 * Writer protocol:
 *   rf = runfile_create("runs/x/trial-0007.h5")   writes trial-0007.h5.tmp
 *   runfile_set_attr_*(...)                        root attributes
 *   each epoch: runfile_append_epoch, runfile_write_test_results,
 *               runfile_write_checkpoint           (each one flushes)
 *   runfile_write_weights(...)
 *   runfile_finish(rf, "complete" | "diverged" | "failed" | "pruned")   renames .tmp -> final
 * or runfile_abandon(rf)   (nothing worth keeping: the .tmp is deleted)
 * or runfile_close(rf)     (stop now, keep the .tmp to resume from later)
 * or runfile_suspend(rf)   (the same, marked "interrupted": a stop signal)
 * or runfile_pause(rf)     (the same, marked "paused": trained as far as asked for now).
 * A final file is never overwritten; a process killed mid-run leaves a .tmp
 * whose finished epochs and last checkpoint are readable. A writer (create
 * or resume) holds its .tmp locked while the handle lives, so a second
 * writer of the same run is refused; a .tmp that is a symbolic link is
 * never written through. Once the disk refuses a write (a full disk) the
 * handle accepts no more writes and the .tmp stays as the disk took it.
 *
 * Every function that can fail returns 0 (or a handle) on success and -1
 * (or NULL) on failure, with one message in err that names the file and the
 * dataset or attribute. HDF5's own error printing is switched off inside
 * these functions; its most specific message is appended to ours instead. */
#ifndef SWEEPRUN_RUNFILE_H
#define SWEEPRUN_RUNFILE_H
#include <stddef.h>
#include <stdint.h>
#include "params.h"

#define RUNFILE_FORMAT "sweeprun-run"
#define RUNFILE_FORMAT_VERSION 1
#define RUNFILE_TMP_SUFFIX ".tmp"

typedef struct RunFile RunFile;   /* an open run file, for writing or reading */

/* One row of the per-epoch table (/epochs/<field>). */
typedef struct RunEpoch {
    int epoch;                    /* 1-based epoch number */
    double train_loss, train_accuracy, test_loss, test_accuracy;
    double lr, seconds;
    double val_loss, val_accuracy;   /* on the validation split; NaN without one (val_split = 0) */
} RunEpoch;

/* The whole per-epoch table, as read back (column arrays of length count).
 * has_validation: 1 when the file has the val_* columns and at least one
 * finite validation accuracy; 0 for a run without a validation split and
 * for files written before validation existed (their val_* read as NaN). */
typedef struct RunEpochs {
    long count;
    int *epoch;
    double *train_loss, *train_accuracy, *test_loss, *test_accuracy, *lr, *seconds;
    double *val_loss, *val_accuracy;
    int has_validation;
} RunEpochs;

/* ---- choosing on validation (the one rule, used by trainer and report) ---- */

/* 1 when an epoch with validation accuracy acc and loss loss beats the
 * best so far (best_acc, best_loss): higher accuracy, or equal accuracy and
 * lower loss. A NaN acc never beats; anything finite beats a NaN best.
 * Equal on both: not better, so the earlier epoch stays best. */
int run_val_better(double acc, double loss, double best_acc, double best_loss);
/* Index (0-based row) of the best-by-validation epoch among the first
 * rows of e (run_val_better over the rows in order), or -1 when e has no
 * validation numbers. The test accuracy reported for "best" is
 * e->test_accuracy[that row]: chosen on validation, reported on test. */
long run_epochs_best_row(const RunEpochs *e, long rows);
/* Mean wall time of e's epoch rows (NaN without rows). */
double run_epochs_mean_seconds(const RunEpochs *e);

/* At most this many misclassified test images keep their pixels in the
 * run file (28x28 bytes each: 392 KB at the cap). A trained model has far
 * fewer (a 98% model: 200); an early or diverged one may have thousands,
 * and the report shows a few dozen, so the first ones in test order do. */
#define RUNFILE_MAX_MIS_IMAGES 512
#define RUNFILE_MAX_CONTEXT_IMAGES 1024

/* /test: confusion[true * num_classes + predicted], and the misclassified
 * test samples (index into the test set, predicted label, true label).
 * mis_images (optional) holds the pixels of the first n_mis_images of them
 * (n_mis_images <= n_mis and <= RUNFILE_MAX_MIS_IMAGES), image_rows x
 * image_cols bytes each, in the order of mis_index; so a report can show
 * the digits without the dataset. Files written before it existed read
 * back with n_mis_images = 0 (and n_context = 0). */
typedef struct RunTestResults {
    int num_classes;
    int64_t *confusion;           /* num_classes * num_classes */
    long n_mis;                   /* may be 0 */
    int32_t *mis_index, *mis_pred, *mis_label;
    long n_mis_images;            /* may be 0 */
    int image_rows, image_cols;
    uint8_t *mis_images;          /* n_mis_images * image_rows * image_cols */
    /* Optional: the test set's first evaluation batch (n_context images,
     * image_rows x image_cols each). A model whose output for one image
     * depends on the others of its batch (GECCO's batch attention) can
     * score a lone image inside this batch, as it was evaluated. */
    long n_context;
    uint8_t *context_images;
} RunTestResults;

/* /checkpoint: everything needed to continue training after `epoch` epochs
 * and, when batch > 0, `batch` optimizer steps of the next one (a run
 * stopped by a signal mid-epoch) with that epoch's running sums.
 * For writing, the caller points at its buffers; for reading, the caller
 * points at buffers of the given sizes and they are filled. state1/state2
 * are the optimizer's state buffers (n_state floats each) or NULL. */
typedef struct RunCheckpoint {
    float *params;  long n_params;
    float *buffers; long n_buffers;
    float *state1, *state2; long n_state;
    int64_t step;                 /* optimizer step count */
    int64_t epoch;                /* epochs finished */
    /* Mid-epoch only (0 at an epoch's end; 0 when read from files written
     * before they existed): steps done of epoch `epoch` + 1, the sum of
     * loss x images and the correct predictions over them, and the wall
     * time spent in that epoch. */
    int64_t batch;
    double train_loss_sum;
    int64_t train_correct;
    double epoch_seconds;
} RunCheckpoint;

/* ---- writing ------------------------------------------------------------ */

/* final_path + ".tmp" into buf; -1 when it does not fit. */
int runfile_tmp_path(const char *final_path, char *buf, size_t size);
/* 1 when a live writer holds the run file at path claimed (its flock), so
 * nobody else may read it as finished work, resume it or set it aside;
 * 0 otherwise (no such file, or nobody writing it). */
int runfile_is_being_written(const char *path);

/* Start a run: refuses when final_path exists, when final_path.tmp is a
 * symbolic link or not a regular file, or when another process is writing
 * it (see "One writer per run file" in docs/run-file.md); otherwise
 * (re)creates final_path.tmp, with format, format_version and status =
 * "running" already written, and holds it locked until the handle is
 * released. On NULL, errno is the disk's error (ENOSPC, EDQUOT, EIO) when
 * the disk refused the file, else 0 (the request was refused). */
RunFile *runfile_create(const char *final_path, char *err, int err_size);

/* Reopen an interrupted run's final_path.tmp to continue after epochs_done
 * epochs (normally the checkpoint's epoch): later epoch rows are dropped,
 * status goes back to "running". Claims the .tmp as runfile_create does. */
RunFile *runfile_resume(const char *final_path, int64_t epochs_done, char *err, int err_size);

int runfile_set_attr_string(RunFile *rf, const char *name, const char *value, char *err, int err_size);
int runfile_set_attr_double(RunFile *rf, const char *name, double value, char *err, int err_size);
int runfile_set_attr_int64(RunFile *rf, const char *name, int64_t value, char *err, int err_size);
/* All 64 bits unsigned (the seed): int64 would saturate at 2^63 - 1. */
int runfile_set_attr_uint64(RunFile *rf, const char *name, uint64_t value, char *err, int err_size);

int runfile_append_epoch(RunFile *rf, const RunEpoch *e, char *err, int err_size);
int runfile_write_test_results(RunFile *rf, const RunTestResults *t, char *err, int err_size);
/* Every ENTRY_PARAM (from params) and ENTRY_BUFFER (from buffers) as float32
 * of the entry's shape; every ENTRY_COUNTER as a 0-d int64. */
int runfile_write_weights(RunFile *rf, const ParamTable *table, const float *params,
                          const float *buffers, char *err, int err_size);
int runfile_write_checkpoint(RunFile *rf, const RunCheckpoint *ck, char *err, int err_size);
/* /validation: the training-file indices (after train_subset) held out
 * as the validation split, ascending (int32), with attribute `rule` (how
 * they were drawn, text). Written once, at the start of a run. */
int runfile_write_validation(RunFile *rf, const int32_t *indices, long n, const char *rule, char *err,
                             int err_size);
/* /best/weights as runfile_write_weights writes /weights, plus the
 * attribute /best epoch (1-based): the weights of the epoch with the best
 * validation result so far. Rewritten whenever a later epoch beats it. */
int runfile_write_best_weights(RunFile *rf, const ParamTable *table, const float *params,
                               const float *buffers, int64_t epoch, char *err, int err_size);

/* 1 once the disk refused one of rf's writes (a full disk): rf takes no
 * more writes. */
int runfile_disk_refused(const RunFile *rf);

/* Write status ("complete", "diverged", "failed" or "pruned": stopped early
 * by a sweep's pruning rule), flush, close, and
 * rename .tmp -> final. Always releases rf; on failure the .tmp is kept and
 * the message says so. */
int runfile_finish(RunFile *rf, const char *status, char *err, int err_size);
/* Stop a run to continue it later (a stop signal): write status
 * "interrupted", flush, close and fsync, and keep the .tmp (its last
 * checkpoint is where a resume starts; runfile_resume sets the status
 * back to "running"). Always releases rf. */
int runfile_suspend(RunFile *rf, char *err, int err_size);
/* As runfile_suspend for a run that trained as far as it was asked to
 * for now (an ASHA rung): status "paused"; its epoch-end checkpoint is
 * where it continues. */
int runfile_pause(RunFile *rf, char *err, int err_size);
/* Close and delete the .tmp (nothing useful was written), unless another
 * program has put a different file at its name meanwhile. Releases rf. */
void runfile_abandon(RunFile *rf);

/* ---- reading ------------------------------------------------------------ */

/* Open any run file read-only (a finished one or a .tmp); checks that it is
 * HDF5 and carries format = "sweeprun-run" with a version this build reads. */
RunFile *runfile_open(const char *path, char *err, int err_size);
/* Release rf. For a writer this is "stop here": the .tmp stays, resumable. */
void runfile_close(RunFile *rf);

int runfile_has_attr(RunFile *rf, const char *name);
/* Strings: fixed or variable length; fails when buf_size is too small. */
int runfile_read_attr_string(RunFile *rf, const char *name, char *buf, int buf_size,
                             char *err, int err_size);
int runfile_read_attr_double(RunFile *rf, const char *name, double *out, char *err, int err_size);
int runfile_read_attr_int64(RunFile *rf, const char *name, int64_t *out, char *err, int err_size);

typedef enum { RUN_ATTR_STRING, RUN_ATTR_FLOAT, RUN_ATTR_INT, RUN_ATTR_OTHER } RunAttrKind;
/* Call visit(name, kind, user) for every root attribute (creation order is
 * not kept; names come alphabetically). A non-zero return from visit stops
 * the walk and is returned. */
int runfile_visit_attrs(RunFile *rf, int (*visit)(const char *name, RunAttrKind kind, void *user),
                        void *user, char *err, int err_size);

/* Allocates the column arrays; free with run_epochs_free. Rows present in
 * every column are returned (a run killed mid-append loses that row only). */
int runfile_read_epochs(RunFile *rf, RunEpochs *out, char *err, int err_size);
void run_epochs_free(RunEpochs *e);
/* Allocates; free with run_test_results_free. */
int runfile_read_test_results(RunFile *rf, RunTestResults *out, char *err, int err_size);
void run_test_results_free(RunTestResults *t);

/* Load every entry of table from /weights/<name>, checking each shape. Also
 * fails when the file holds weights the table does not know (another model). */
int runfile_read_weights(const char *path, const ParamTable *table, float *params, float *buffers,
                         char *err, int err_size);
/* As runfile_read_weights from /best/weights; *epoch gets /best's epoch.
 * Fails (naming the file) when the run has no /best. */
int runfile_read_best_weights(const char *path, const ParamTable *table, float *params, float *buffers,
                              int64_t *epoch, char *err, int err_size);
/* /validation/indices: *n = 0 and *indices = NULL when the file has none
 * (no split, or written before validation existed). Allocates. */
int runfile_read_validation(RunFile *rf, int32_t **indices, long *n, char *err, int err_size);
/* Fill ck's buffers, step and epoch; every size must match what is stored. */
int runfile_read_checkpoint(const char *path, RunCheckpoint *ck, char *err, int err_size);

#endif
