#include "progress.h"
#include <math.h>
#include "util.h"
#include <unistd.h>

void progress_init(Progress *p, FILE *out, int epochs, int quiet)
{
    p->out = out;
    p->live = !quiet && isatty(fileno(out));
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
