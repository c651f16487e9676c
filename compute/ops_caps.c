/* Capsule ops of Efficient-CapsNet (docs/models.md 7.2, backward 7.3): squash,
 * capsule predictions, self-attention routing, lengths, margin loss,
 * decoder mask, and the reconstruction MSE. Per-element formulas, and the
 * per-row and per-sample loops, live in caps_math.h, shared with the CUDA
 * twin (cuda/caps.cu), which keeps the CPU's order of every sum except the
 * two batch losses (margin, MSE: a fixed block tree in double there).
 *
 * Shapes at the reference sizes are tiny (B x 10 x 16 x 16 predictions),
 * so every op parallelises over samples and keeps the inner loops plain.
 * Sums that feed a loss are accumulated in double.
 *
 * On a CUDA ctx labels and select are device memory (as op_cross_entropy's
 * labels), range-checked when the dataset was read; they are not read on
 * the host. */
#include <math.h>
#include <string.h>
#include "caps_math.h"
#include "ops.h"
#include "backend.h"
#include "util.h"

/* A copy of n ints on the ctx's device: the caller's buffer may be
 * refilled before backward runs. */
static int *copy_ints(Ctx *c, const int *src, int n)
{
    int *dst = ctx_data(c, (size_t)n * sizeof *dst);
    if (ON_CUDA(c)) CUDA_ONLY(cuda_copy_device(c->cuda, dst, src, (size_t)n * sizeof *dst));
    else memcpy(dst, src, (size_t)n * sizeof *dst);
    return dst;
}

static Tensor *scalar_out(Ctx *c, int needs_grad)
{
    int one = 1;
    return ctx_tensor(c, 1, &one, needs_grad);
}

/* Labels (or capsule choices) of n rows must lie in [0, k): checked on the
 * CPU only (on CUDA they are device memory). */
static void check_classes(const Ctx *c, const int *v, int n, int k, const char *op, const char *what)
{
    if (ON_CUDA(c)) return;
    for (int i = 0; i < n; i++)
        CHECK(v[i] >= 0 && v[i] < k, "%s: %s %d of row %d outside [0, %d)", op, what, v[i], i, k);
}

/* ---- squash ------------------------------------------------------------- */

static void squash_forward_cpu(const float *s, float *v, long rows, int d, float eps)
{
#pragma omp parallel for if (rows * d >= PAR_MIN)
    for (long r = 0; r < rows; r++) squash_row_fwd(s + r * d, v + r * d, d, eps);
}

static void squash_backward_cpu(const float *s, const float *dv, float *ds, long rows, int d, float eps)
{
#pragma omp parallel for if (rows * d >= PAR_MIN)
    for (long r = 0; r < rows; r++) squash_row_bwd(s + r * d, dv + r * d, ds + r * d, d, eps);
}

static void squash_backward(TapeEntry *e)
{
    Tensor *s = e->in[0];
    if (!s->grad) return;
    int d = s->dims[s->ndim - 1];
    long rows = s->numel / d;
    float eps = e->args.squash.eps;
    if (ON_CUDA(e->ctx)) CUDA_ONLY(cuda_squash_backward(e->ctx->cuda, s->data, e->out->grad, s->grad, rows, d, eps));
    else squash_backward_cpu(s->data, e->out->grad, s->grad, rows, d, eps);
}

Tensor *op_squash(Ctx *c, Tensor *s, float eps)
{
    CHECK(s->ndim >= 1, "op_squash: needs at least one dimension");
    int d = s->dims[s->ndim - 1];
    long rows = s->numel / d;
    int g = ctx_any_grad(c, 1, &s);
    Tensor *v = ctx_tensor_like(c, s, g);
    if (ON_CUDA(c)) CUDA_ONLY(cuda_squash_forward(c->cuda, s->data, v->data, rows, d, eps));
    else squash_forward_cpu(s->data, v->data, rows, d, eps);
    if (g) {
        TapeEntry *e = ctx_record(c, squash_backward, v);
        e->in[0] = s;
        e->args.squash.eps = eps;
    }
    return v;
}

