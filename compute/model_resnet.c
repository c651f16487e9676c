/* ResNet (docs/models.md section 6): torchvision's resnet18/34/50/101/152 with a
 * 1-channel stem and 10 classes. Depth 18/34 use BasicBlock (two 3x3
 * convs), 50/101/152 Bottleneck (1x1, 3x3, 1x1 with the stride on the 3x3,
 * torchvision's "v1.5"). Default depth 101: 42,514,378 parameters.
 *
 * Stems: `imagenet` = 7x7/2 conv (pad 3) + 3x3/2 max-pool (pad 1), so a
 * 28x28 digit becomes 14 -> 7 -> 7 -> 4 -> 2 -> 1; `small` = 3x3/1 conv
 * (pad 1), no pool (28 -> 28 -> 14 -> 7 -> 4): 16x the compute.
 *
 * Names follow torchvision's state_dict (conv1, bn1, layer1.0.conv1,
 * layer1.0.downsample.0/1, fc). Initialisation as torchvision: convs
 * Kaiming-normal with fan_out and the ReLU gain, BN gamma 1 / beta 0, fc
 * PyTorch's default; zero_init_residual (off by default, as torchvision)
 * starts each block's last BN gamma at 0. */
#include <stdio.h>
#include "model.h"
#include "ops.h"
#include "util.h"

typedef struct ResnetLayout {
    int depth;
    int bottleneck;      /* 0: BasicBlock (expansion 1), 1: Bottleneck (expansion 4) */
    int blocks[4];
} ResnetLayout;

static const ResnetLayout LAYOUTS[] = {
    {18, 0, {2, 2, 2, 2}},  {34, 0, {3, 4, 6, 3}},   {50, 1, {3, 4, 6, 3}},
    {101, 1, {3, 4, 23, 3}}, {152, 1, {3, 8, 36, 3}},
};

static const ResnetLayout *layout_of(int depth)
{
    for (size_t i = 0; i < sizeof LAYOUTS / sizeof LAYOUTS[0]; i++)
        if (LAYOUTS[i].depth == depth) return &LAYOUTS[i];
    return NULL;
}

enum { STEM_IMAGENET = 0, STEM_SMALL = 1 };

static int expansion(const ResnetLayout *l) { return l->bottleneck ? 4 : 1; }

/* Bias-free conv with torchvision's Kaiming-normal (fan_out) weights. */
static void declare_conv(Model *m, const char *name, int cin, int cout, int k)
{
    int d[4] = {cout, cin, k, k};
    param_table_add(&m->table, name, ENTRY_PARAM, INIT_KAIMING_NORMAL_FAN_OUT, cin * k * k, cout * k * k, 4, d);
}

static void name_of(char *dst, const char *block, const char *leaf)
{
    int n = snprintf(dst, PARAM_NAME_MAX, "%s.%s", block, leaf);
    CHECK(n < PARAM_NAME_MAX, "name %s.%s too long", block, leaf);
}

/* zero_gamma: start this BN's weight at 0 (zero_init_residual). */
static void declare_bn(Model *m, const char *prefix, int channels, int zero_gamma)
{
    declare_batchnorm(m, prefix, channels);
    if (zero_gamma) {
        char name[PARAM_NAME_MAX];
        name_of(name, prefix, "weight");
        m->table.entries[param_table_find(&m->table, name)].init = INIT_ZEROS;
    }
}

/* "<block>.conv<k>.weight" and its batch norm "<block>.bn<k>". */
static void declare_conv_bn(Model *m, const char *block, int k, int cin, int cout, int ksize, int zero_gamma)
{
    char leaf[16], name[PARAM_NAME_MAX];
    snprintf(leaf, sizeof leaf, "conv%d.weight", k);
    name_of(name, block, leaf);
    declare_conv(m, name, cin, cout, ksize);
    snprintf(leaf, sizeof leaf, "bn%d", k);
    name_of(name, block, leaf);
    declare_bn(m, name, cout, zero_gamma);
}

/* One block "layerS.B": in -> planes (*expansion), first conv stride.
 * zero_init zeroes the block's last BN gamma (zero_init_residual). */
static void declare_block(Model *m, const ResnetLayout *l, const char *block, int in, int planes,
                          int stride, int zero_init)
{
    int out = planes * expansion(l);
    if (l->bottleneck) {
        declare_conv_bn(m, block, 1, in, planes, 1, 0);
        declare_conv_bn(m, block, 2, planes, planes, 3, 0);
        declare_conv_bn(m, block, 3, planes, out, 1, zero_init);
    } else {
        declare_conv_bn(m, block, 1, in, planes, 3, 0);
        declare_conv_bn(m, block, 2, planes, planes, 3, zero_init);
    }
    if (stride != 1 || in != out) {
        char name[PARAM_NAME_MAX];
        name_of(name, block, "downsample.0.weight");
        declare_conv(m, name, in, out, 1);
        name_of(name, block, "downsample.1");
        declare_bn(m, name, out, 0);
    }
}

static const ResnetLayout *model_layout(const Model *m)
{
    const ResnetLayout *l = layout_of((int)model_opt(m, "depth"));
    CHECK(l, "resnet: depth %d has no layout (validate() should have refused it)", (int)model_opt(m, "depth"));
    return l;
}

