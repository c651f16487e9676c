/* GECCO (docs/models.md section 3), the current model.py of the reference repo:
 *   784 -> F linear (Xavier) -> dropout (training) -> ReLU
 *   -> ResGatedGraphConv(F, F) over the batch graph -> ReLU -> BatchNorm1d(F)
 *   -> MaxPool1d(2) over features -> batch attention (+ residual) -> F/2 -> 10.
 * The reference Att module registers a LayerNorm(F) its forward never calls;
 * it is declared (so parameter counts and state_dict names match PyTorch)
 * and flagged unused (so the optimizer skips it, as PyTorch does). */
#include <stdio.h>
#include "model_gecco.h"
#include "util.h"

void gecco_declare_layers(Model *m, int f)
{
    int fd[1] = {f};
    /* conv1 = Att(784, F): Xavier-uniform weight, zero bias. */
    int wd[2] = {f, 784};
    param_table_add(&m->table, "conv1.linear.weight", ENTRY_PARAM, INIT_XAVIER_UNIFORM, 784, f, 2, wd);
    param_table_add(&m->table, "conv1.linear.bias", ENTRY_PARAM, INIT_ZEROS, 784, f, 1, fd);
    int nw = param_table_add(&m->table, "conv1.norm.weight", ENTRY_PARAM, INIT_ONES, f, f, 1, fd);
    int nb = param_table_add(&m->table, "conv1.norm.bias", ENTRY_PARAM, INIT_ZEROS, f, f, 1, fd);
    m->table.entries[nw].unused = 1;
    m->table.entries[nb].unused = 1;
    /* conv2 = PyG ResGatedGraphConv(F, F): its own bias first (zero), then
     * key/query/value linears with bias and a bias-free skip linear. */
    param_table_add(&m->table, "conv2.bias", ENTRY_PARAM, INIT_ZEROS, f, f, 1, fd);
    declare_linear(m, "conv2.lin_key", f, f, 1, 0);
    declare_linear(m, "conv2.lin_query", f, f, 1, 0);
    declare_linear(m, "conv2.lin_value", f, f, 1, 0);
    declare_linear(m, "conv2.lin_skip", f, f, 0, 0);
    declare_linear(m, "fc1", f / 2, 10, 1, 1);
    declare_batchnorm(m, "bn", f);
}

static void declare(Model *m) { gecco_declare_layers(m, (int)model_opt(m, "feature_length")); }

/* The MaxPool1d(2) after the graph conv needs an even feature length. */
int gecco_validate(const double *options, char *err, int err_size)
{
    int f = (int)options[0];
    if (f % 2) {
        snprintf(err, err_size, "feature_length: expected an even number, got %d", f);
        return -1;
    }
    return 0;
}

Tensor *gecco_graph_conv(Model *m, Ctx *c, Tensor *x)
{
    GraphMode mode = (GraphMode)(int)model_opt(m, "graph");
    GatedGraphWeights w = {
        .key_w = model_param(m, c, "conv2.lin_key.weight"),
        .key_b = model_param(m, c, "conv2.lin_key.bias"),
        .query_w = model_param(m, c, "conv2.lin_query.weight"),
        .query_b = model_param(m, c, "conv2.lin_query.bias"),
        .value_w = model_param(m, c, "conv2.lin_value.weight"),
        .value_b = model_param(m, c, "conv2.lin_value.bias"),
        .skip_w = model_param(m, c, "conv2.lin_skip.weight"),
        .bias = model_param(m, c, "conv2.bias"),
    };
    return op_relu(c, op_gated_graph_conv(c, x, &w, mode));
}

static Tensor *forward(Model *m, Ctx *c, Tensor *x)
{
    x = op_flatten(c, x);
    x = apply_linear(m, c, "conv1.linear", x);
    x = op_dropout(c, x, (float)model_opt(m, "dropout"));
    x = op_relu(c, x);
    x = gecco_graph_conv(m, c, x);
    x = apply_batchnorm(m, c, "bn", x);
    x = op_maxpool1d(c, x, 2, 2);
    x = op_batch_attention(c, x);
    return apply_linear(m, c, "fc1", x);
}

const ModelDesc model_gecco = {
    .name = "gecco",
    .summary = "GECCO: linear embedding, gated graph conv over the batch, batch attention",
    .options = {
        {.name = "feature_length", .type = OPTION_INT, .default_value = 64, .min = 2, .max = 4096,
         .help = "embedding width F (even); the MaxPool1d halves it"},
        {.name = "dropout", .type = OPTION_FLOAT, .default_value = 0.15, .min = 0, .max = 0.99,
         .help = "dropout on the embedding (training only)"},
        {.name = "graph", .type = OPTION_CHOICE, .default_value = 0,
         .choices = {"selfloop", "complete", NULL},
         .help = "selfloop = the reference code's B repeated self-loops; complete = true complete graph over the batch"},
    },
    .n_options = 3,
    .recipe = {.optimizer = OPTIM_ADAM, .lr = 1e-3f, .batch_size = 64, .epochs = 50,
               .schedule = "constant", .norm_mean = 0.5f, .norm_std = 0.5f},
    .validate = gecco_validate,
    .declare = declare,
    .forward = forward,
};
