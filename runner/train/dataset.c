#include "dataset.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int is_dir(const char *p)
{
    struct stat st;
    return p && *p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Map a dataset name to the first candidate folder that exists. */
static int resolve_dir(const char *name, char *dir, char *err, int n)
{
    const char *mnist[] = {getenv("MNIST_DIR"), "data/mnist", "../shared/data/mnist", NULL};
    const char *fashion[] = {getenv("FASHION_MNIST_DIR"), "data/fashion-mnist",
                             "/usr/share/datasets/fashion-mnist", NULL};
    const char **cands = !strcmp(name, "mnist") ? mnist : !strcmp(name, "fashion-mnist") ? fashion : NULL;
    if (!cands) {
        if (is_dir(name)) {
            snprintf(dir, DATASET_PATH_MAX, "%s", name);
            return 0;
        }
        snprintf(err, n, "dataset: '%s' is neither mnist, fashion-mnist nor an existing folder", name);
        return -1;
    }
    for (int i = 0; i < 3; i++) {
        if (is_dir(cands[i])) {
            snprintf(dir, DATASET_PATH_MAX, "%s", cands[i]);
            return 0;
        }
    }
    if (cands == mnist)
        snprintf(err, n, "dataset mnist: not found in $MNIST_DIR, data/mnist or ../shared/data/mnist; "
                         "run scripts/fetch-mnist.sh or pass --dataset DIR");
    else
        snprintf(err, n, "dataset fashion-mnist: not found in $FASHION_MNIST_DIR, data/fashion-mnist or "
                         "/usr/share/datasets/fashion-mnist; install Debian's dataset-fashion-mnist or pass --dataset DIR");
    return -1;
}

static int read_split(const char *img_path, const char *lbl_path, long subset, int *count,
                      int *rows, int *cols, unsigned char **x, unsigned char **y, char *err, int n)
{
    IdxImages im = {0};
    IdxLabels lb = {0};
    if (idx_read_images(img_path, &im, err, n)) return -1;
    if (idx_read_labels(lbl_path, DATASET_CLASSES, &lb, err, n)) {
        idx_images_free(&im);
        return -1;
    }
    if (im.count != lb.count) {
        snprintf(err, n, "%s: %d labels for %d images in %s", lbl_path, lb.count, im.count, img_path);
        idx_images_free(&im);
        idx_labels_free(&lb);
        return -1;
    }
    *count = subset > 0 && subset < im.count ? (int)subset : im.count;
    *rows = im.rows;
    *cols = im.cols;
    *x = im.pixels;
    *y = lb.labels;
    return 0;
}

int dataset_load(const char *name, long train_subset, long test_subset, Dataset *d,
                 char *err, int n)
{
    memset(d, 0, sizeof *d);
    char paths[DATASET_FILE_COUNT][DATASET_PATH_MAX];
    if (resolve_dir(name, d->dir, err, n)) return -1;
    if (dataset_files(d->dir, paths, err, n)) return -1;
    int r2, c2;
    if (read_split(paths[DATASET_TRAIN_IMAGES], paths[DATASET_TRAIN_LABELS], train_subset,
                   &d->n_train, &d->rows, &d->cols, &d->train_x, &d->train_y, err, n))
        return -1;
    if (read_split(paths[DATASET_TEST_IMAGES], paths[DATASET_TEST_LABELS], test_subset,
                   &d->n_test, &r2, &c2, &d->test_x, &d->test_y, err, n)) {
        dataset_free(d);
        return -1;
    }
    if (r2 != d->rows || c2 != d->cols || d->rows != 28 || d->cols != 28) {
        snprintf(err, n, "%s: expected 28x28 images in both splits, found %dx%d (train) and %dx%d (test)",
                 d->dir, d->rows, d->cols, r2, c2);
        dataset_free(d);
        return -1;
    }
    return 0;
}

void dataset_free(Dataset *d)
{
    free(d->train_x);
    free(d->train_y);
    free(d->test_x);
    free(d->test_y);
    free(d->val_x);
    free(d->val_y);
    free(d->val_index);
    memset(d, 0, sizeof *d);
}

void dataset_split(const Dataset *d, DataSplit split, const unsigned char **x, const unsigned char **y, int *n)
{
    *x = split == SPLIT_TEST ? d->test_x : d->val_x;
    *y = split == SPLIT_TEST ? d->test_y : d->val_y;
    *n = split == SPLIT_TEST ? d->n_test : d->n_val;
}

void dataset_gather(const unsigned char *pixels, int image_size, const int *index, int n,
                    float mean, float std, float *out)
{
    /* ToTensor then Normalize: (p/255 - mean)/std, in that order of
     * operations so values match torchvision's to the last bit. */
    for (int i = 0; i < n; i++) {
        const unsigned char *src = pixels + (long)index[i] * image_size;
        float *dst = out + (long)i * image_size;
        for (int j = 0; j < image_size; j++) dst[j] = ((float)src[j] / 255.0f - mean) / std;
    }
}