/* ---- capsule predictions ------------------------------------------------ */

static PredGeom pred_geom(const Tensor *u, const Tensor *w)
{
    CHECK(u->ndim == 3 && w->ndim == 4, "op_caps_predict: u must be [B,J,I] and W [K,J,I,D]");
    CHECK(u->dims[1] == w->dims[1] && u->dims[2] == w->dims[2],
          "op_caps_predict: u [%d,%d,%d] does not match W [%d,%d,%d,%d]", u->dims[0], u->dims[1],
          u->dims[2], w->dims[0], w->dims[1], w->dims[2], w->dims[3]);
    PredGeom g = {u->dims[0], u->dims[1], u->dims[2], w->dims[0], w->dims[3]};
    return g;
}

static void caps_predict_forward_cpu(const PredGeom *g, const float *u, const float *w, float *y)
{
#pragma omp parallel for if ((long)g->b * g->k * g->j * g->d >= PAR_MIN)
    for (int b = 0; b < g->b; b++)
        for (int k = 0; k < g->k; k++)
            for (int j = 0; j < g->j; j++)
                for (int z = 0; z < g->d; z++)
                    y[(((long)b * g->k + k) * g->j + j) * g->d + z] = caps_predict_value(g, u, w, b, k, j, z);
}

/* du[b,j,i] += sum_k W[k,j,i,:] . duhat[b,k,j,:] */
static void caps_predict_du_cpu(const PredGeom *g, const float *w, const float *dy, float *du)
{
#pragma omp parallel for if ((long)g->b * g->k * g->j * g->d >= PAR_MIN)
    for (int b = 0; b < g->b; b++)
        for (int j = 0; j < g->j; j++)
            for (int i = 0; i < g->i; i++) {
                long at = ((long)b * g->j + j) * g->i + i;
                du[at] = caps_predict_du(g, w, dy, b, j, i, du[at]);
            }
}

/* dW[k,j,i,z] += sum_b u[b,j,i] duhat[b,k,j,z] */
static void caps_predict_dw_cpu(const PredGeom *g, const float *u, const float *dy, float *dw)
{
    long n = (long)g->k * g->j * g->i * g->d;
#pragma omp parallel for if (n >= PAR_MIN)
    for (long at = 0; at < n; at++) dw[at] = caps_predict_dw_add(g, u, dy, at, dw[at]);
}

static void caps_predict_backward(TapeEntry *e)
{
    Tensor *u = e->in[0], *w = e->in[1];
    PredGeom g = pred_geom(u, w);
    const float *dy = e->out->grad;
    if (ON_CUDA(e->ctx)) {
        CUDA_ONLY(cuda_caps_predict_backward(e->ctx->cuda, g, u->data, w->data, dy, u->grad, w->grad));
        return;
    }
    if (u->grad) caps_predict_du_cpu(&g, w->data, dy, u->grad);
    if (w->grad) caps_predict_dw_cpu(&g, u->data, dy, w->grad);
}

Tensor *op_caps_predict(Ctx *c, Tensor *u, Tensor *w)
{
    PredGeom g = pred_geom(u, w);
    Tensor *ins[2] = {u, w};
    int needs = ctx_any_grad(c, 2, ins);
    int dims[4] = {g.b, g.k, g.j, g.d};
    Tensor *y = ctx_tensor(c, 4, dims, needs);
    if (ON_CUDA(c)) CUDA_ONLY(cuda_caps_predict_forward(c->cuda, g, u->data, w->data, y->data));
    else caps_predict_forward_cpu(&g, u->data, w->data, y->data);
    if (needs) {
        TapeEntry *e = ctx_record(c, caps_predict_backward, y);
        e->in[0] = u;
        e->in[1] = w;
    }
    return y;
}

/* ---- self-attention routing --------------------------------------------- */

