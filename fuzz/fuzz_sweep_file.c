/* libFuzzer target: sweep files (sweeps/sweep_file.c, on inih). The input
 * is the file; the parse must end in a SweepFile and a list of problems,
 * never a crash, and everything it allocated must be freed. The problems
 * are printed (to /dev/null) and every axis looked up again, so the
 * strings and counts they hold are read back too. Seeds: fuzz/corpus/sweep_file. */
#include <stdio.h>
#include "fuzz_input.h"
#include "sweep_file.h"

static FILE *devnull;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!devnull) devnull = fopen("/dev/null", "w");
    const char *path = fuzz_input_path(data, size);
    SweepProblems problems;
    sweep_problems_init(&problems, "fuzz.ini");
    SweepFile sf;
    sweep_file_parse(path, &sf, &problems);
    sweep_problems_print(&problems, devnull);
    for (int i = 0; i < sf.n_axes; i++)
        if (sweep_find_axis(&sf, sf.axes[i].key) == NULL) __builtin_trap();
    sweep_file_free(&sf);
    sweep_problems_free(&problems);
    return 0;
}
