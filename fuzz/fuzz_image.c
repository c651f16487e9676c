/* libFuzzer target: the images `sweeprun predict` reads (runner/cli/
 * image_input.c): PGM (P2/P5, our parser) and PNG (libpng, through our
 * conversion code). A decoded image is converted to the 28x28 model input
 * both ways (with and without --invert), which reads every pixel the
 * decoder claims to have. Seeds: fuzz/corpus/image. */
#include "fuzz_input.h"
#include "image_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_input_path(data, size);
    char err[512];
    GrayImage im = {0};
    if (image_read(path, &im, err, sizeof err) == 0) {
        uint8_t out[IMAGE_SIDE * IMAGE_SIDE];
        image_to_mnist(&im, 0, out);
        volatile double border = image_border_mean(out);
        image_to_mnist(&im, 1, out);
        border = image_border_mean(out);
        (void)border;
    }
    gray_image_free(&im);
    return 0;
}