static RouteGeom route_geom(const Tensor *uhat)
{
    CHECK(uhat->ndim == 4, "op_caps_routing: uhat must be [B,K,J,D]");
    RouteGeom g = {uhat->dims[0], uhat->dims[1], uhat->dims[2], uhat->dims[3]};
    return g;
}

/* What forward keeps for backward is a TapeRoute (tape_args.h): the
 * coupling coefficients and prediction sums, and backward's scratch. */

static void caps_routing_forward_cpu(const RouteGeom *g, const float *uhat, const float *prior, float *sums,
                                     float *coupling, float *s)
{
    long kj = (long)g->k * g->j, kd = (long)g->k * g->d, kjd = kj * g->d;
#pragma omp parallel for if (g->b * kjd >= PAR_MIN)
    for (int b = 0; b < g->b; b++)
        caps_route_sample(g, uhat + b * kjd, prior, sums + b * kd, coupling + b * kj, s + b * kd);
}

static void caps_routing_backward_cpu(const RouteGeom *g, const float *uhat, const float *prior,
                                      const TapeRoute *sv, const float *ds, float *duhat, float *dprior)
{
    long kj = (long)g->k * g->j, kd = (long)g->k * g->d, kjd = kj * g->d;
#pragma omp parallel for if (g->b * kjd >= PAR_MIN)
    for (int b = 0; b < g->b; b++)
        caps_route_sample_backward(g, uhat + b * kjd, prior, sv->sums + b * kd, sv->coupling + b * kj, ds + b * kd,
                                   duhat ? duhat + b * kjd : NULL, sv->dcp + b * kj, sv->dz + b * kj,
                                   sv->gk + (long)b * g->d);
    if (dprior)
        for (long i = 0; i < kj; i++) dprior[i] += caps_prior_grad(sv->dcp, g->b, kj, i);
}

static void caps_routing_backward(TapeEntry *e)
{
    Tensor *uhat = e->in[0], *prior = e->in[1];
    RouteGeom g = route_geom(uhat);
    const TapeRoute *sv = &e->args.route;
    if (ON_CUDA(e->ctx))
        CUDA_ONLY(cuda_caps_routing_backward(e->ctx->cuda, g, uhat->data, prior->data, sv->sums, sv->coupling,
                                             e->out->grad, uhat->grad, prior->grad, sv->dcp, sv->dz, sv->gk));
    else caps_routing_backward_cpu(&g, uhat->data, prior->data, sv, e->out->grad, uhat->grad, prior->grad);
}

Tensor *op_caps_routing(Ctx *c, Tensor *uhat, Tensor *prior)
{
    RouteGeom g = route_geom(uhat);
    long kj = (long)g.k * g.j, kd = (long)g.k * g.d;
    CHECK(prior->numel == kj, "op_caps_routing: prior has %ld values, expected K*J = %ld", prior->numel, kj);
    Tensor *ins[2] = {uhat, prior};
    int needs = ctx_any_grad(c, 2, ins);
    int dims[3] = {g.b, g.k, g.d};
    Tensor *s = ctx_tensor(c, 3, dims, needs);
    TapeRoute sv = {.coupling = ctx_scratch(c, g.b * kj), .sums = ctx_scratch(c, g.b * kd)};
    if (ON_CUDA(c))
        CUDA_ONLY(cuda_caps_routing_forward(c->cuda, g, uhat->data, prior->data, sv.sums, sv.coupling, s->data));
    else caps_routing_forward_cpu(&g, uhat->data, prior->data, sv.sums, sv.coupling, s->data);
    if (needs) {
        sv.dcp = ctx_scratch(c, g.b * kj);
        sv.dz = ctx_scratch(c, g.b * kj);
        sv.gk = ctx_scratch(c, (long)g.b * g.d);
        TapeEntry *e = ctx_record(c, caps_routing_backward, s);
        e->in[0] = uhat;
        e->in[1] = prior;
        e->args.route = sv;
    }
    return s;
}

/* ---- lengths ------------------------------------------------------------ */

