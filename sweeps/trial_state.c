#include "trial_state.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "runfile.h"

const char *trial_state_name(TrialState s)
{
    static const char *names[] = {"new", "unfinished", "complete", "pruned", "diverged", "failed", "unreadable"};
    return s >= 0 && s < TRIAL_STATES ? names[s] : "?";
}

int trial_state_finished(TrialState s) { return s >= TRIAL_COMPLETE && s < TRIAL_STATES; }

TrialState trial_state_of_status(const char *status)
{
    if (!strcmp(status, "complete")) return TRIAL_COMPLETE;
    if (!strcmp(status, "pruned")) return TRIAL_PRUNED;
    if (!strcmp(status, "diverged")) return TRIAL_DIVERGED;
    if (!strcmp(status, "failed")) return TRIAL_FAILED;
    return TRIAL_UNREADABLE;
}

/* Copy the per-epoch test accuracies of an open run file into acc. */
static int read_accuracies(RunFile *rf, int max_epochs, double *acc, char *err, int err_size)
{
    RunEpochs e;
    if (runfile_read_epochs(rf, &e, err, err_size)) return -1;
    for (long i = 0; i < e.count; i++) {
        int k = e.epoch[i] - 1;
        if (k >= 0 && k < max_epochs) acc[k] = e.test_accuracy[i];
    }
    int n = (int)e.count;
    run_epochs_free(&e);
    return n;
}

static void scan_final(const char *path, int max_epochs, TrialScan *out, double *acc)
{
    char err[512], status[64];
    RunFile *rf = runfile_open(path, err, sizeof err);
    if (!rf || runfile_read_attr_string(rf, "status", status, sizeof status, err, sizeof err)) {
        out->state = TRIAL_UNREADABLE;
        snprintf(out->note, sizeof out->note, "%s", err);
        if (rf) runfile_close(rf);
        return;
    }
    out->state = trial_state_of_status(status);
    if (out->state == TRIAL_UNREADABLE)
        snprintf(out->note, sizeof out->note, "%s: finished file with status '%s'", path, status);
    int n = read_accuracies(rf, max_epochs, acc, err, sizeof err);
    out->epochs = n > 0 ? n : 0;
    runfile_close(rf);
}

static void scan_tmp(const char *tmp, const char *trial_id, int max_epochs, TrialScan *out, double *acc)
{
    char err[512], id[64];
    out->state = TRIAL_UNFINISHED;
    RunFile *rf = runfile_open(tmp, err, sizeof err);
    if (!rf) {
        /* Killed before its first flush, or damaged: set aside and restarted. */
        snprintf(out->note, sizeof out->note, "%.400s (set aside when the trial starts)", err);
        return;
    }
    /* Another trial's .tmp under this trial's name: the trial still has to
     * run (the .tmp is set aside when it starts), and those accuracies are
     * not this trial's. */
    if (runfile_has_attr(rf, "trial_id")
        && runfile_read_attr_string(rf, "trial_id", id, sizeof id, err, sizeof err) == 0 && strcmp(id, trial_id)) {
        snprintf(out->note, sizeof out->note, "%.300s holds trial %.60s, not %.60s (set aside when the trial starts)", tmp,
                 id, trial_id);
        runfile_close(rf);
        return;
    }
    int n = read_accuracies(rf, max_epochs, acc, err, sizeof err);
    out->epochs = n > 0 ? n : 0;
    runfile_close(rf);
}

void trial_scan(const char *run_file, const char *trial_id, int max_epochs, TrialScan *out, double *acc)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < max_epochs; i++) acc[i] = NAN;
    char tmp[4200];
    if (access(run_file, F_OK) == 0) {
        scan_final(run_file, max_epochs, out, acc);
        return;
    }
    if (runfile_tmp_path(run_file, tmp, sizeof tmp) == 0 && access(tmp, F_OK) == 0)
        scan_tmp(tmp, trial_id, max_epochs, out, acc);
}

int trial_tmp_holds_epochs(const char *run_file)
{
    char tmp[4200], err[512];
    if (runfile_tmp_path(run_file, tmp, sizeof tmp) || access(tmp, F_OK)) return 0;
    RunFile *rf = runfile_open(tmp, err, sizeof err);
    if (!rf) return 1;                       /* cannot tell: keep it */
    RunEpochs e;
    int holds = runfile_read_epochs(rf, &e, err, sizeof err) != 0 || e.count > 0;
    run_epochs_free(&e);   /* cleared on failure too */
    runfile_close(rf);
    return holds;
}

int trial_set_aside(const char *run_file, char *moved_to, int size, char *err, int err_size)
{
    char tmp[4200];
    if (runfile_tmp_path(run_file, tmp, sizeof tmp)) {
        snprintf(err, err_size, "%.400s: path too long", run_file);
        return -1;
    }
    struct stat st;
    if (lstat(tmp, &st)) {
        snprintf(err, err_size, "%.400s: %s", tmp, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {   /* a folder or link there is not a damaged run file */
        snprintf(err, err_size, "%.400s: not a regular file; left where it is", tmp);
        return -1;
    }
    for (int n = 1; n <= TRIAL_MAX_SET_ASIDE; n++) {
        if (snprintf(moved_to, size, "%s.bad-%d", run_file, n) >= size) break;
        if (access(moved_to, F_OK) == 0) continue;
        if (rename(tmp, moved_to) == 0) return 0;
        snprintf(err, err_size, "%.400s: cannot rename to %.400s: %s", tmp, moved_to, strerror(errno));
        return -1;
    }
    snprintf(err, err_size, "%.400s: no free name %.400s.bad-N (N up to %d); remove old ones", tmp, run_file,
             TRIAL_MAX_SET_ASIDE);
    return -1;
}

int trial_read_result(const char *run_file, TrialResult *out)
{
    char err[1024];
    if (access(run_file, F_OK) != 0) return -1;
    RunFile *rf = runfile_open(run_file, err, sizeof err);
    if (!rf) return -1;
    RunEpochs e;
    memset(&e, 0, sizeof e);
    int rc = runfile_read_attr_string(rf, "status", out->status, sizeof out->status, err, sizeof err) == 0
                     && runfile_read_epochs(rf, &e, err, sizeof err) == 0
                 ? 0 : -1;
    if (rc == 0) {
        long best = run_epochs_best_row(&e, e.count);
        int64_t params = -1;
        out->best_val_accuracy = best >= 0 ? e.val_accuracy[best] : NAN;
        out->best_val_loss = best >= 0 ? e.val_loss[best] : NAN;
        out->best_epoch_test_accuracy = best >= 0 ? e.test_accuracy[best] : NAN;
        out->params = runfile_has_attr(rf, "param_count") && runfile_read_attr_int64(rf, "param_count", &params, NULL, 0) == 0
                          ? (double)params : NAN;
        out->seconds_per_epoch = run_epochs_mean_seconds(&e);
    }
    run_epochs_free(&e);
    runfile_close(rf);
    return rc;
}
