#include "device.h"
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef SWEEPRUN_HAVE_CUDA
int device_cuda_count(char *why, int why_size)
{
    snprintf(why, why_size, "this sweeprun was built without the CUDA backend (SWEEPRUN_CUDA=OFF or no nvcc)");
    return 0;
}

void device_cuda_name(int i, char *name, int size)
{
    (void)i;
    snprintf(name, size, "%s", "");
}
#endif

void device_cpu_name(char *name, int size)
{
    char model[256] = "unknown CPU";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            char *colon = strchr(line, ':');
            if (!strncmp(line, "model name", 10) && colon) {
                snprintf(model, sizeof model, "%s", colon + 2);
                model[strcspn(model, "\n")] = 0;
                break;
            }
        }
        fclose(f);
    }
    snprintf(name, size, "cpu: %s, %ld cores", model, sysconf(_SC_NPROCESSORS_ONLN));
}