static void declare(Model *m)
{
    const ResnetLayout *l = model_layout(m);
    int zero_init = (int)model_opt(m, "zero_init_residual");
    int k = (int)model_opt(m, "stem") == STEM_IMAGENET ? 7 : 3;
    declare_conv(m, "conv1.weight", 1, 64, k);
    declare_bn(m, "bn1", 64, 0);
    int in = 64;
    for (int s = 0; s < 4; s++) {
        int planes = 64 << s;
        for (int b = 0; b < l->blocks[s]; b++) {
            char block[PARAM_NAME_MAX];
            snprintf(block, sizeof block, "layer%d.%d", s + 1, b);
            declare_block(m, l, block, in, planes, b == 0 && s > 0 ? 2 : 1, zero_init);
            in = planes * expansion(l);
        }
    }
    declare_linear(m, "fc", in, 10, 1, 1);
}

static int validate(const double *options, char *err, int err_size)
{
    int depth = (int)options[0];
    if (!layout_of(depth)) {
        snprintf(err, err_size, "depth: expected 18, 34, 50, 101 or 152, got %d", depth);
        return -1;
    }
    return 0;
}

/* conv, then batch norm (with relu: batch norm and ReLU, fused). */
static Tensor *conv_bn(Model *m, Ctx *c, const char *block, const char *conv, const char *bn,
                       Tensor *x, int stride, int pad, int relu)
{
    char name[PARAM_NAME_MAX];
    name_of(name, block, conv);
    x = apply_conv2d(m, c, name, x, stride, pad);
    name_of(name, block, bn);
    return (relu ? apply_batchnorm_relu : apply_batchnorm)(m, c, name, x);
}

static Tensor *block_forward(Model *m, Ctx *c, const ResnetLayout *l, const char *block, Tensor *x,
                             int stride)
{
    Tensor *y;
    if (l->bottleneck) {
        y = conv_bn(m, c, block, "conv1", "bn1", x, 1, 0, 1);
        y = conv_bn(m, c, block, "conv2", "bn2", y, stride, 1, 1);
        y = conv_bn(m, c, block, "conv3", "bn3", y, 1, 0, 0);
    } else {
        y = conv_bn(m, c, block, "conv1", "bn1", x, stride, 1, 1);
        y = conv_bn(m, c, block, "conv2", "bn2", y, 1, 1, 0);
    }
    char name[PARAM_NAME_MAX];
    name_of(name, block, "downsample.0.weight");
    Tensor *shortcut = param_table_find(&m->table, name) >= 0
                           ? conv_bn(m, c, block, "downsample.0", "downsample.1", x, stride, 0, 0)
                           : x;
    return op_add_relu(c, y, shortcut);
}

static Tensor *forward(Model *m, Ctx *c, Tensor *x)
{
    const ResnetLayout *l = model_layout(m);
    int imagenet = (int)model_opt(m, "stem") == STEM_IMAGENET;
    x = imagenet ? apply_conv2d(m, c, "conv1", x, 2, 3) : apply_conv2d(m, c, "conv1", x, 1, 1);
    x = apply_batchnorm_relu(m, c, "bn1", x);
    if (imagenet) x = op_maxpool2d_pad(c, x, 3, 2, 1);
    for (int s = 0; s < 4; s++)
        for (int b = 0; b < l->blocks[s]; b++) {
            char block[PARAM_NAME_MAX];
            snprintf(block, sizeof block, "layer%d.%d", s + 1, b);
            x = block_forward(m, c, l, block, x, b == 0 && s > 0 ? 2 : 1);
        }
    return apply_linear(m, c, "fc", op_global_avgpool(c, x));
}

const ModelDesc model_resnet = {
    .name = "resnet",
    .summary = "torchvision ResNet-18/34/50/101/152, 1-channel stem, 10 classes",
    .options = {
        {.name = "depth", .type = OPTION_INT, .default_value = 101, .min = 18, .max = 152,
         .help = "18 or 34 (basic blocks), 50, 101 or 152 (bottlenecks)"},
        {.name = "stem", .type = OPTION_CHOICE, .default_value = STEM_IMAGENET,
         .choices = {"imagenet", "small", NULL},
         .help = "imagenet = 7x7/2 conv + 3x3/2 max-pool; small = 3x3/1 conv, no pool"},
        {.name = "zero_init_residual", .type = OPTION_CHOICE, .default_value = 0,
         .choices = {"off", "on", NULL},
         .help = "start each block's last BN gamma at 0 (torchvision's zero_init_residual)"},
    },
    .n_options = 3,
    /* The standard SGD recipe (torchvision's reference trainer) at the
     * report's batch 64 / 25 epochs; the step every 10 epochs is our
     * choice (docs/models.md, "Implementation notes: resnet and
     * efficient_capsnet"). */
    .recipe = {.optimizer = OPTIM_SGD, .lr = 0.1f, .momentum = 0.9f, .weight_decay = 1e-4f,
               .batch_size = 64, .epochs = 25, .schedule = "step:10:0.1",
               .norm_mean = 0.1307f, .norm_std = 0.3081f},
    .validate = validate,
    .declare = declare,
    .forward = forward,
};
