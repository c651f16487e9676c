/* Optimizers over the flat parameter buffer, exactly as PyTorch's:
 *  SGD:   g += wd*p; buf = momentum*buf + g (buf = g on the first step);
 *         nesterov: g += momentum*buf, else g = buf; p -= lr*g.
 *  Adam:  g += wd*p (coupled L2); m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 *         p -= lr * (m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps).
 *  AdamW: p *= 1 - lr*wd, then the Adam update without the L2 term.
 * Weight decay applies per parameter group: l2_scope ALL = every parameter
 * (biases and BN affine included, as PyTorch), FC = only entries flagged
 * is_fc. Entries flagged unused are skipped entirely (PyTorch skips
 * parameters whose .grad is None). */
#ifndef SWEEPRUN_OPTIM_H
#define SWEEPRUN_OPTIM_H
#include "params.h"

typedef enum { OPTIM_SGD, OPTIM_ADAM, OPTIM_ADAMW } OptimKind;
typedef enum { L2_SCOPE_ALL, L2_SCOPE_FC } L2Scope;

typedef struct OptimConfig {
    OptimKind kind;
    float weight_decay;
    L2Scope l2_scope;
    float momentum;        /* SGD */
    int nesterov;          /* SGD */
    float beta1, beta2;    /* Adam/AdamW */
    float eps;             /* Adam/AdamW */
} OptimConfig;

/* Defaults: momentum 0, betas (0.9, 0.999), eps 1e-8, no decay. */
OptimConfig optim_config_default(OptimKind kind);

struct CudaBackend;
struct OptimCuda;

typedef struct Optimizer {
    OptimConfig cfg;
    const ParamTable *table;
    long n;               /* parameter count */
    float *state1;        /* SGD momentum buffer or Adam m (flat, like params) */
    float *state2;        /* Adam v */
    long step;            /* optimizer steps taken */
    struct OptimCuda *cuda;   /* device state after optim_to_cuda, else NULL */
} Optimizer;

void optim_init(Optimizer *o, const OptimConfig *cfg, const ParamTable *table);
void optim_free(Optimizer *o);
/* One update of params from grads with learning rate lr. */
void optim_step(Optimizer *o, float *params, const float *grads, float lr);

/* ---- CUDA (CUDA builds only) ----------------------------------------------
 * The state (and the step count t) moves to device memory; the host copies
 * state1/state2/step are refreshed by optim_state_to_host (for checkpoints)
 * and pushed back by optim_state_to_device (after loading one). The learning
 * rate lives in device memory too: optim_set_lr_cuda writes it (outside a
 * captured step), optim_step_cuda enqueues a kernel that computes the
 * step's scalars from t and lr, then the element-wise updates, so a
 * captured step replays with the current t and lr. */
void optim_to_cuda(Optimizer *o, struct CudaBackend *cuda);
void optim_set_lr_cuda(Optimizer *o, float lr);
void optim_step_cuda(Optimizer *o, float *dev_params, const float *dev_grads);
void optim_state_to_host(Optimizer *o);
void optim_state_to_device(Optimizer *o);

const char *optim_kind_name(OptimKind k);
int optim_kind_parse(const char *s, OptimKind *out);   /* 0 on success */

#endif
