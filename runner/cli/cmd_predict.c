/* `sweeprun predict --run FILE.h5 IMAGE...`: rebuild the run's model (as
 * `eval` does, run_load.h) and print, for every image, the predicted digit
 * and the ten class probabilities (softmax of the logits). Images are PGM
 * or PNG of any size (image_input.h), or the images of an IDX file.
 *
 * GECCO's batch attention makes an image's logits depend on the other
 * images of its batch: alone (a batch of one) it sees nothing like what
 * it was trained and evaluated with. So by default each image is scored
 * inside the run's first test batch, stored in the run file, in place of
 * that batch's first image; for a model without batch interaction this is
 * the same as scoring it alone. --batch scores the given images together
 * in batches of eval_batch_size, exactly as eval batches the test set. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "commands.h"
#include "config.h"
#include "image_input.h"
#include "run_load.h"
#include "runfile.h"
#include "util.h"

#define USAGE "usage: sweeprun predict --run FILE.h5 [--weights last|best] [--polarity P | --invert] [--frame F] [--batch] " \
              "[--threads N] [--idx IMAGES [--labels LABELS]] [IMAGE.pgm|IMAGE.png ...]"

typedef struct PredictArgs {
    const char *run, *idx, *labels;
    Polarity polarity;
    Framing framing;
    RunWeights weights;
    int batch, threads, n_images;
    char **images;
} PredictArgs;

/* One option with a value: 0 ok; -1 after reporting the bad value. */
static int take_option(const char *flag, const char *value, PredictArgs *a)
{
    char err[256];
    if (!strcmp(flag, "--threads")) {
        if (config_parse_int("threads", value, &a->threads, err, sizeof err) == 0) return 0;
        report_error("predict: %s", err);
    } else if (!strcmp(flag, "--polarity")) {
        if (polarity_parse(value, &a->polarity) == 0) return 0;
        report_error("predict: --polarity: expected auto, dark-on-light or light-on-dark, got '%s'", value);
    } else if (!strcmp(flag, "--frame")) {
        if (framing_parse(value, &a->framing) == 0) return 0;
        report_error("predict: --frame: expected digit or whole, got '%s'", value);
    } else if (!strcmp(flag, "--weights")) {
        if (run_weights_parse(value, &a->weights) == 0) return 0;
        report_error("predict: --weights: expected last or best, got '%s'", value);
    }
    return -1;
}

static int parse(int argc, char **argv, PredictArgs *a)
{
    memset(a, 0, sizeof *a);
    a->images = xcalloc((size_t)argc, sizeof *a->images);
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        int has_value = i + 1 < argc;
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
            puts(USAGE "\n\n"
                 "  --run FILE.h5     the trained model (its config and weights)\n"
                 "  --weights W       last (default): after the last epoch; best: the best epoch by\n"
                 "                    validation accuracy (/best/weights)\n"
                 "  --polarity P      auto (default): a border median of 128 or more is a light\n"
                 "                    background, so a dark digit, inverted to MNIST's light on dark;\n"
                 "                    dark-on-light or light-on-dark: say which\n"
                 "  --invert          the same as --polarity dark-on-light\n"
                 "  --frame F         digit (default): crop to the ink, longer side to 20 pixels,\n"
                 "                    centre of mass at the centre of 28x28, as MNIST was made;\n"
                 "                    whole: the whole image to 28x28 (already framed like MNIST)\n"
                 "  --batch           score the images together, in batches of the run's eval_batch_size\n"
                 "                    in the order given (as eval does); default: each image inside the\n"
                 "                    run's first test batch (stored in the run file)\n"
                 "  --idx IMAGES      also score every image of an IDX image file\n"
                 "  --labels LABELS   the IDX labels of --idx: adds a label column and the accuracy\n"
                 "  --threads N       CPU threads (default: all cores)\n\n"
                 "Images of any size are converted to 28x28 gray, white digit on black (as MNIST);\n"
                 "--idx images are taken as framed (only --polarity applies).\n"
                 "GECCO's batch attention mixes the images of a batch: by default each image is scored\n"
                 "in the batch the run was evaluated with; with --batch, test images given in test\n"
                 "order reproduce `sweeprun eval`. Output: one tab-separated line per image.");
            return 1;
        }
        if (!strcmp(f, "--invert")) a->polarity = POLARITY_DARK_ON_LIGHT;
        else if (!strcmp(f, "--batch")) a->batch = 1;
        else if (!strcmp(f, "--run") && has_value) a->run = argv[++i];
        else if (!strcmp(f, "--idx") && has_value) a->idx = argv[++i];
        else if (!strcmp(f, "--labels") && has_value) a->labels = argv[++i];
        else if ((!strcmp(f, "--threads") || !strcmp(f, "--polarity") || !strcmp(f, "--frame")
                  || !strcmp(f, "--weights")) && has_value) {
            if (take_option(f, argv[++i], a)) return -1;
        }
        else if (strncmp(f, "--", 2) != 0) a->images[a->n_images++] = argv[i];
        else {
            report_error("predict: unexpected argument '%s' (%s)", f, USAGE);
            return -1;
        }
    }
    if (!a->run) report_error("predict: --run FILE.h5 is required (%s)", USAGE);
    else if (!a->n_images && !a->idx) report_error("predict: no images given (%s)", USAGE);
    else if (a->labels && !a->idx) report_error("predict: --labels needs --idx");
    else return 0;
    return -1;
}

