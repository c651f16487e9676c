#include "model.h"
#include "backend.h"
#include "ops.h"
#include "util.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const ModelDesc model_baseline_cnn;
extern const ModelDesc model_gecco;
extern const ModelDesc model_gecco_enhanced;
extern const ModelDesc model_spinalnet;
extern const ModelDesc model_resnet;
extern const ModelDesc model_efficient_capsnet;

static const ModelDesc *const registry[] = {
    &model_baseline_cnn,
    &model_gecco,
    &model_gecco_enhanced,
    &model_spinalnet,
    &model_resnet,
    &model_efficient_capsnet,
};

int model_count(void) { return (int)(sizeof registry / sizeof registry[0]); }
const ModelDesc *model_at(int i) { return registry[i]; }

const ModelDesc *model_find(const char *name)
{
    for (int i = 0; i < model_count(); i++)
        if (strcmp(registry[i]->name, name) == 0) return registry[i];
    return NULL;
}

int model_option_index(const ModelDesc *d, const char *name)
{
    for (int i = 0; i < d->n_options; i++)
        if (strcmp(d->options[i].name, name) == 0) return i;
    return -1;
}

static int parse_choice(const ModelOption *o, const char *text, double *value,
                        char *err, int err_size)
{
    char list[128] = "";
    for (int k = 0; o->choices[k]; k++) {
        if (strcmp(o->choices[k], text) == 0) {
            *value = k;
            return 0;
        }
        strncat(list, k ? "|" : "", sizeof list - strlen(list) - 1);
        strncat(list, o->choices[k], sizeof list - strlen(list) - 1);
    }
    snprintf(err, err_size, "%s: expected one of %s, got '%s'", o->name, list, text);
    return -1;
}

int model_option_parse(const ModelDesc *d, int i, const char *text, double *value,
                       char *err, int err_size)
{
    const ModelOption *o = &d->options[i];
    if (o->type == OPTION_CHOICE) return parse_choice(o, text, value, err, err_size);
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || !isfinite(v)) {
        snprintf(err, err_size, "%s: expected a %s, got '%s'", o->name,
                 o->type == OPTION_INT ? "whole number" : "number", text);
        return -1;
    }
    if (o->type == OPTION_INT && v != floor(v)) {
        snprintf(err, err_size, "%s: expected a whole number, got '%s'", o->name, text);
        return -1;
    }
    if (v < o->min || v > o->max) {
        snprintf(err, err_size, "%s: expected a value in [%g, %g], got %s", o->name, o->min, o->max, text);
        return -1;
    }
    *value = v;
    return 0;
}

int model_option_in_text(const ModelDesc *d, int i, double value)
{
    const ModelOption *o = &d->options[i];
    return !o->quiet_default || value != o->default_value;
}

void model_option_format(const ModelDesc *d, int i, double value, char *buf, int size)
{
    const ModelOption *o = &d->options[i];
    if (o->type == OPTION_CHOICE) snprintf(buf, size, "%s", o->choices[(int)value]);
    else if (o->type == OPTION_INT) snprintf(buf, size, "%d", (int)value);
    else snprintf(buf, size, "%g", value);
}

static void set_options(Model *m, const ModelDesc *d, const double *options)
{
    for (int i = 0; i < d->n_options; i++)
        m->option[i] = options ? options[i] : d->options[i].default_value;
}

void model_create(Model *m, const ModelDesc *d, const double *options, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    m->desc = d;
    set_options(m, d, options);
    param_table_init(&m->table);
    d->declare(m);
    m->params = xcalloc((size_t)m->table.n_params, sizeof(float));
    m->grads = xcalloc((size_t)m->table.n_params, sizeof(float));
    m->buffers = xcalloc((size_t)(m->table.n_buffers ? m->table.n_buffers : 1), sizeof(float));
    param_table_initialise(&m->table, m->params, m->buffers, seed);
}

#ifdef SWEEPRUN_HAVE_CUDA
void model_to_cuda(Model *m, struct CudaBackend *cu)
{
    CHECK(!m->cuda, "model_to_cuda called twice");
    m->cuda = cu;
    m->dev_params = cuda_malloc((size_t)m->table.n_params * sizeof(float));
    m->dev_grads = cuda_malloc((size_t)m->table.n_params * sizeof(float));
    m->dev_buffers = cuda_malloc((size_t)(m->table.n_buffers ? m->table.n_buffers : 1) * sizeof(float));
    cuda_memset_async(cu, m->dev_grads, (size_t)m->table.n_params * sizeof(float));
    model_to_device(m);
}

void model_to_host(Model *m)
{
    if (!m->cuda) return;
    cuda_copy_to_host(m->cuda, m->params, m->dev_params, (size_t)m->table.n_params * sizeof(float));
    cuda_copy_to_host(m->cuda, m->buffers, m->dev_buffers, (size_t)m->table.n_buffers * sizeof(float));
}

