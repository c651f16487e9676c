#include "validation.h"
#include "rng.h"
#include "util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char VALIDATION_RULE[] =
    "class-stratified: class k gets floor(N/10) images (+1 for the first N mod 10 classes; a short class's "
    "shortfall goes to the next ones); within a class the smallest keys rng_u32(val_seed, 5, index) "
    "(ties by index); indices into the training file after train_subset";

enum { AUTO_CAP = 5000, AUTO_DIVISOR = 12 };

int validation_count(const TrainConfig *cfg, int n_train, char *err, int err_size)
{
    if (cfg->val_split == VAL_SPLIT_AUTO) {
        int n = n_train / AUTO_DIVISOR;
        return n < AUTO_CAP ? n : AUTO_CAP;
    }
    if (cfg->val_split > (long)n_train - 2) {
        snprintf(err, err_size, "val_split: %ld images held out of %d training images leaves fewer than 2 to "
                 "train on (expected at most %d, or auto)", cfg->val_split, n_train, n_train > 2 ? n_train - 2 : 0);
        return -1;
    }
    return (int)cfg->val_split;
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* How many images each class gives: N/10 each, the remainder to the first
 * classes, and what a class lacks moved on to the next classes. */
static void class_quotas(const int *have, int n_val, int *quota)
{
    int left = n_val;
    for (int k = 0; k < DATASET_CLASSES; k++) quota[k] = 0;
    /* Hand out one image at a time per round, class by class: the same
     * result as N/10 (+1) each when every class has enough, and a short
     * class simply stops taking. */
    while (left > 0) {
        int gave = 0;
        for (int k = 0; k < DATASET_CLASSES && left > 0; k++)
            if (quota[k] < have[k]) {
                quota[k]++;
                left--;
                gave = 1;
            }
        if (!gave) break;
    }
}

/* Mark in held[] the images of class k with the quota[k] smallest keys. */
static void draw_class(const unsigned char *labels, int n, int k, int quota, uint64_t seed, uint64_t *keys,
                       unsigned char *held)
{
    int m = 0;
    for (int i = 0; i < n; i++)
        if (labels[i] == k) keys[m++] = (uint64_t)rng_u32(seed, RNG_STREAM_VALIDATION, (uint64_t)i) << 32 | (uint32_t)i;
    qsort(keys, (size_t)m, sizeof *keys, compare_u64);
    for (int j = 0; j < quota; j++) held[(uint32_t)keys[j]] = 1;
}

static void *copy_bytes(const void *src, size_t n)
{
    void *dst = xmalloc(n ? n : 1);
    if (n) memcpy(dst, src, n);
    return dst;
}

/* held[i] = 1 for the n_val training images the split takes. Allocates. */
static unsigned char *draw_held(const Dataset *src, int n_val, uint64_t val_seed)
{
    int n = src->n_train;
    int have[DATASET_CLASSES] = {0}, quota[DATASET_CLASSES];
    for (int i = 0; i < n; i++) have[src->train_y[i]]++;
    class_quotas(have, n_val, quota);
    unsigned char *held = xcalloc((size_t)(n ? n : 1), 1);
    uint64_t *keys = xmalloc((size_t)(n ? n : 1) * sizeof *keys);
    for (int k = 0; k < DATASET_CLASSES; k++) draw_class(src->train_y, n, k, quota[k], val_seed, keys, held);
    free(keys);
    return held;
}

void dataset_hold_out(const Dataset *src, int n_val, uint64_t val_seed, Dataset *out)
{
    int n = src->n_train;
    size_t image = (size_t)src->rows * src->cols;
    CHECK(n_val >= 0 && n_val <= n && src->n_val == 0, "dataset_hold_out: %d of %d images (split once)", n_val, n);
    *out = *src;
    out->test_x = copy_bytes(src->test_x, (size_t)src->n_test * image);
    out->test_y = copy_bytes(src->test_y, (size_t)src->n_test);
    if (n_val == 0) {   /* no split: a plain copy, val_* stay NULL */
        out->train_x = copy_bytes(src->train_x, (size_t)n * image);
        out->train_y = copy_bytes(src->train_y, (size_t)n);
        return;
    }
    unsigned char *held = draw_held(src, n_val, val_seed);
    out->n_val = n_val;
    out->n_train = n - n_val;
    out->train_x = xmalloc((size_t)(out->n_train ? out->n_train : 1) * image);
    out->train_y = xmalloc((size_t)(out->n_train ? out->n_train : 1));
    out->val_x = xmalloc((size_t)n_val * image);
    out->val_y = xmalloc((size_t)n_val);
    out->val_index = xmalloc((size_t)n_val * sizeof(int32_t));
    int t = 0, v = 0;
    for (int i = 0; i < n; i++) {
        unsigned char *x = held[i] ? out->val_x + (size_t)v * image : out->train_x + (size_t)t * image;
        memcpy(x, src->train_x + (size_t)i * image, image);
        if (held[i]) {
            out->val_y[v] = src->train_y[i];
            out->val_index[v++] = i;
        } else {
            out->train_y[t++] = src->train_y[i];
        }
    }
    free(held);
}
