/* Model registry. A model is a parameter table plus ONE forward function
 * written with ops (the tape gives the backward). Each registered model
 * declares its options (with defaults and ranges) and its default recipe
 * (docs/models.md), so the CLI, `sweeprun models` and sweep files all read the
 * same description. */
#ifndef SWEEPRUN_MODEL_H
#define SWEEPRUN_MODEL_H
#include "ctx.h"
#include "optim.h"
#include "params.h"

#define MODEL_MAX_OPTIONS 8

typedef enum { OPTION_INT, OPTION_FLOAT, OPTION_CHOICE } OptionType;

typedef struct ModelOption {
    const char *name;
    OptionType type;
    double default_value;   /* for CHOICE: index into choices */
    double min, max;        /* inclusive range for INT/FLOAT */
    const char *choices[4]; /* CHOICE values, NULL-terminated */
    const char *help;
    /* 1: left out of the configuration text (and so of the trial id) while
     * it holds its default. For options added after run files and sweep
     * folders existed: their trials keep their ids, and a text without the
     * line replays the default. Older options print always (0). */
    int quiet_default;
} ModelOption;

/* The recipe a model trains with unless told otherwise. */
typedef struct Recipe {
    OptimKind optimizer;
    float lr;
    float weight_decay;
    L2Scope l2_scope;
    float momentum;
    int batch_size;
    int epochs;
    const char *schedule;   /* schedule spec, see schedule.h */
    float norm_mean, norm_std;
    const char *augment;    /* training augmentation spec (augment.h); NULL = none */
    float adam_eps;         /* Adam/AdamW epsilon; 0 = PyTorch's 1e-8 */
} Recipe;

typedef struct Model Model;

typedef struct ModelDesc {
    const char *name;
    const char *summary;
    ModelOption options[MODEL_MAX_OPTIONS];
    int n_options;
    Recipe recipe;
    /* Cross-option checks beyond each option's range (NULL = none).
     * 0 ok, -1 with a message in err. */
    int (*validate)(const double *options, char *err, int err_size);
    /* Register every parameter and buffer (names as PyTorch's state_dict). */
    void (*declare)(Model *m);
    /* Class scores [B,10] from images x [B,1,28,28] (already normalised):
     * logits, or whatever the model ranks classes by (accuracy is the
     * arg-max of each row either way). */
    Tensor *(*forward)(Model *m, Ctx *c, Tensor *x);
    /* The training objective (NULL = cross-entropy of the scores): a [1]
     * tensor from the scores, the labels and whatever the forward left in
     * m->side for this step. Called right after forward, in the same ctx,
     * for training and evaluation alike (c->training tells them apart). */
    Tensor *(*loss)(Model *m, Ctx *c, Tensor *scores, const int *labels);
} ModelDesc;

#define MODEL_MAX_SIDE 4
struct CudaBackend;

struct Model {
    const ModelDesc *desc;
    double option[MODEL_MAX_OPTIONS];   /* values of desc->options */
    ParamTable table;
    float *params;    /* n_params */
    float *grads;     /* n_params */
    float *buffers;   /* n_buffers */
    /* Tensors of the current step the forward keeps for its loss (e.g. the
     * capsules and the input image for a reconstruction loss); arena
     * memory, valid until the next ctx_begin. */
    Tensor *side[MODEL_MAX_SIDE];
    /* A CUDA run's working copies in device memory (model_to_cuda; NULL
     * otherwise). Forward on a CUDA ctx reads and trains these; the host
     * arrays above are refreshed by model_to_host (run files, checkpoints)
     * and pushed back by model_to_device (after loading weights). */
    float *dev_params, *dev_grads, *dev_buffers;
    struct CudaBackend *cuda;
    /* Where forward attaches the parameters' gradients (set through
     * model_set_grad_target); NULL: grads, or dev_grads on a CUDA ctx. */
    float *grad_target;
};

const ModelDesc *model_find(const char *name);
int model_count(void);
const ModelDesc *model_at(int i);

