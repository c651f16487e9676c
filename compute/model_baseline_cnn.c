/* Baseline CNN (docs/models.md section 2): four 3x3 convs with batch norm, two
 * OVERLAPPING 3x3/2 max-pools (28 -> 13 -> 6), then 2304-1152-576-10 with
 * dropout. 3,390,634 trainable parameters. */
#include "model.h"
#include "ops.h"

/* Names follow the reference Net's state_dict: two nn.Sequential conv
 * blocks (conv, BN, ReLU, conv, BN, ReLU, pool -> indices 0, 1, 3, 4) and an
 * nn.Sequential head "fcs" (Linear, ReLU, Dropout x2, Linear -> 0, 3, 6). */
static void declare(Model *m)
{
    declare_conv2d(m, "conv_block1.0", 1, 32, 3, 1);
    declare_batchnorm(m, "conv_block1.1", 32);
    declare_conv2d(m, "conv_block1.3", 32, 32, 3, 1);
    declare_batchnorm(m, "conv_block1.4", 32);
    declare_conv2d(m, "conv_block2.0", 32, 64, 3, 1);
    declare_batchnorm(m, "conv_block2.1", 64);
    declare_conv2d(m, "conv_block2.3", 64, 64, 3, 1);
    declare_batchnorm(m, "conv_block2.4", 64);
    declare_linear(m, "fcs.0", 64 * 6 * 6, 1152, 1, 1);
    declare_linear(m, "fcs.3", 1152, 576, 1, 1);
    declare_linear(m, "fcs.6", 576, 10, 1, 1);
}

static Tensor *conv_bn_relu(Model *m, Ctx *c, const char *conv, const char *bn, Tensor *x)
{
    return apply_batchnorm_relu(m, c, bn, apply_conv2d(m, c, conv, x, 1, 1));
}

static Tensor *forward(Model *m, Ctx *c, Tensor *x)
{
    float p = (float)model_opt(m, "dropout");
    x = conv_bn_relu(m, c, "conv_block1.0", "conv_block1.1", x);
    x = conv_bn_relu(m, c, "conv_block1.3", "conv_block1.4", x);
    x = op_maxpool2d(c, x, 3, 2);
    x = conv_bn_relu(m, c, "conv_block2.0", "conv_block2.1", x);
    x = conv_bn_relu(m, c, "conv_block2.3", "conv_block2.4", x);
    x = op_maxpool2d(c, x, 3, 2);
    x = op_flatten(c, x);
    x = op_dropout(c, op_relu(c, apply_linear(m, c, "fcs.0", x)), p);
    x = op_dropout(c, op_relu(c, apply_linear(m, c, "fcs.3", x)), p);
    return apply_linear(m, c, "fcs.6", x);
}

const ModelDesc model_baseline_cnn = {
    .name = "baseline_cnn",
    .summary = "notebook CNN: 4 conv+BN, overlapping 3x3/2 pools, FC 2304-1152-576-10",
    .options = {
        {.name = "dropout", .type = OPTION_FLOAT, .default_value = 0.5, .min = 0, .max = 0.99,
         .help = "dropout after each hidden FC layer"},
    },
    .n_options = 1,
    .recipe = {.optimizer = OPTIM_ADAM, .lr = 1e-3f, .batch_size = 64, .epochs = 7,
               .schedule = "step:7:0.1", .norm_mean = 0.5f, .norm_std = 0.5f},
    .declare = declare,
    .forward = forward,
};
