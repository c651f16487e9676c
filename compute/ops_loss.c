/* Cross-entropy loss and the arg-max helpers used for accuracy.
 *
 * The loss is PyTorch's CrossEntropyLoss with mean reduction:
 *   L = 1/N * sum_i (logsumexp(z_i) - z_i[y_i]).
 * logsumexp subtracts the row maximum first, so logits of any magnitude
 * (1e3, 1e30) give a finite loss instead of exp() overflowing to inf.
 * The per-row math is loss_math.h's, shared with the CUDA twins in
 * cuda/loss.cu (on CUDA, labels are device memory). */
#include <string.h>
#include "ops.h"
#include "backend.h"
#include "loss_math.h"
#include "util.h"

/* e->in[0] = logits; args.cross_entropy.labels: a copy of the labels.
 * dz_ij = upstream * (softmax_ij - [j == y_i]) / N. */
static void cross_entropy_backward(TapeEntry *e)
{
    Tensor *z = e->in[0];
    const int *labels = e->args.cross_entropy.labels;
    int n = z->dims[0], k = z->dims[1];
    if (ON_CUDA(e->ctx)) {
        CUDA_ONLY(cuda_cross_entropy_backward(e->ctx->cuda, z->data, labels, n, k, e->out->grad, z->grad));
        return;
    }
    double scale = (double)e->out->grad[0] / n;
    #pragma omp parallel for if ((long)n * k >= PAR_MIN) schedule(static)
    for (int i = 0; i < n; i++)
        cross_entropy_row_grad(z->data + (long)i * k, labels[i], k, scale, z->grad + (long)i * k);
}

static float cross_entropy_cpu(const float *z, const int *labels, int n, int k)
{
    double total = 0;
    for (int i = 0; i < n; i++) {
        CHECK(labels[i] >= 0 && labels[i] < k, "cross_entropy: label %d of row %d outside [0, %d)",
              labels[i], i, k);
        const float *zr = z + (long)i * k;
        total += row_logsumexp(zr, k) - zr[labels[i]];
    }
    return (float)(total / n);
}

Tensor *op_cross_entropy(Ctx *c, Tensor *logits, const int *labels)
{
    CHECK(logits->ndim == 2, "cross_entropy: logits rank %d (want 2)", logits->ndim);
    int n = logits->dims[0], k = logits->dims[1];
    int needs_grad = ctx_any_grad(c, 1, &logits);
    int one = 1;
    Tensor *loss = ctx_tensor(c, 1, &one, needs_grad);
    /* On CUDA the labels were range-checked when the dataset was read. */
    if (ON_CUDA(c)) CUDA_ONLY(cuda_cross_entropy_forward(c->cuda, logits->data, labels, n, k, loss->data));
    else loss->data[0] = cross_entropy_cpu(logits->data, labels, n, k);
    if (needs_grad) {
        /* Copy the labels: the caller's batch buffer may be refilled (by a
         * prefetching loader) before backward runs. */
        int *saved = ctx_data(c, (size_t)n * sizeof *saved);
        if (ON_CUDA(c)) CUDA_ONLY(cuda_copy_device(c->cuda, saved, labels, (size_t)n * sizeof *saved));
        else memcpy(saved, labels, (size_t)n * sizeof *saved);
        TapeEntry *e = ctx_record(c, cross_entropy_backward, loss);
        e->in[0] = logits;
        e->args.cross_entropy.labels = saved;
    }
    return loss;
}

void argmax_rows(const Tensor *logits, int *pred)
{
    CHECK(logits->ndim == 2, "argmax_rows: logits rank %d (want 2)", logits->ndim);
    int n = logits->dims[0], k = logits->dims[1];
    for (int i = 0; i < n; i++) pred[i] = row_argmax(logits->data + (long)i * k, k);
}

int count_correct(const Tensor *logits, const int *labels)
{
    CHECK(logits->ndim == 2, "count_correct: logits rank %d (want 2)", logits->ndim);
    int n = logits->dims[0], k = logits->dims[1], correct = 0;
    for (int i = 0; i < n; i++)
        correct += row_argmax(logits->data + (long)i * k, k) == labels[i];
    return correct;
}

void op_argmax_rows(Ctx *c, const Tensor *logits, int *pred)
{
    CHECK(logits->ndim == 2, "op_argmax_rows: logits rank %d (want 2)", logits->ndim);
    if (ON_CUDA(c)) CUDA_ONLY(cuda_argmax_rows(c->cuda, logits->data, logits->dims[0], logits->dims[1], pred));
    else argmax_rows(logits, pred);
}
