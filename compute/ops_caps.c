/* Capsule ops of Efficient-CapsNet (MODELS.md 7.2, backward 7.3): squash,
 * capsule predictions, self-attention routing, lengths, margin loss,
 * decoder mask, and the reconstruction MSE. Per-element formulas live in
 * caps_math.h (shared with the CUDA kernels).
 *
 * Shapes at the reference sizes are tiny (B x 10 x 16 x 16 predictions),
 * so every op parallelises over samples and keeps the inner loops plain.
 * Sums that feed a loss are accumulated in double. */
#include <math.h>
#include <string.h>
#include "caps_math.h"
#include "ops.h"
#include "backend.h"
#include "util.h"

#define PAR_MIN 32768L

static int *copy_ints(Ctx *c, const int *src, int n)
{
    int *dst = arena_alloc(&c->arena, (size_t)n * sizeof *dst);
    memcpy(dst, src, (size_t)n * sizeof *dst);
    return dst;
}

static Tensor *scalar_out(Ctx *c, int needs_grad)
{
    int one = 1;
    return ctx_tensor(c, 1, &one, needs_grad);
}

static float dot(const float *a, const float *b, int n)
{
    float s = 0.0f;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* ---- squash ------------------------------------------------------------- */

/* farg[0]: eps. */
static void squash_backward(TapeEntry *e)
{
    Tensor *s = e->in[0];
    if (!s->grad) return;
    int d = s->dims[s->ndim - 1];
    long rows = s->numel / d;
    float eps = e->farg[0];
#pragma omp parallel for if (s->numel >= PAR_MIN)
    for (long r = 0; r < rows; r++) {
        const float *sv = s->data + r * d, *dv = e->out->grad + r * d;
        float *ds = s->grad + r * d;
        float a, b;
        squash_bwd_coeffs(sqrtf(dot(sv, sv, d)), dot(sv, dv, d), eps, &a, &b);
        for (int i = 0; i < d; i++) ds[i] += a * dv[i] + b * sv[i];
    }
}

Tensor *op_squash(Ctx *c, Tensor *s, float eps)
{
    CPU_ONLY_OP(c, "op_squash");
    CHECK(s->ndim >= 1, "op_squash: needs at least one dimension");
    int d = s->dims[s->ndim - 1];
    long rows = s->numel / d;
    int g = ctx_any_grad(c, 1, &s);
    Tensor *v = ctx_tensor_like(c, s, g);
#pragma omp parallel for if (s->numel >= PAR_MIN)
    for (long r = 0; r < rows; r++) {
        const float *sv = s->data + r * d;
        float phi = squash_phi(sqrtf(dot(sv, sv, d)), eps);
        for (int i = 0; i < d; i++) v->data[r * d + i] = phi * sv[i];
    }
    if (g) {
        TapeEntry *e = ctx_record(c, squash_backward, v);
        e->in[0] = s;
        e->farg[0] = eps;
    }
    return v;
}

/* ---- capsule predictions ------------------------------------------------ */

typedef struct PredGeom { int b, j, i, k, d; } PredGeom;

static PredGeom pred_geom(const Tensor *u, const Tensor *w)
{
    CHECK(u->ndim == 3 && w->ndim == 4, "op_caps_predict: u must be [B,J,I] and W [K,J,I,D]");
    CHECK(u->dims[1] == w->dims[1] && u->dims[2] == w->dims[2],
          "op_caps_predict: u [%d,%d,%d] does not match W [%d,%d,%d,%d]", u->dims[0], u->dims[1],
          u->dims[2], w->dims[0], w->dims[1], w->dims[2], w->dims[3]);
    PredGeom g = {u->dims[0], u->dims[1], u->dims[2], w->dims[0], w->dims[3]};
    return g;
}

static void caps_predict_backward(TapeEntry *e)
{
    Tensor *u = e->in[0], *w = e->in[1];
    PredGeom g = pred_geom(u, w);
    const float *dy = e->out->grad;
    long ukd = (long)g.k * g.j * g.d;   /* uhat values per sample */
    if (u->grad) {
        /* du[b,j,i] += sum_k W[k,j,i,:] . duhat[b,k,j,:] */
#pragma omp parallel for if (e->out->numel >= PAR_MIN)
        for (int b = 0; b < g.b; b++)
            for (int k = 0; k < g.k; k++)
                for (int j = 0; j < g.j; j++) {
                    const float *d = dy + b * ukd + ((long)k * g.j + j) * g.d;
                    for (int i = 0; i < g.i; i++)
                        u->grad[((long)b * g.j + j) * g.i + i] +=
                            dot(w->data + (((long)k * g.j + j) * g.i + i) * g.d, d, g.d);
                }
    }
    if (w->grad) {
        /* dW[k,j,i,:] += sum_b u[b,j,i] duhat[b,k,j,:]; (k,j) pairs split. */
#pragma omp parallel for if (e->out->numel >= PAR_MIN)
        for (long kj = 0; kj < (long)g.k * g.j; kj++) {
            int j = (int)(kj % g.j);
            for (int b = 0; b < g.b; b++) {
                const float *d = dy + b * ukd + kj * g.d;
                for (int i = 0; i < g.i; i++) {
                    float ui = u->data[((long)b * g.j + j) * g.i + i];
                    float *dw = w->grad + (kj * g.i + i) * g.d;
                    for (int z = 0; z < g.d; z++) dw[z] += ui * d[z];
                }
            }
        }
    }
}

Tensor *op_caps_predict(Ctx *c, Tensor *u, Tensor *w)
{
    CPU_ONLY_OP(c, "op_caps_predict");
    PredGeom g = pred_geom(u, w);
    Tensor *ins[2] = {u, w};
    int needs = ctx_any_grad(c, 2, ins);
    int dims[4] = {g.b, g.k, g.j, g.d};
    Tensor *y = ctx_tensor(c, 4, dims, needs);
#pragma omp parallel for if (y->numel >= PAR_MIN)
    for (int b = 0; b < g.b; b++)
        for (int k = 0; k < g.k; k++)
            for (int j = 0; j < g.j; j++) {
                float *out = y->data + (((long)b * g.k + k) * g.j + j) * g.d;
                memset(out, 0, (size_t)g.d * sizeof *out);
                for (int i = 0; i < g.i; i++) {
                    float ui = u->data[((long)b * g.j + j) * g.i + i];
                    const float *wr = w->data + (((long)k * g.j + j) * g.i + i) * g.d;
                    for (int z = 0; z < g.d; z++) out[z] += ui * wr[z];
                }
            }
    if (needs) {
        TapeEntry *e = ctx_record(c, caps_predict_backward, y);
        e->in[0] = u;
        e->in[1] = w;
    }
    return y;
}

/* ---- self-attention routing --------------------------------------------- */

typedef struct RouteGeom { int b, k, j, d; } RouteGeom;

static RouteGeom route_geom(const Tensor *uhat)
{
    CHECK(uhat->ndim == 4, "op_caps_routing: uhat must be [B,K,J,D]");
    RouteGeom g = {uhat->dims[0], uhat->dims[1], uhat->dims[2], uhat->dims[3]};
    return g;
}

/* One sample: sums[k,:] = sum_j uhat[k,j,:]; coupling[k,j] = softmax over
 * k of uhat[k,j] . sums[k] / sqrt(D); s[k,:] = sum_j (coupling + prior) uhat. */
static void route_sample(const RouteGeom *g, const float *uh, const float *prior, float *sums,
                         float *coupling, float *s)
{
    float inv = 1.0f / sqrtf((float)g->d);
    for (int k = 0; k < g->k; k++) {
        float *sk = sums + (long)k * g->d;
        memset(sk, 0, (size_t)g->d * sizeof *sk);
        for (int j = 0; j < g->j; j++)
            for (int z = 0; z < g->d; z++) sk[z] += uh[((long)k * g->j + j) * g->d + z];
        for (int j = 0; j < g->j; j++)
            coupling[k * g->j + j] = dot(uh + ((long)k * g->j + j) * g->d, sk, g->d) * inv;
    }
    for (int j = 0; j < g->j; j++) {
        float m = coupling[j];
        for (int k = 1; k < g->k; k++) m = fmaxf(m, coupling[k * g->j + j]);
        float total = 0.0f;
        for (int k = 0; k < g->k; k++) {
            float ex = expf(coupling[k * g->j + j] - m);
            coupling[k * g->j + j] = ex;
            total += ex;
        }
        for (int k = 0; k < g->k; k++) coupling[k * g->j + j] /= total;
    }
    for (int k = 0; k < g->k; k++) {
        float *sk = s + (long)k * g->d;
        memset(sk, 0, (size_t)g->d * sizeof *sk);
        for (int j = 0; j < g->j; j++) {
            float cp = coupling[k * g->j + j] + prior[k * g->j + j];
            const float *u = uh + ((long)k * g->j + j) * g->d;
            for (int z = 0; z < g->d; z++) sk[z] += cp * u[z];
        }
    }
}

/* One sample's backward. dcp[k,j] (kept for the prior's gradient) =
 * ds_k . uhat[k,j]; through the softmax dz = C (dcp - sum_k' C dcp); the
 * logit a[k,j] = uhat[k,j] . S_k / sqrt(D) sends dz S_k / sqrt(D) to
 * uhat[k,j] and, through S_k, sum_j dz[k,j] uhat[k,j] / sqrt(D) to every
 * uhat[k,l]. dz is scratch of K*J, g_k of D. */
static void route_sample_backward(const RouteGeom *g, const float *uh, const float *prior,
                                  const float *sums, const float *coupling, const float *ds,
                                  float *duh, float *dcp, float *dz, float *gk)
{
    float inv = 1.0f / sqrtf((float)g->d);
    for (int k = 0; k < g->k; k++)
        for (int j = 0; j < g->j; j++) {
            long at = ((long)k * g->j + j) * g->d;
            dcp[k * g->j + j] = dot(ds + (long)k * g->d, uh + at, g->d);
            if (duh) {
                float cp = coupling[k * g->j + j] + prior[k * g->j + j];
                for (int z = 0; z < g->d; z++) duh[at + z] += cp * ds[(long)k * g->d + z];
            }
        }
    if (!duh) return;
    for (int j = 0; j < g->j; j++) {
        float wsum = 0.0f;
        for (int k = 0; k < g->k; k++) wsum += coupling[k * g->j + j] * dcp[k * g->j + j];
        for (int k = 0; k < g->k; k++)
            dz[k * g->j + j] = softmax_dlogit(coupling[k * g->j + j], dcp[k * g->j + j], wsum);
    }
    for (int k = 0; k < g->k; k++) {
        const float *sk = sums + (long)k * g->d;
        memset(gk, 0, (size_t)g->d * sizeof *gk);
        for (int j = 0; j < g->j; j++) {
            long at = ((long)k * g->j + j) * g->d;
            float a = dz[k * g->j + j] * inv;
            for (int z = 0; z < g->d; z++) {
                gk[z] += a * uh[at + z];
                duh[at + z] += a * sk[z];
            }
        }
        for (int j = 0; j < g->j; j++)
            for (int z = 0; z < g->d; z++) duh[((long)k * g->j + j) * g->d + z] += gk[z];
    }
}

/* What forward keeps for backward (arena memory, in e->ptr[0]): the
 * coupling coefficients [B,K,J] and prediction sums [B,K,D], and backward's
 * scratch (backward has no arena): dcp and dz [B,K,J], g [B,D]. */
typedef struct RouteSaved { float *coupling, *sums, *dcp, *dz, *gk; } RouteSaved;

static void caps_routing_backward(TapeEntry *e)
{
    Tensor *uhat = e->in[0], *prior = e->in[1];
    RouteGeom g = route_geom(uhat);
    const RouteSaved *sv = e->ptr[0];
    long kj = (long)g.k * g.j, kd = (long)g.k * g.d, kjd = kj * g.d;
#pragma omp parallel for if (uhat->numel >= PAR_MIN)
    for (int b = 0; b < g.b; b++)
        route_sample_backward(&g, uhat->data + b * kjd, prior->data, sv->sums + b * kd,
                              sv->coupling + b * kj, e->out->grad + b * kd,
                              uhat->grad ? uhat->grad + b * kjd : NULL, sv->dcp + b * kj,
                              sv->dz + b * kj, sv->gk + (long)b * g.d);
    if (prior->grad)
        for (long i = 0; i < kj; i++) {
            float sum = 0.0f;
            for (int b = 0; b < g.b; b++) sum += sv->dcp[b * kj + i];
            prior->grad[i] += sum;
        }
}

Tensor *op_caps_routing(Ctx *c, Tensor *uhat, Tensor *prior)
{
    CPU_ONLY_OP(c, "op_caps_routing");
    RouteGeom g = route_geom(uhat);
    long kj = (long)g.k * g.j, kd = (long)g.k * g.d, kjd = kj * g.d;
    CHECK(prior->numel == kj, "op_caps_routing: prior has %ld values, expected K*J = %ld", prior->numel, kj);
    Tensor *ins[2] = {uhat, prior};
    int needs = ctx_any_grad(c, 2, ins);
    int dims[3] = {g.b, g.k, g.d};
    Tensor *s = ctx_tensor(c, 3, dims, needs);
    RouteSaved *sv = arena_alloc(&c->arena, sizeof *sv);
    sv->coupling = ctx_scratch(c, g.b * kj);
    sv->sums = ctx_scratch(c, g.b * kd);
#pragma omp parallel for if (uhat->numel >= PAR_MIN)
    for (int b = 0; b < g.b; b++)
        route_sample(&g, uhat->data + b * kjd, prior->data, sv->sums + b * kd, sv->coupling + b * kj,
                     s->data + b * kd);
    if (needs) {
        sv->dcp = ctx_scratch(c, g.b * kj);
        sv->dz = ctx_scratch(c, g.b * kj);
        sv->gk = ctx_scratch(c, (long)g.b * g.d);
        TapeEntry *e = ctx_record(c, caps_routing_backward, s);
        e->in[0] = uhat;
        e->in[1] = prior;
        e->ptr[0] = sv;
    }
    return s;
}

/* ---- lengths ------------------------------------------------------------ */

static void caps_length_backward(TapeEntry *e)
{
    Tensor *v = e->in[0];
    if (!v->grad) return;
    int d = v->dims[v->ndim - 1];
    for (long r = 0; r < e->out->numel; r++) {
        float a = e->out->grad[r] / e->out->data[r];
        for (int z = 0; z < d; z++) v->grad[r * d + z] += a * v->data[r * d + z];
    }
}

Tensor *op_caps_length(Ctx *c, Tensor *v, float eps)
{
    CPU_ONLY_OP(c, "op_caps_length");
    CHECK(v->ndim >= 2, "op_caps_length: needs [.., D]");
    CHECK(eps > 0.0f, "op_caps_length: eps must be positive (it keeps v/len finite at 0)");
    int d = v->dims[v->ndim - 1];
    int g = ctx_any_grad(c, 1, &v);
    Tensor *len = ctx_tensor(c, v->ndim - 1, v->dims, g);
    for (long r = 0; r < len->numel; r++) {
        const float *x = v->data + r * d;
        len->data[r] = caps_length(dot(x, x, d), eps);
    }
    if (g) {
        TapeEntry *e = ctx_record(c, caps_length_backward, len);
        e->in[0] = v;
    }
    return len;
}

/* ---- margin loss -------------------------------------------------------- */

/* farg: m_pos, m_neg, lambda; ptr[0]: labels. */
static void margin_backward(TapeEntry *e)
{
    Tensor *len = e->in[0];
    if (!len->grad) return;
    const int *labels = e->ptr[0];
    int n = len->dims[0], k = len->dims[1];
    float scale = e->out->grad[0] / (float)n;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < k; j++)
            len->grad[(long)i * k + j] += scale * margin_dlen(len->data[(long)i * k + j], j == labels[i],
                                                              e->farg[0], e->farg[1], e->farg[2]);
}

