/* Data augmentation (augment.h): exact geometry on hand-made images, the
 * erase patch, the ranges and determinism of the draws, spec parsing, and
 * its place in the training loop (training only, reproducible). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "augment.h"
#include "dataset.h"
#include "train.h"

#define W 28
#define H 28
#define IMG (W * H)

static void random_image(float *img, int n, uint64_t *rng)
{
    fill_uniform(img, n, rng, 0.0, 1.0);
}

static AugmentParams identity_params(void)
{
    AugmentParams p = {.angle = 0.0f, .scale = 1.0f};
    return p;
}

/* ---- geometry ---------------------------------------------------------- */

/* Every part at strength 0, through the full random path (draws, map,
 * bilinear sampling): the images come out bit for bit unchanged. */
static void test_zero_strength_is_identity(void **state)
{
    (void)state;
    uint64_t rng = 1;
    enum { N = 16 };
    float *src = malloc(sizeof(float) * N * IMG), *dst = malloc(sizeof(float) * N * IMG);
    random_image(src, N * IMG, &rng);
    AugmentSpec zero;
    char err[256];
    assert_int_equal(augment_parse("rotate:0,shift:0,scale:0,erase:0", &zero, err, sizeof err), 0);
    assert_false(augment_active(&zero));
    augment_batch(&zero, 99, 12345, src, dst, N, H, W);
    assert_memory_equal(src, dst, sizeof(float) * N * IMG);
    free(src);
    free(dst);
}

/* A pure integer shift moves every pixel exactly: dst[y][x] =
 * src[y - dy][x - dx], and what comes in from outside is 0. */
static void test_integer_shift_is_exact(void **state)
{
    (void)state;
    uint64_t rng = 2;
    float src[IMG], dst[IMG];
    random_image(src, IMG, &rng);
    const int shifts[][2] = {{2, -1}, {-3, 4}, {0, 5}, {27, 0}, {-28, 0}};
    for (size_t k = 0; k < sizeof shifts / sizeof shifts[0]; k++) {
        AugmentParams p = identity_params();
        p.dx = shifts[k][0];
        p.dy = shifts[k][1];
        augment_apply(&p, src, dst, H, W);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int sy = y - p.dy, sx = x - p.dx;
                float want = sy >= 0 && sy < H && sx >= 0 && sx < W ? src[sy * W + sx] : 0.0f;
                if (dst[y * W + x] != want)
                    fail_msg("shift (%d, %d): pixel (%d, %d) is %g, want %g", p.dx, p.dy, y, x,
                             (double)dst[y * W + x], (double)want);
            }
    }
}

/* 90 degrees counter-clockwise on screen about the centre of a square
 * image: the top-right corner goes to the top-left, i.e.
 * dst[y][x] = src[x][w - 1 - y]. cos(pi/2) is -4.4e-8 in fp32, so sample
 * points sit within 1e-6 pixel of the centres: values within 1e-5. */
static void test_rotation_by_90_degrees(void **state)
{
    (void)state;
    float src[IMG], dst[IMG];
    for (int i = 0; i < IMG; i++) src[i] = (float)i / IMG;
    AugmentParams p = identity_params();
    p.angle = 90.0f;
    augment_apply(&p, src, dst, H, W);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            float want = src[x * W + (W - 1 - y)];
            if (fabsf(dst[y * W + x] - want) > 1e-5f)
                fail_msg("rotate 90: pixel (%d, %d) is %g, want %g", y, x, (double)dst[y * W + x], (double)want);
        }
    /* And -90 undoes it (clockwise): dst[y][x] = src[w - 1 - x][y]. */
    p.angle = -90.0f;
    augment_apply(&p, src, dst, H, W);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            assert_true(fabsf(dst[y * W + x] - src[(W - 1 - x) * W + y]) <= 1e-5f);
}

/* Scale 2 about the centre of a 5x5 image (centre pixel (2, 2)): output
 * (2 + 2j, 2 + 2i) samples input (2 + j, 2 + i) exactly; output (1, 1)
 * samples (1.5, 1.5), the mean of four pixels; output (2, 3) samples
 * (2, 2.5), the mean of two. Hand-computed values. */
