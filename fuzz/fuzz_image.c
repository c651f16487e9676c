/* libFuzzer target: the images `sweeprun predict` reads (runner/cli/
 * image_input.c): PGM (P2/P5, our parser) and PNG (libpng, through our
 * conversion code). A decoded image is converted to the 28x28 model input
 * with every polarity and both framings, which reads every pixel the
 * decoder claims to have. Seeds: fuzz/corpus/image. */
#include "fuzz_input.h"
#include "image_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_input_path(data, size);
    char err[512];
    GrayImage im = {0};
    if (image_read(path, &im, err, sizeof err) == 0) {
        const Polarity polarities[] = {POLARITY_AUTO, POLARITY_LIGHT_ON_DARK, POLARITY_DARK_ON_LIGHT};
        const Framing framings[] = {FRAME_DIGIT, FRAME_WHOLE};
        for (int p = 0; p < 3; p++)
            for (int f = 0; f < 2; f++) {
                uint8_t out[IMAGE_SIDE * IMAGE_SIDE];
                ImagePrep prep;
                image_to_mnist(&im, polarities[p], framings[f], out, &prep);
            }
    }
    gray_image_free(&im);
    return 0;
}
