/* The fuzz targets' way of handing an input to code that reads files by
 * path (sweep files, IDX files, images, run files): the bytes go into one
 * temporary file per process, in /dev/shm (memory) when it exists, else
 * $TMPDIR or /tmp, rewritten for each input and removed at exit. Parallel
 * fuzzing jobs (-jobs=N) each have their own. (A memfd's /proc/self/fd/N
 * path would avoid the file, but HDF5 resolves it with realpath and fails.) */
#ifndef SWEEPRUN_FUZZ_INPUT_H
#define SWEEPRUN_FUZZ_INPUT_H
#include <stddef.h>
#include <stdint.h>

/* The path of a file holding exactly data[0..size); aborts when the file
 * cannot be made or written (a broken harness, not a find). */
const char *fuzz_input_path(const uint8_t *data, size_t size);

#endif