static void test_scale_by_two(void **state)
{
    (void)state;
    float src[25], dst[25];
    for (int i = 0; i < 25; i++) src[i] = (float)(i * i % 17);
    AugmentParams p = identity_params();
    p.scale = 2.0f;
    augment_apply(&p, src, dst, 5, 5);
    assert_float_equal(dst[0 * 5 + 0], src[1 * 5 + 1], 0);
    assert_float_equal(dst[4 * 5 + 4], src[3 * 5 + 3], 0);
    assert_float_equal(dst[2 * 5 + 2], src[2 * 5 + 2], 0);
    assert_float_equal(dst[1 * 5 + 1], (src[6] + src[7] + src[11] + src[12]) / 4, 1e-6);
    assert_float_equal(dst[2 * 5 + 3], (src[12] + src[13]) / 2, 1e-6);
    /* Scale 1/2 shrinks: output (0, 0) samples (-2, -2), outside: 0;
     * output (1, 1) samples input (0, 0). */
    p.scale = 0.5f;
    augment_apply(&p, src, dst, 5, 5);
    assert_float_equal(dst[0], 0, 0);
    assert_float_equal(dst[6], src[0], 0);
}

/* The erase sets exactly an erase x erase square to 0 and leaves every
 * other pixel alone; over many images its corner covers all of
 * [0, 28 - erase] in both axes. */
static void test_erase_patch(void **state)
{
    (void)state;
    enum { N = 600, SIDE = 4 };
    float *src = malloc(sizeof(float) * N * IMG), *dst = malloc(sizeof(float) * N * IMG);
    for (long i = 0; i < (long)N * IMG; i++) src[i] = 1.0f;
    AugmentSpec s = {.erase = SIDE};
    augment_batch(&s, 5, 0, src, dst, N, H, W);
    int min_top = H, max_top = -1, min_left = W, max_left = -1;
    for (int i = 0; i < N; i++) {
        const float *d = dst + (long)i * IMG;
        int zeros = 0, top = H, bottom = -1, left = W, right = -1;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                float v = d[y * W + x];
                assert_true(v == 0.0f || v == 1.0f);
                if (v == 0.0f) {
                    zeros++;
                    top = y < top ? y : top;
                    bottom = y > bottom ? y : bottom;
                    left = x < left ? x : left;
                    right = x > right ? x : right;
                }
            }
        assert_int_equal(zeros, SIDE * SIDE);
        assert_int_equal(bottom - top + 1, SIDE);
        assert_int_equal(right - left + 1, SIDE);
        min_top = top < min_top ? top : min_top;
        max_top = top > max_top ? top : max_top;
        min_left = left < min_left ? left : min_left;
        max_left = left > max_left ? left : max_left;
    }
    assert_int_equal(min_top, 0);
    assert_int_equal(max_top, H - SIDE);
    assert_int_equal(min_left, 0);
    assert_int_equal(max_left, W - SIDE);
    free(src);
    free(dst);
}

/* ---- the draws ----------------------------------------------------------- */

static void test_draw_ranges(void **state)
{
    (void)state;
    AugmentSpec s = {.rotate = 10, .shift = 2, .scale = 0.1f, .erase = 4};
    int shift_seen[5] = {0};
    double angle_min = 1e9, angle_max = -1e9;
    for (uint64_t i = 0; i < 5000; i++) {
        AugmentParams p = augment_draw(&s, 17, i, H, W);
        assert_true(p.angle >= -10.0f && p.angle <= 10.0f);
        assert_true(p.scale >= 0.9f && p.scale <= 1.1f);
        assert_true(p.dx >= -2 && p.dx <= 2 && p.dy >= -2 && p.dy <= 2);
        assert_int_equal(p.erase_size, 4);
        shift_seen[p.dx + 2]++;
        angle_min = fmin(angle_min, p.angle);
        angle_max = fmax(angle_max, p.angle);
    }
    for (int k = 0; k < 5; k++) assert_true(shift_seen[k] > 800);   /* ~1000 each */
    assert_true(angle_min < -9.9 && angle_max > 9.9);
    /* An erase larger than the image is clamped to it. */
    AugmentSpec big = {.erase = 28};
    AugmentParams p = augment_draw(&big, 1, 0, 20, 24);
    assert_int_equal(p.erase_size, 20);
    assert_int_equal(p.erase_top, 0);
    assert_true(p.erase_left >= 0 && p.erase_left <= 4);
}

/* Same seed and counters: the same bits, for any thread count and any
 * split of the batch (image i of a batch from counter f is image 0 of a
 * batch from f + i). Another seed: other images. */
