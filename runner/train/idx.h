/* IDX dataset files (the MNIST format), plain or gzip-compressed.
 *
 * An IDX file is a big-endian header followed by raw unsigned bytes:
 *   images: magic 0x00000803 (2051), count, rows, cols, then count*rows*cols pixels
 *   labels: magic 0x00000801 (2049), count, then count labels
 * Both readers go through zlib's gzread, which passes uncompressed files
 * through unchanged, so "train-images-idx3-ubyte" and
 * "train-images-idx3-ubyte.gz" are read by the same code.
 *
 * Every function returns 0 on success and -1 on bad input; then err holds
 * one message that starts with the file (or folder) path, and nothing is
 * left allocated. */
#ifndef SWEEPRUN_IDX_H
#define SWEEPRUN_IDX_H

#define IDX_MAGIC_IMAGES 0x00000803u
#define IDX_MAGIC_LABELS 0x00000801u

/* Sanity limits on header values: a header beyond them is corrupt, not big. */
#define IDX_MAX_SIDE 4096
#define IDX_MAX_COUNT 100000000
/* The most pixel bytes one file may declare: 1 GiB. The reader grows its
 * buffer as data arrive, so a short file costs nothing, but a gzip stream
 * expands up to about 1000x: without this cap a 1 MB "bomb" whose header
 * stayed within the limits above could fill memory. The largest 28x28 set
 * in use, EMNIST ByClass (697,932 training images), needs 547 MB. */
#define IDX_MAX_PIXEL_BYTES (1UL << 30)

typedef struct IdxImages {
    int count, rows, cols;
    unsigned char *pixels;   /* count * rows * cols bytes, row-major per image */
} IdxImages;

typedef struct IdxLabels {
    int count;
    unsigned char *labels;   /* count bytes, each < num_classes */
} IdxLabels;

int idx_read_images(const char *path, IdxImages *out, char *err, int err_size);
/* Every label must lie in 0..num_classes-1 (1 <= num_classes <= 256). */
int idx_read_labels(const char *path, int num_classes, IdxLabels *out, char *err, int err_size);
void idx_images_free(IdxImages *im);   /* safe on a zeroed or freed struct */
void idx_labels_free(IdxLabels *lb);

/* The four files of a dataset folder, in this order in dataset_files' paths. */
enum {
    DATASET_TRAIN_IMAGES = 0,
    DATASET_TRAIN_LABELS = 1,
    DATASET_TEST_IMAGES = 2,
    DATASET_TEST_LABELS = 3,
    DATASET_FILE_COUNT = 4
};
#define DATASET_PATH_MAX 4096

/* Find the four IDX files in dir. Accepted names, for the training images
 * (the others follow the same pattern with train-labels-idx1-ubyte,
 * t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte):
 *   train-images-idx3-ubyte, train-images-idx3-ubyte.gz   (MNIST, and the
 *       Debian dataset-fashion-mnist package in /usr/share/datasets/fashion-mnist)
 *   train-images.idx3-ubyte, train-images.idx3-ubyte.gz   (a common re-packaging)
 * The uncompressed file wins when both exist. When any file is missing the
 * message lists every name that was looked for. */
int dataset_files(const char *dir, char paths[DATASET_FILE_COUNT][DATASET_PATH_MAX],
                  char *err, int err_size);

#endif