static void caps_length_forward_cpu(const float *v, float *len, long rows, int d, float eps)
{
    for (long r = 0; r < rows; r++) len[r] = caps_length(caps_dot(v + r * d, v + r * d, d), eps);
}

static void caps_length_backward_cpu(const float *v, const float *len, const float *dlen, float *dv, long rows,
                                     int d)
{
    for (long r = 0; r < rows; r++) caps_length_row_bwd(v + r * d, len[r], dlen[r], dv + r * d, d);
}

static void caps_length_backward(TapeEntry *e)
{
    Tensor *v = e->in[0];
    if (!v->grad) return;
    int d = v->dims[v->ndim - 1];
    const Tensor *len = e->out;
    if (ON_CUDA(e->ctx))
        CUDA_ONLY(cuda_caps_length_backward(e->ctx->cuda, v->data, len->data, len->grad, v->grad, len->numel, d));
    else caps_length_backward_cpu(v->data, len->data, len->grad, v->grad, len->numel, d);
}

Tensor *op_caps_length(Ctx *c, Tensor *v, float eps)
{
    CHECK(v->ndim >= 2, "op_caps_length: needs [.., D]");
    CHECK(eps > 0.0f, "op_caps_length: eps must be positive (it keeps v/len finite at 0)");
    int d = v->dims[v->ndim - 1];
    int g = ctx_any_grad(c, 1, &v);
    Tensor *len = ctx_tensor(c, v->ndim - 1, v->dims, g);
    if (ON_CUDA(c)) CUDA_ONLY(cuda_caps_length_forward(c->cuda, v->data, len->data, len->numel, d, eps));
    else caps_length_forward_cpu(v->data, len->data, len->numel, d, eps);
    if (g) {
        TapeEntry *e = ctx_record(c, caps_length_backward, len);
        e->in[0] = v;
    }
    return len;
}

/* ---- margin loss -------------------------------------------------------- */

static float margin_forward_cpu(const float *len, const int *labels, int n, int k, const MarginParams *mp)
{
    double total = 0;
    for (int i = 0; i < n; i++) total += margin_row(len + (long)i * k, labels[i], k, mp);
    return (float)(total / n);
}

static void margin_backward_cpu(const float *len, const int *labels, int n, int k, const MarginParams *mp,
                                const float *dloss, float *dlen)
{
    float scale = dloss[0] / (float)n;
    for (long at = 0; at < (long)n * k; at++) dlen[at] += margin_grad(len, labels, k, mp, scale, at);
}

static void margin_backward(TapeEntry *e)
{
    Tensor *len = e->in[0];
    if (!len->grad) return;
    const TapeMargin *a = &e->args.margin;
    const int *labels = a->labels;
    int n = len->dims[0], k = len->dims[1];
    MarginParams mp = {a->m_pos, a->m_neg, a->lambda};
    if (ON_CUDA(e->ctx))
        CUDA_ONLY(cuda_margin_backward(e->ctx->cuda, len->data, labels, n, k, mp, e->out->grad, len->grad));
    else margin_backward_cpu(len->data, labels, n, k, &mp, e->out->grad, len->grad);
}

Tensor *op_margin_loss(Ctx *c, Tensor *len, const int *labels, float m_pos, float m_neg, float lambda)
{
    CHECK(len->ndim == 2, "op_margin_loss: lengths must be [B,K]");
    int n = len->dims[0], k = len->dims[1];
    check_classes(c, labels, n, k, "op_margin_loss", "label");
    MarginParams mp = {m_pos, m_neg, lambda};
    int g = ctx_any_grad(c, 1, &len);
    Tensor *loss = scalar_out(c, g);
    if (ON_CUDA(c)) CUDA_ONLY(cuda_margin_forward(c->cuda, len->data, labels, n, k, mp, loss->data));
    else loss->data[0] = margin_forward_cpu(len->data, labels, n, k, &mp);
    if (g) {
        TapeEntry *e = ctx_record(c, margin_backward, loss);
        e->in[0] = len;
        e->args.margin = (TapeMargin){.labels = copy_ints(c, labels, n), .m_pos = m_pos, .m_neg = m_neg,
                                      .lambda = lambda};
    }
    return loss;
}