static void test_determinism(void **state)
{
    (void)state;
    enum { N = 32 };
    uint64_t rng = 3;
    float *src = malloc(sizeof(float) * N * IMG), *a = malloc(sizeof(float) * N * IMG),
          *b = malloc(sizeof(float) * N * IMG);
    random_image(src, N * IMG, &rng);
    AugmentSpec s = {.rotate = 15, .shift = 3, .scale = 0.2f, .erase = 5};
    omp_set_num_threads(1);
    augment_batch(&s, 42, 1000, src, a, N, H, W);
    omp_set_num_threads(2);
    augment_batch(&s, 42, 1000, src, b, N, H, W);
    assert_memory_equal(a, b, sizeof(float) * N * IMG);
    augment_batch(&s, 42, 1000 + 7, src + 7 * IMG, b, N - 7, H, W);
    assert_memory_equal(a + 7 * IMG, b, sizeof(float) * (N - 7) * IMG);
    augment_batch(&s, 43, 1000, src, b, N, H, W);
    assert_memory_not_equal(a, b, sizeof(float) * N * IMG);
    free(src);
    free(a);
    free(b);
}

/* ---- the spec ---------------------------------------------------------- */

static void test_parse_and_format(void **state)
{
    (void)state;
    char err[256], text[128];
    AugmentSpec s;
    assert_int_equal(augment_parse("rotate:10,shift:2,scale:0.1,erase:4", &s, err, sizeof err), 0);
    assert_float_equal(s.rotate, 10, 0);
    assert_int_equal(s.shift, 2);
    assert_float_equal(s.scale, 0.1f, 0);
    assert_int_equal(s.erase, 4);
    augment_format(&s, text, sizeof text);
    assert_string_equal(text, "rotate:10,shift:2,scale:0.1,erase:4");
    assert_int_equal(augment_parse("erase:4,rotate:7.5", &s, err, sizeof err), 0);
    augment_format(&s, text, sizeof text);
    assert_string_equal(text, "rotate:7.5,erase:4");
    AugmentSpec back;
    assert_int_equal(augment_parse(text, &back, err, sizeof err), 0);
    assert_memory_equal(&s, &back, sizeof s);
    assert_int_equal(augment_parse("none", &s, err, sizeof err), 0);
    assert_false(augment_active(&s));
    augment_format(&s, text, sizeof text);
    assert_string_equal(text, "none");
}

static void expect_bad(const char *spec, const char *want)
{
    char err[256] = "";
    AugmentSpec s;
    if (augment_parse(spec, &s, err, sizeof err) == 0) fail_msg("'%s' was accepted", spec);
    if (!strstr(err, want)) fail_msg("'%s': message '%s' lacks '%s'", spec, err, want);
}

static void test_parse_errors(void **state)
{
    (void)state;
    expect_bad("", "expected 'none' or parts like rotate:10");
    expect_bad("twist:3", "got unknown part 'twist'");
    expect_bad("rotate", "expected parts of the form NAME:VALUE");
    expect_bad("rotate:", "got 'rotate:' in 'rotate:'");
    expect_bad("rotate:10,,shift:2", "got '' in 'rotate:10,,shift:2'");
    expect_bad("rotate:ten", "expected rotate:DEGREES with DEGREES in [0, 180], got 'rotate:ten'");
    expect_bad("rotate:-5", "got 'rotate:-5'");
    expect_bad("shift:2.5", "expected shift:PIXELS with a whole number of pixels in [0, 28], got 'shift:2.5'");
    expect_bad("erase:29", "got 'erase:29'");
    expect_bad("scale:1", "expected scale:FRACTION with 0 <= FRACTION < 1, got 'scale:1'");
    expect_bad("shift:1,shift:2", "expected each part at most once, got 'shift' twice");
}

static void find_augment(const char *key, const char *value, void *user)
{
    if (!strcmp(key, "augment")) snprintf(user, 64, "%s", value);
}

/* The config key: the recipe's default, set and recorded as canonical
 * text (what a run file stores and reads back), a bad value refused with
 * the key named, and the model's recipe restored when the model changes. */