void model_to_device(Model *m)
{
    if (!m->cuda) return;
    cuda_copy_to_device(m->cuda, m->dev_params, m->params, (size_t)m->table.n_params * sizeof(float));
    cuda_copy_to_device(m->cuda, m->dev_buffers, m->buffers, (size_t)m->table.n_buffers * sizeof(float));
}

static void free_device_copies(Model *m)
{
    if (!m->cuda) return;
    cuda_free(m->dev_params);
    cuda_free(m->dev_grads);
    cuda_free(m->dev_buffers);
}
#else
void model_to_cuda(Model *m, struct CudaBackend *cu) { (void)m, (void)cu; fatal("model_to_cuda: built without CUDA"); }
void model_to_host(Model *m) { (void)m; }
void model_to_device(Model *m) { (void)m; }
static void free_device_copies(Model *m) { (void)m; }
#endif

void model_free(Model *m)
{
    free_device_copies(m);
    param_table_free(&m->table);
    free(m->params);
    free(m->grads);
    free(m->buffers);
    memset(m, 0, sizeof *m);
}

double model_opt(const Model *m, const char *name)
{
    int i = model_option_index(m->desc, name);
    CHECK(i >= 0, "model %s has no option %s", m->desc->name, name);
    return m->option[i];
}

long model_param_count(const Model *m) { return m->table.n_params - m->table.n_aux_params; }
long model_aux_param_count(const Model *m) { return m->table.n_aux_params; }

/* Declare only (no buffers, no initialisation); aux = which count. */
static long count_for(const ModelDesc *d, const double *options, int aux)
{
    Model m;
    memset(&m, 0, sizeof m);
    m.desc = d;
    set_options(&m, d, options);
    param_table_init(&m.table);
    d->declare(&m);
    long n = aux ? model_aux_param_count(&m) : model_param_count(&m);
    param_table_free(&m.table);
    return n;
}

long model_param_count_for(const ModelDesc *d, const double *options) { return count_for(d, options, 0); }
long model_aux_param_count_for(const ModelDesc *d, const double *options) { return count_for(d, options, 1); }

Tensor *model_loss(Model *m, Ctx *c, Tensor *scores, const int *labels)
{
    if (m->desc->loss) return m->desc->loss(m, c, scores, labels);
    return op_cross_entropy(c, scores, labels);
}

static const ParamEntry *entry(const Model *m, const char *name)
{
    int i = param_table_find(&m->table, name);
    CHECK(i >= 0, "model %s has no entry %s", m->desc->name, name);
    return &m->table.entries[i];
}

void model_set_grad_target(Model *m, float *grads) { m->grad_target = grads; }

Tensor *model_param(Model *m, Ctx *c, const char *name)
{
    const ParamEntry *e = entry(m, name);
    CHECK(e->kind == ENTRY_PARAM, "%s is not a parameter", name);
    if (ON_CUDA(c)) {
        CHECK(m->dev_params, "model %s: forward on CUDA before model_to_cuda", m->desc->name);
        float *grads = m->grad_target ? m->grad_target : m->dev_grads;
        return ctx_wrap(c, m->dev_params + e->offset, grads + e->offset, e->ndim, e->dims);
    }
    float *grads = m->grad_target ? m->grad_target : m->grads;
    return ctx_wrap(c, m->params + e->offset, grads + e->offset, e->ndim, e->dims);
}

float *model_buffer(Model *m, const char *name)
{
    const ParamEntry *e = entry(m, name);
    CHECK(e->kind != ENTRY_PARAM, "%s is not a buffer", name);
    return m->buffers + e->offset;
}

float *model_buffer_on(Model *m, const Ctx *c, const char *name)
{
    if (!ON_CUDA(c)) return model_buffer(m, name);
    CHECK(m->dev_buffers, "model %s: forward on CUDA before model_to_cuda", m->desc->name);
    return m->dev_buffers + (model_buffer(m, name) - m->buffers);
}

void model_count_bn_batch(Model *m, const char *bn_prefix)
{
    char name[PARAM_NAME_MAX];
    snprintf(name, sizeof name, "%s.num_batches_tracked", bn_prefix);
    model_buffer(m, name)[0] += 1.0f;
}

void model_count_bn_batch_on(Model *m, const Ctx *c, const char *bn_prefix)
{
    if (!ON_CUDA(c)) {
        model_count_bn_batch(m, bn_prefix);
        return;
    }
    char name[PARAM_NAME_MAX];
    snprintf(name, sizeof name, "%s.num_batches_tracked", bn_prefix);
    CUDA_ONLY(cuda_add_scalar(c->cuda, model_buffer_on(m, c, name), 1.0f));
}

/* ---- layer helpers --------------------------------------------------------- */

static void join(char *dst, const char *prefix, const char *leaf)
{
    int n = snprintf(dst, PARAM_NAME_MAX, "%s.%s", prefix, leaf);
    CHECK(n < PARAM_NAME_MAX, "parameter name %s.%s too long", prefix, leaf);
}

