/* SpinalNet on MNIST (docs/models.md section 5): the VGG-5 trunk of the
 * reference MNIST_VGG_and_SpinalVGG.py (conv 3x3 + BN + ReLU, blocks of
 * 2, 2, 3, 3 convs each ending in a 2x2 max-pool: 28 -> 14 -> 7 -> 3 -> 1,
 * 256 features) with one of its two heads:
 *   spinal (SpinalVGG, 3,629,770 params): with fa, fb the two halves of
 *     the 256 features, h1 = S1(fa), h2 = S2([fb, h1]), h3 = S3([fa, h2]),
 *     h4 = S4([fb, h3]), each S = Dropout -> Linear(., 128) -> BN1d -> ReLU
 *     with its own dropout mask; out = Linear(Dropout([h1, h2, h3, h4]));
 *   plain (VGG, 3,646,154 params, the report's count): Dropout ->
 *     Linear(256, 512) -> BN1d -> ReLU -> Dropout -> Linear(512, 10).
 * The reference returns log_softmax(logits) into CrossEntropyLoss; since
 * log_softmax is idempotent the loss and the arg-max are those of the raw
 * logits, which is what this forward returns.
 * State-dict names are the reference's nn.Sequential indices. */
#include <stdio.h>
#include "model.h"
#include "ops.h"

#define HALF_WIDTH 128
#define LAYER_WIDTH 128

enum { HEAD_SPINAL = 0, HEAD_PLAIN = 1 };

/* Conv weights ~ N(0, sqrt(2 / (3 * 3 * C_out))) as the reference sets
 * them; conv biases keep PyTorch's default, BN gamma 1 / beta 0. */
static void declare_conv_bn(Model *m, const char *block, int conv_index, int cin, int cout)
{
    char conv[32], bn[32];
    snprintf(conv, sizeof conv, "%s.%d", block, conv_index);
    snprintf(bn, sizeof bn, "%s.%d", block, conv_index + 1);
    declare_conv2d(m, conv, cin, cout, 3, 1);
    m->table.entries[m->table.count - 2].init = INIT_KAIMING_NORMAL_FAN_OUT;   /* the weight */
    declare_batchnorm(m, bn, cout);
}

/* two_conv_pool: convs at Sequential indices 0, 3; three_conv_pool: 0, 3, 6. */
static void declare_block(Model *m, const char *block, int convs, int cin, int cout)
{
    for (int k = 0; k < convs; k++) declare_conv_bn(m, block, 3 * k, k ? cout : cin, cout);
}

static void declare(Model *m)
{
    declare_block(m, "l1", 2, 1, 64);
    declare_block(m, "l2", 2, 64, 128);
    declare_block(m, "l3", 3, 128, 256);
    declare_block(m, "l4", 3, 256, 256);
    if ((int)model_opt(m, "head") == HEAD_PLAIN) {
        declare_linear(m, "classifier.1", 256, 512, 1, 1);
        declare_batchnorm(m, "classifier.2", 512);
        declare_linear(m, "classifier.5", 512, 10, 1, 1);
        return;
    }
    for (int k = 1; k <= 4; k++) {
        char name[32];
        snprintf(name, sizeof name, "fc_spinal_layer%d.1", k);
        declare_linear(m, name, k == 1 ? HALF_WIDTH : HALF_WIDTH + LAYER_WIDTH, LAYER_WIDTH, 1, 1);
        snprintf(name, sizeof name, "fc_spinal_layer%d.2", k);
        declare_batchnorm(m, name, LAYER_WIDTH);
    }
    declare_linear(m, "fc_out.1", 4 * LAYER_WIDTH, 10, 1, 1);
}

static Tensor *block(Model *m, Ctx *c, const char *name, int convs, Tensor *x)
{
    for (int k = 0; k < convs; k++) {
        char conv[32], bn[32];
        snprintf(conv, sizeof conv, "%s.%d", name, 3 * k);
        snprintf(bn, sizeof bn, "%s.%d", name, 3 * k + 1);
        x = apply_batchnorm_relu(m, c, bn, apply_conv2d(m, c, conv, x, 1, 1));
    }
    return op_maxpool2d(c, x, 2, 2);
}

/* Dropout -> Linear -> BN1d -> ReLU of spinal layer k. */
static Tensor *spinal_layer(Model *m, Ctx *c, int k, Tensor *in, float p)
{
    char linear[32], bn[32];
    snprintf(linear, sizeof linear, "fc_spinal_layer%d.1", k);
    snprintf(bn, sizeof bn, "fc_spinal_layer%d.2", k);
    return apply_batchnorm_relu(m, c, bn, apply_linear(m, c, linear, op_dropout(c, in, p)));
}

/* [half of the input, previous hidden]: fb, fa, fb for layers 2, 3, 4. */
static Tensor *spinal_head(Model *m, Ctx *c, Tensor *x, float p)
{
    Tensor *fa = op_slice(c, x, 1, 0, HALF_WIDTH), *fb = op_slice(c, x, 1, HALF_WIDTH, HALF_WIDTH);
    Tensor *h[4];
    h[0] = spinal_layer(m, c, 1, fa, p);
    for (int k = 1; k < 4; k++) {
        Tensor *in[2] = {k % 2 ? fb : fa, h[k - 1]};
        h[k] = spinal_layer(m, c, k + 1, op_concat(c, 2, in, 1), p);
    }
    return apply_linear(m, c, "fc_out.1", op_dropout(c, op_concat(c, 4, h, 1), p));
}

static Tensor *plain_head(Model *m, Ctx *c, Tensor *x, float p)
{
    x = apply_linear(m, c, "classifier.1", op_dropout(c, x, p));
    x = apply_batchnorm_relu(m, c, "classifier.2", x);
    return apply_linear(m, c, "classifier.5", op_dropout(c, x, p));
}

static Tensor *forward(Model *m, Ctx *c, Tensor *x)
{
    float p = (float)model_opt(m, "dropout");
    x = block(m, c, "l1", 2, x);
    x = block(m, c, "l2", 2, x);
    x = block(m, c, "l3", 3, x);
    x = block(m, c, "l4", 3, x);
    x = op_flatten(c, x);
    return (int)model_opt(m, "head") == HEAD_PLAIN ? plain_head(m, c, x, p) : spinal_head(m, c, x, p);
}

const ModelDesc model_spinalnet = {
    .name = "spinalnet",
    .summary = "VGG-5 trunk with the SpinalNet FC head (SpinalVGG) or the plain VGG head",
    .options = {
        {.name = "head", .type = OPTION_CHOICE, .default_value = HEAD_SPINAL,
         .choices = {"spinal", "plain", NULL},
         .help = "spinal = SpinalVGG (3,629,770 params); plain = VGG (3,646,154, the report's count)"},
        {.name = "dropout", .type = OPTION_FLOAT, .default_value = 0.5, .min = 0, .max = 0.99,
         .help = "dropout before every FC layer of the head (training only)"},
    },
    .n_options = 2,
    .recipe = {.optimizer = OPTIM_ADAM, .lr = 5e-3f, .batch_size = 100, .epochs = 20,
               .schedule = "constant", .norm_mean = 0.1307f, .norm_std = 0.3081f,
               .augment = "rotate:10,shift:2,scale:0.1"},
    .declare = declare,
    .forward = forward,
};