static void test_config_key(void **state)
{
    (void)state;
    TrainConfig cfg;
    char err[256], seen[64] = "";
    config_defaults(&cfg, model_find("gecco"));
    assert_false(augment_active(&cfg.augment));
    assert_int_equal(config_set(&cfg, "augment", "erase:4,shift:1", err, sizeof err), 0);
    config_each(&cfg, find_augment, seen);
    assert_string_equal(seen, "shift:1,erase:4");
    assert_int_equal(config_set(&cfg, "augment", "shift:-1", err, sizeof err), -1);
    assert_non_null(strstr(err, "augment: expected shift:PIXELS"));
    assert_int_equal(cfg.augment.shift, 1);   /* a refused value changes nothing */
    assert_int_equal(config_set(&cfg, "model", "gecco", err, sizeof err), 0);
    assert_false(augment_active(&cfg.augment));
}

/* ---- in the training loop ------------------------------------------------ */

static void train_one_epoch(const char *augment, Dataset *d, Model *out_model, Evaluation *ev)
{
    TrainConfig cfg;
    char err[256];
    config_defaults(&cfg, model_find("gecco"));
    assert_int_equal(config_set(&cfg, "epochs", "1", err, sizeof err), 0);
    assert_int_equal(config_set(&cfg, "batch_size", "32", err, sizeof err), 0);
    assert_int_equal(config_set(&cfg, "augment", augment, err, sizeof err), 0);
    cfg.seed = 4;
    Trainer t;
    trainer_init(&t, &cfg, d);
    assert_int_equal(trainer_run(&t, 0, NULL, NULL), RUN_COMPLETE);
    model_create(out_model, t.model.desc, t.model.option, 0);
    memcpy(out_model->params, t.model.params, sizeof(float) * (size_t)t.model.table.n_params);
    memcpy(out_model->buffers, t.model.buffers, sizeof(float) * (size_t)t.model.table.n_buffers);
    trainer_evaluate(&t, SPLIT_TEST, ev);
    trainer_free(&t);
}

/* Augmentation changes what a model learns, reproducibly; evaluation is never augmented (same
 * weights + another augment setting = the same test predictions). */
static void test_training_loop(void **state)
{
    (void)state;
    Dataset d;
    char err[512];
    if (dataset_load("mnist", 128, 64, &d, err, sizeof err)) {
        print_message("MNIST not available (%s)\n", err);
        skip();
    }
    set_compute_threads(2);
    Model plain, aug1, aug2;
    Evaluation e0, e1, e2;
    train_one_epoch("none", &d, &plain, &e0);
    train_one_epoch("rotate:10,shift:2,erase:4", &d, &aug1, &e1);
    train_one_epoch("rotate:10,shift:2,erase:4", &d, &aug2, &e2);
    size_t bytes = sizeof(float) * (size_t)plain.table.n_params;
    assert_memory_not_equal(plain.params, aug1.params, bytes);
    assert_memory_equal(aug1.params, aug2.params, bytes);
    assert_memory_equal(e1.predictions, e2.predictions, sizeof(int) * (size_t)e1.count);

    /* Evaluate aug1's weights under a trainer without augmentation and one
     * with a strong one: identical predictions. */
    int *preds[2];
    const char *specs[2] = {"none", "rotate:90,shift:10,erase:20"};
    for (int k = 0; k < 2; k++) {
        TrainConfig cfg;
        config_defaults(&cfg, model_find("gecco"));
        assert_int_equal(config_set(&cfg, "augment", specs[k], err, sizeof err), 0);
        Trainer t;
        trainer_init(&t, &cfg, &d);
        memcpy(t.model.params, aug1.params, bytes);
        memcpy(t.model.buffers, aug1.buffers, sizeof(float) * (size_t)aug1.table.n_buffers);
        Evaluation ev;
        trainer_evaluate(&t, SPLIT_TEST, &ev);
        preds[k] = ev.predictions;
        trainer_free(&t);
    }
    assert_memory_equal(preds[0], preds[1], sizeof(int) * 64);
    free(preds[0]);
    free(preds[1]);
    evaluation_free(&e0);
    evaluation_free(&e1);
    evaluation_free(&e2);
    model_free(&plain);
    model_free(&aug1);
    model_free(&aug2);
    dataset_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zero_strength_is_identity),
        cmocka_unit_test(test_integer_shift_is_exact),
        cmocka_unit_test(test_rotation_by_90_degrees),
        cmocka_unit_test(test_scale_by_two),
        cmocka_unit_test(test_erase_patch),
        cmocka_unit_test(test_draw_ranges),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_parse_and_format),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_config_key),
        cmocka_unit_test(test_training_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