void declare_linear(Model *m, const char *prefix, int in, int out, int bias, int is_fc)
{
    char name[PARAM_NAME_MAX];
    int wd[2] = {out, in}, bd[1] = {out};
    join(name, prefix, "weight");
    int w = param_table_add(&m->table, name, ENTRY_PARAM, INIT_UNIFORM_FAN_IN, in, out, 2, wd);
    m->table.entries[w].is_fc = is_fc;
    if (bias) {
        join(name, prefix, "bias");
        int b = param_table_add(&m->table, name, ENTRY_PARAM, INIT_UNIFORM_FAN_IN, in, out, 1, bd);
        m->table.entries[b].is_fc = is_fc;
    }
}

void declare_conv2d(Model *m, const char *prefix, int cin, int cout, int k, int bias)
{
    char name[PARAM_NAME_MAX];
    int wd[4] = {cout, cin, k, k}, bd[1] = {cout};
    join(name, prefix, "weight");
    param_table_add(&m->table, name, ENTRY_PARAM, INIT_UNIFORM_FAN_IN, cin * k * k, cout * k * k, 4, wd);
    if (bias) {
        join(name, prefix, "bias");
        param_table_add(&m->table, name, ENTRY_PARAM, INIT_UNIFORM_FAN_IN, cin * k * k, cout * k * k, 1, bd);
    }
}

void declare_batchnorm(Model *m, const char *prefix, int channels)
{
    char name[PARAM_NAME_MAX];
    int d[1] = {channels}, scalar[1] = {1};
    join(name, prefix, "weight");
    param_table_add(&m->table, name, ENTRY_PARAM, INIT_ONES, channels, channels, 1, d);
    join(name, prefix, "bias");
    param_table_add(&m->table, name, ENTRY_PARAM, INIT_ZEROS, channels, channels, 1, d);
    join(name, prefix, "running_mean");
    param_table_add(&m->table, name, ENTRY_BUFFER, INIT_ZEROS, 0, 0, 1, d);
    join(name, prefix, "running_var");
    param_table_add(&m->table, name, ENTRY_BUFFER, INIT_ONES, 0, 0, 1, d);
    join(name, prefix, "num_batches_tracked");
    param_table_add(&m->table, name, ENTRY_COUNTER, INIT_ZEROS, 0, 0, 1, scalar);
}

Tensor *apply_linear(Model *m, Ctx *c, const char *prefix, Tensor *x)
{
    char name[PARAM_NAME_MAX];
    join(name, prefix, "weight");
    Tensor *w = model_param(m, c, name);
    join(name, prefix, "bias");
    Tensor *b = param_table_find(&m->table, name) >= 0 ? model_param(m, c, name) : NULL;
    return op_linear(c, x, w, b);
}

static Tensor *conv2d_layer(Model *m, Ctx *c, const char *prefix, Tensor *x, int stride, int pad, int relu)
{
    char name[PARAM_NAME_MAX];
    join(name, prefix, "weight");
    Tensor *w = model_param(m, c, name);
    join(name, prefix, "bias");
    Tensor *b = param_table_find(&m->table, name) >= 0 ? model_param(m, c, name) : NULL;
    return (relu ? op_conv2d_relu : op_conv2d)(c, x, w, b, stride, pad);
}

Tensor *apply_conv2d(Model *m, Ctx *c, const char *prefix, Tensor *x, int stride, int pad)
{
    return conv2d_layer(m, c, prefix, x, stride, pad, 0);
}

Tensor *apply_conv2d_relu(Model *m, Ctx *c, const char *prefix, Tensor *x, int stride, int pad)
{
    return conv2d_layer(m, c, prefix, x, stride, pad, 1);
}

/* PyTorch defaults: momentum 0.1, eps 1e-5; relu: op_batchnorm_relu. */
static Tensor *batchnorm_layer(Model *m, Ctx *c, const char *prefix, Tensor *x, int relu)
{
    char name[PARAM_NAME_MAX];
    join(name, prefix, "weight");
    Tensor *gamma = model_param(m, c, name);
    join(name, prefix, "bias");
    Tensor *beta = model_param(m, c, name);
    join(name, prefix, "running_mean");
    float *mean = model_buffer_on(m, c, name);
    join(name, prefix, "running_var");
    float *var = model_buffer_on(m, c, name);
    if (c->training) model_count_bn_batch_on(m, c, prefix);
    return (relu ? op_batchnorm_relu : op_batchnorm)(c, x, gamma, beta, mean, var, 0.1f, 1e-5f);
}

Tensor *apply_batchnorm(Model *m, Ctx *c, const char *prefix, Tensor *x)
{
    return batchnorm_layer(m, c, prefix, x, 0);
}

Tensor *apply_batchnorm_relu(Model *m, Ctx *c, const char *prefix, Tensor *x)
{
    return batchnorm_layer(m, c, prefix, x, 1);
}