/* Every input image as 28x28 bytes with a name to print; labels (-1 none). */
typedef struct Inputs {
    int n;
    uint8_t *pixels;
    char **names;
    int *labels;
} Inputs;

static void inputs_free(Inputs *in)
{
    for (int i = 0; i < in->n; i++) free(in->names[i]);
    free(in->names);
    free(in->pixels);
    free(in->labels);
}

static char *copy_text(const char *text)
{
    size_t n = strlen(text) + 1;
    return memcpy(xmalloc(n), text, n);
}

static const char *polarity_name(Polarity p)
{
    return p == POLARITY_DARK_ON_LIGHT ? "dark on light" : "light on dark";
}

/* What preparing an image file found that the user should hear about: a
 * polarity asked for against the border's, a digit not found. */
static void warn_about(const char *path, const ImagePrep *prep)
{
    if (prep->used != prep->detected)
        report_error("predict: warning: %s: the border (median %d of 255) reads as %s; scored as %s, as "
                     "--polarity/--invert asked", path, prep->background, polarity_name(prep->detected),
                     polarity_name(prep->used));
    if (prep->blank)
        report_error("predict: warning: %s: no digit found (no ink against the background, median %d of "
                     "255); scored as an empty image", path, prep->background);
}

static void add_input(Inputs *in, const char *name, const GrayImage *im, Polarity polarity, Framing framing,
                      int label, ImagePrep *prep)
{
    int i = in->n++;
    in->pixels = xrealloc(in->pixels, (size_t)in->n * IMAGE_SIDE * IMAGE_SIDE);
    in->names = xrealloc(in->names, (size_t)in->n * sizeof *in->names);
    in->labels = xrealloc(in->labels, (size_t)in->n * sizeof *in->labels);
    image_to_mnist(im, polarity, framing, in->pixels + (size_t)i * IMAGE_SIDE * IMAGE_SIDE, prep);
    in->names[i] = copy_text(name);
    in->labels[i] = label;
}

static int read_idx(const PredictArgs *a, Inputs *in, char *err, int n)
{
    IdxImages images;
    IdxLabels labels = {0};
    if (idx_read_images(a->idx, &images, err, n)) return -1;
    if (a->labels && idx_read_labels(a->labels, DATASET_CLASSES, &labels, err, n)) {
        idx_images_free(&images);
        return -1;
    }
    if (a->labels && labels.count != images.count) {
        snprintf(err, n, "%s: %d labels, but %s holds %d images", a->labels, labels.count, a->idx,
                 images.count);
        idx_images_free(&images);
        idx_labels_free(&labels);
        return -1;
    }
    long size = (long)images.rows * images.cols;
    for (int i = 0; i < images.count; i++) {
        char name[4200];
        snprintf(name, sizeof name, "%s[%d]", a->idx, i);
        GrayImage im = {images.cols, images.rows, images.pixels + i * size};
        ImagePrep prep;   /* dataset images are framed already: FRAME_WHOLE keeps them */
        add_input(in, name, &im, a->polarity, FRAME_WHOLE, a->labels ? labels.labels[i] : -1, &prep);
    }
    idx_images_free(&images);
    idx_labels_free(&labels);
    return 0;
}

/* Read everything before scoring anything: a bad file stops the command
 * before any line is printed. */
static int read_inputs(const PredictArgs *a, Inputs *in, char *err, int n)
{
    memset(in, 0, sizeof *in);
    for (int i = 0; i < a->n_images; i++) {
        GrayImage im;
        if (image_read(a->images[i], &im, err, n)) return -1;
        ImagePrep prep;
        add_input(in, a->images[i], &im, a->polarity, a->framing, -1, &prep);
        gray_image_free(&im);
        warn_about(a->images[i], &prep);
    }
    return a->idx ? read_idx(a, in, err, n) : 0;
}

static void softmax(const float *logits, double *p)
{
    double most = logits[0], sum = 0;
    for (int k = 1; k < DATASET_CLASSES; k++) most = fmax(most, logits[k]);
    for (int k = 0; k < DATASET_CLASSES; k++) sum += p[k] = exp(logits[k] - most);
    for (int k = 0; k < DATASET_CLASSES; k++) p[k] /= sum;
}

/* The run's first test batch (RunTestResults.context_images) into *ctx;
 * NULL when the file has none of 28x28 (written before it was stored):
 * then the images are scored together (--batch), with a warning. 0, or -1
 * with err naming the file and dataset when its test results are bad. */