/* Index of an option by name, -1 if the model has none by that name. */
int model_option_index(const ModelDesc *d, const char *name);
/* Parse and range-check a value for option i. 0 ok, -1 with message. */
int model_option_parse(const ModelDesc *d, int i, const char *text, double *value,
                       char *err, int err_size);
/* Does option i belong in the configuration text at this value? (All but
 * a quiet_default option at its default.) */
int model_option_in_text(const ModelDesc *d, int i, double value);
/* Human-readable value of option i ("64", "0.15", "selfloop"). */
void model_option_format(const ModelDesc *d, int i, double value, char *buf, int size);

/* Build with the given option values (NULL = defaults); allocates buffers
 * and initialises parameters from seed. */
void model_create(Model *m, const ModelDesc *d, const double *options, uint64_t seed);
void model_free(Model *m);
double model_opt(const Model *m, const char *name);
/* Trainable scalars of the classifier (as PyTorch's sum(p.numel() for p in
 * parameters()) of the reference model). Training-only heads (entries
 * flagged aux: Efficient-CapsNet's reconstruction decoder) are trained
 * with the rest but not counted here; model_aux_param_count gives them.
 * The flat buffers hold both: m->table.n_params = count + aux count. */
long model_param_count(const Model *m);
long model_aux_param_count(const Model *m);
/* The same two counts for given options, without keeping a model. */
long model_param_count_for(const ModelDesc *d, const double *options);
long model_aux_param_count_for(const ModelDesc *d, const double *options);
/* The model's training objective: desc->loss, or cross-entropy. */
Tensor *model_loss(Model *m, Ctx *c, Tensor *scores, const int *labels);

/* Device copies of params, grads and buffers (CUDA builds only). */
void model_to_cuda(Model *m, struct CudaBackend *cuda);
void model_to_host(Model *m);      /* params and buffers: device -> host */
void model_to_device(Model *m);    /* params and buffers: host -> device */

/* Backpropagate the forwards that follow into grads (n_params floats, on
 * the device those forwards run on) instead of the model's own gradient
 * buffer; NULL goes back to the model's own. (The trainer gives each later
 * micro-batch of a step a buffer of its own this way.) */
void model_set_grad_target(Model *m, float *grads);
/* Tensor views of an entry for the current step (grad attached for params:
 * the gradient target's slice), on the ctx's device. */
Tensor *model_param(Model *m, Ctx *c, const char *name);
/* A buffer's host copy, and the copy a ctx computes with. */
float *model_buffer(Model *m, const char *name);
float *model_buffer_on(Model *m, const Ctx *c, const char *name);
/* Count one batch-norm training step in <prefix>.num_batches_tracked
 * (host copy), or on the ctx's device. */
void model_count_bn_batch(Model *m, const char *bn_prefix);
void model_count_bn_batch_on(Model *m, const Ctx *c, const char *bn_prefix);

/* Helpers for declare(): PyTorch-default layers. */
void declare_linear(Model *m, const char *prefix, int in, int out, int bias, int is_fc);
void declare_conv2d(Model *m, const char *prefix, int cin, int cout, int k, int bias);
void declare_batchnorm(Model *m, const char *prefix, int channels);
/* Forward helpers that look the parameters up by prefix. */
Tensor *apply_linear(Model *m, Ctx *c, const char *prefix, Tensor *x);
Tensor *apply_conv2d(Model *m, Ctx *c, const char *prefix, Tensor *x, int stride, int pad);
/* relu(apply_conv2d(...)) as one op (op_conv2d_relu). */
Tensor *apply_conv2d_relu(Model *m, Ctx *c, const char *prefix, Tensor *x, int stride, int pad);
Tensor *apply_batchnorm(Model *m, Ctx *c, const char *prefix, Tensor *x);
/* relu(apply_batchnorm(...)), fused (op_batchnorm_relu). */
Tensor *apply_batchnorm_relu(Model *m, Ctx *c, const char *prefix, Tensor *x);

#endif
