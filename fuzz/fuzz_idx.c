/* libFuzzer target: IDX dataset files (runner/train/idx.c), plain or
 * gzip-compressed (zlib's gzread passes plain files through). The input is
 * read both as an image file and as a label file (10 classes); whatever
 * a reader accepts must hold exactly what its header promised, which the
 * loops below touch byte by byte so ASan checks the sizes. Seeds:
 * fuzz/corpus/idx. */
#include <stdlib.h>
#include "fuzz_input.h"
#include "idx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_input_path(data, size);
    char err[512];
    volatile unsigned sum = 0;

    IdxImages im = {0};
    if (idx_read_images(path, &im, err, sizeof err) == 0) {
        size_t n = (size_t)im.count * (size_t)im.rows * (size_t)im.cols;
        for (size_t i = 0; i < n; i++) sum += im.pixels[i];
    }
    idx_images_free(&im);

    IdxLabels lb = {0};
    if (idx_read_labels(path, 10, &lb, err, sizeof err) == 0) {
        for (int i = 0; i < lb.count; i++)
            if (lb.labels[i] >= 10) abort();   /* the reader promised labels < num_classes */
    }
    idx_labels_free(&lb);
    (void)sum;
    return 0;
}
