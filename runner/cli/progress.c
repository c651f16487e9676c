#include "progress.h"
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "comm.h"
#include "util.h"

int progress_is_terminal(FILE *out)
{
    if (!isatty(fileno(out))) return 0;
    if (!comm_launched()) return 1;
    /* Open MPI gives every rank a pseudo-terminal of its own, whatever
     * mpirun's output is. The rank that mpirun started (its child) asks
     * where mpirun's output goes; a rank started by a remote daemon, or one
     * that cannot tell, says plain. */
    char link[64], target[PATH_MAX];
    snprintf(link, sizeof link, "/proc/%d/fd/%d", (int)getppid(), fileno(out));
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0) return 0;
    target[n] = 0;
    return !strncmp(target, "/dev/pts/", 9) || !strncmp(target, "/dev/tty", 8);
}

void progress_init(Progress *p, FILE *out, int epochs, int quiet)
{
    p->out = out;
    p->live = !quiet && progress_is_terminal(out);
    p->quiet = quiet;
    p->epochs = epochs;
    p->last_draw = 0;
}

void progress_batch(Progress *p, int epoch, int batch, int batches, double running_loss,
                    double elapsed, long images)
{
    if (!p->live) return;
    double t = now_seconds();
    if (batch != batches && t - p->last_draw < 0.1) return;   /* ~10 redraws a second */
    p->last_draw = t;
    enum { WIDTH = 30 };
    int filled = (int)((long)WIDTH * batch / batches);
    char bar[WIDTH + 1];
    for (int i = 0; i < WIDTH; i++) bar[i] = i < filled ? '=' : i == filled ? '>' : ' ';
    bar[WIDTH] = 0;
    double rate = elapsed > 0 ? images / elapsed : 0;
    double eta = batch ? elapsed * (batches - batch) / batch : 0;
    fprintf(p->out, "\r\033[Kepoch %d/%d [%s] %d/%d  loss %.4f  %.0f img/s  ETA %.0fs",
            epoch + 1, p->epochs, bar, batch, batches, running_loss, rate, eta);
    fflush(p->out);
}

void progress_epoch(Progress *p, const EpochStats *s)
{
    if (p->quiet) return;
    if (p->live) fputs("\r\033[K", p->out);
    fprintf(p->out, "epoch %d/%d  train loss %.4f acc %.2f%%  ", s->epoch + 1, p->epochs, s->train_loss,
            100 * s->train_accuracy);
    if (!isnan(s->val_accuracy)) fprintf(p->out, "val loss %.4f acc %.2f%%  ", s->val_loss, 100 * s->val_accuracy);
    fprintf(p->out, "test loss %.4f acc %.2f%%  lr %.3g  %.1fs (%.0f img/s)\n", s->test_loss, 100 * s->test_accuracy,
            s->lr, s->seconds, s->train_images_per_second);
    fflush(p->out);
}