Tensor *op_margin_loss(Ctx *c, Tensor *len, const int *labels, float m_pos, float m_neg, float lambda)
{
    CPU_ONLY_OP(c, "op_margin_loss");
    CHECK(len->ndim == 2, "op_margin_loss: lengths must be [B,K]");
    int n = len->dims[0], k = len->dims[1];
    double total = 0;
    for (int i = 0; i < n; i++) {
        CHECK(labels[i] >= 0 && labels[i] < k, "op_margin_loss: label %d of row %d outside [0, %d)",
              labels[i], i, k);
        for (int j = 0; j < k; j++)
            total += margin_term(len->data[(long)i * k + j], j == labels[i], m_pos, m_neg, lambda);
    }
    int g = ctx_any_grad(c, 1, &len);
    Tensor *loss = scalar_out(c, g);
    loss->data[0] = (float)(total / n);
    if (g) {
        TapeEntry *e = ctx_record(c, margin_backward, loss);
        e->in[0] = len;
        e->ptr[0] = copy_ints(c, labels, n);
        e->farg[0] = m_pos;
        e->farg[1] = m_neg;
        e->farg[2] = lambda;
    }
    return loss;
}

/* ---- decoder mask ------------------------------------------------------- */

static void caps_mask_backward(TapeEntry *e)
{
    Tensor *v = e->in[0];
    if (!v->grad) return;
    const int *select = e->ptr[0];
    int n = v->dims[0], k = v->dims[1], d = v->dims[2];
    for (int i = 0; i < n; i++) {
        long at = ((long)i * k + select[i]) * d;
        for (int z = 0; z < d; z++) v->grad[at + z] += e->out->grad[at + z];
    }
}