static int read_context(const char *run, uint8_t **ctx, long *n, char *err, int err_size)
{
    RunFile *rf = runfile_open(run, err, err_size);
    RunTestResults t;
    *ctx = NULL;
    if (!rf || runfile_read_test_results(rf, &t, err, err_size)) {
        runfile_close(rf);
        return -1;
    }
    if (t.n_context > 0 && t.image_rows == IMAGE_SIDE && t.image_cols == IMAGE_SIDE) {
        *ctx = t.context_images;
        t.context_images = NULL;
        *n = t.n_context;
    }
    run_test_results_free(&t);
    runfile_close(rf);
    return 0;
}

/* Each image in place of the first image of the context batch. */
static void logits_in_context(Trainer *t, const Inputs *in, uint8_t *ctx, long n_ctx, float *logits)
{
    long image = IMAGE_SIDE * IMAGE_SIDE;
    float *rows = xmalloc((size_t)n_ctx * DATASET_CLASSES * sizeof(float));
    for (int i = 0; i < in->n; i++) {
        memcpy(ctx, in->pixels + i * image, (size_t)image);
        trainer_logits(t, ctx, (int)n_ctx, rows);
        memcpy(logits + (long)i * DATASET_CLASSES, rows, DATASET_CLASSES * sizeof(float));
    }
    free(rows);
}

static void print_results(const PredictArgs *a, const TrainConfig *cfg, const Inputs *in,
                          const float *logits, long n_ctx)
{
    int with_labels = a->labels != NULL, correct = 0;
    const char *whose = a->weights == WEIGHTS_BEST ? " (best-validation epoch's weights)" : "";
    if (n_ctx > 0)
        printf("# %s from %s%s; each image scored in the run's first test batch (%ld images), in place "
               "of its first image\n", cfg->model->name, a->run, whose, n_ctx);
    else
        printf("# %s from %s%s; batches of %d in the order given\n", cfg->model->name, a->run, whose,
               cfg->eval_batch_size);
    printf("image\tpredicted%s", with_labels ? "\tlabel" : "");
    for (int k = 0; k < DATASET_CLASSES; k++) printf("\tp%d", k);
    putchar('\n');
    for (int i = 0; i < in->n; i++) {
        const float *z = logits + (long)i * DATASET_CLASSES;
        double p[DATASET_CLASSES];
        softmax(z, p);
        int best = 0;
        for (int k = 1; k < DATASET_CLASSES; k++)
            if (z[k] > z[best]) best = k;   /* the first maximum, as eval's argmax */
        printf("%s\t%d", in->names[i], best);
        if (with_labels) printf("\t%d", in->labels[i]);
        for (int k = 0; k < DATASET_CLASSES; k++) printf("\t%.4f", p[k]);
        putchar('\n');
        correct += best == in->labels[i];
    }
    if (with_labels)
        printf("# accuracy %d/%d = %.4f%%\n", correct, in->n, in->n ? 100.0 * correct / in->n : 0.0);
}

int cmd_predict(int argc, char **argv)
{
    PredictArgs a;
    int p = parse(argc, argv, &a);
    if (p) {
        free(a.images);
        return p > 0 ? EXIT_OK : EXIT_BAD_INPUT;
    }
    TrainConfig cfg;
    double recorded;
    char err[1024];
    Inputs in;
    if (run_load_config(a.run, &cfg, &recorded, err, sizeof err) || read_inputs(&a, &in, err, sizeof err)) {
        report_error("predict: %s", err);
        free(a.images);
        return EXIT_BAD_INPUT;
    }
    /* A handful of images: the CPU, whatever trained the run (a GPU-trained
     * run's probabilities may differ in the last bits from its eval). */
    snprintf(cfg.device, sizeof cfg.device, "cpu");
    unsigned char *no_labels = xcalloc((size_t)in.n + 1, 1);
    Dataset data = {.rows = IMAGE_SIDE, .cols = IMAGE_SIDE, .n_train = 0, .n_test = in.n,
                    .test_x = in.pixels, .test_y = no_labels};
    set_compute_threads(a.threads);
    Trainer t;
    int rc = EXIT_OK;
    long n_ctx = 0;
    uint8_t *ctx = NULL;
    if (run_load_trainer(a.run, a.weights, &t, &cfg, &data, err, sizeof err)) {
        report_error("predict: %s", err);
        rc = EXIT_BAD_INPUT;
    } else if (!a.batch && read_context(a.run, &ctx, &n_ctx, err, sizeof err)) {
        report_error("predict: %s", err);
        trainer_free(&t);
        rc = EXIT_BAD_INPUT;
    } else {
        float *logits = xmalloc((size_t)in.n * DATASET_CLASSES * sizeof(float) + 1);
        if (!a.batch && !ctx)
            report_error("predict: warning: %s stores no test batch to score single images in (written "
                         "by an older sweeprun); scoring the images together (--batch)", a.run);
        if (ctx) logits_in_context(&t, &in, ctx, n_ctx, logits);
        else trainer_logits(&t, in.pixels, in.n, logits);
        print_results(&a, &cfg, &in, logits, ctx ? n_ctx : 0);
        free(ctx);
        free(logits);
        trainer_free(&t);
    }
    free(no_labels);
    inputs_free(&in);
    free(a.images);
    return rc;
}