/* ---- decoder mask ------------------------------------------------------- */

static void caps_mask_forward_cpu(const float *v, const int *select, float *y, int n, int k, int d)
{
    for (long at = 0; at < (long)n * k * d; at++) y[at] = caps_masked(v, select, k, d, at);
}

static void caps_mask_backward_cpu(const float *dy, const int *select, float *dv, int n, int k, int d)
{
    for (long t = 0; t < (long)n * d; t++) caps_mask_grad(dy, select, k, d, t, dv);
}

static void caps_mask_backward(TapeEntry *e)
{
    Tensor *v = e->in[0];
    if (!v->grad) return;
    const int *select = e->args.caps_mask.select;
    int n = v->dims[0], k = v->dims[1], d = v->dims[2];
    if (ON_CUDA(e->ctx)) CUDA_ONLY(cuda_caps_mask_backward(e->ctx->cuda, e->out->grad, select, v->grad, n, k, d));
    else caps_mask_backward_cpu(e->out->grad, select, v->grad, n, k, d);
}

Tensor *op_caps_mask(Ctx *c, Tensor *v, const int *select)
{
    CHECK(v->ndim == 3, "op_caps_mask: capsules must be [B,K,D]");
    int n = v->dims[0], k = v->dims[1], d = v->dims[2];
    check_classes(c, select, n, k, "op_caps_mask", "capsule");
    int g = ctx_any_grad(c, 1, &v);
    int dims[2] = {n, k * d};
    Tensor *y = ctx_tensor(c, 2, dims, g);
    if (ON_CUDA(c)) CUDA_ONLY(cuda_caps_mask_forward(c->cuda, v->data, select, y->data, n, k, d));
    else caps_mask_forward_cpu(v->data, select, y->data, n, k, d);
    if (g) {
        TapeEntry *e = ctx_record(c, caps_mask_backward, y);
        e->in[0] = v;
        e->args.caps_mask.select = copy_ints(c, select, n);
    }
    return y;
}

/* ---- mean squared error ------------------------------------------------- */

static float mse_forward_cpu(const float *p, const float *t, long n)
{
    double total = 0;
    for (long i = 0; i < n; i++) total += mse_term(p[i], t[i]);
    return (float)(total / (double)n);
}

static void mse_backward_cpu(const float *p, const float *t, const float *dloss, float *dp, float *dt, long n)
{
    float scale = mse_scale(dloss[0], n);
    for (long i = 0; i < n; i++) mse_grad(scale, p, t, i, dp, dt);
}

static void mse_backward(TapeEntry *e)
{
    Tensor *p = e->in[0], *t = e->in[1];
    if (ON_CUDA(e->ctx))
        CUDA_ONLY(cuda_mse_backward(e->ctx->cuda, p->data, t->data, e->out->grad, p->grad, t->grad, p->numel));
    else mse_backward_cpu(p->data, t->data, e->out->grad, p->grad, t->grad, p->numel);
}

Tensor *op_mse(Ctx *c, Tensor *pred, Tensor *target)
{
    CHECK(pred->numel == target->numel, "op_mse: %ld predictions for %ld targets", pred->numel,
          target->numel);
    Tensor *ins[2] = {pred, target};
    int g = ctx_any_grad(c, 2, ins);
    Tensor *loss = scalar_out(c, g);
    if (ON_CUDA(c)) CUDA_ONLY(cuda_mse_forward(c->cuda, pred->data, target->data, pred->numel, loss->data));
    else loss->data[0] = mse_forward_cpu(pred->data, target->data, pred->numel);
    if (g) {
        TapeEntry *e = ctx_record(c, mse_backward, loss);
        e->in[0] = pred;
        e->in[1] = target;
    }
    return loss;
}