Tensor *op_caps_mask(Ctx *c, Tensor *v, const int *select)
{
    CPU_ONLY_OP(c, "op_caps_mask");
    CHECK(v->ndim == 3, "op_caps_mask: capsules must be [B,K,D]");
    int n = v->dims[0], k = v->dims[1], d = v->dims[2];
    int g = ctx_any_grad(c, 1, &v);
    int dims[2] = {n, k * d};
    Tensor *y = ctx_tensor(c, 2, dims, g);
    memset(y->data, 0, (size_t)y->numel * sizeof *y->data);
    for (int i = 0; i < n; i++) {
        CHECK(select[i] >= 0 && select[i] < k, "op_caps_mask: capsule %d of row %d outside [0, %d)",
              select[i], i, k);
        long at = ((long)i * k + select[i]) * d;
        memcpy(y->data + at, v->data + at, (size_t)d * sizeof *y->data);
    }
    if (g) {
        TapeEntry *e = ctx_record(c, caps_mask_backward, y);
        e->in[0] = v;
        e->ptr[0] = copy_ints(c, select, n);
    }
    return y;
}

/* ---- mean squared error ------------------------------------------------- */

static void mse_backward(TapeEntry *e)
{
    Tensor *p = e->in[0], *t = e->in[1];
    float scale = 2.0f * e->out->grad[0] / (float)p->numel;
    for (long i = 0; i < p->numel; i++) {
        float g = scale * (p->data[i] - t->data[i]);
        if (p->grad) p->grad[i] += g;
        if (t->grad) t->grad[i] -= g;
    }
}

Tensor *op_mse(Ctx *c, Tensor *pred, Tensor *target)
{
    CPU_ONLY_OP(c, "op_mse");
    CHECK(pred->numel == target->numel, "op_mse: %ld predictions for %ld targets", pred->numel,
          target->numel);
    double total = 0;
    for (long i = 0; i < pred->numel; i++) {
        double d = (double)pred->data[i] - target->data[i];
        total += d * d;
    }
    Tensor *ins[2] = {pred, target};
    int g = ctx_any_grad(c, 2, ins);
    Tensor *loss = scalar_out(c, g);
    loss->data[0] = (float)(total / (double)pred->numel);
    if (g) {
        TapeEntry *e = ctx_record(c, mse_backward, loss);
        e->in[0] = pred;
        e->in[1] = target;
    }
    return loss;
}
