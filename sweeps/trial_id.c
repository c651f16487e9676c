#include "trial_id.h"
#include <stdio.h>
#include <string.h>

uint64_t trial_hash(const char *text)
{
    uint64_t h = 0xcbf29ce484222325ULL;          /* FNV-1a 64 offset basis */
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;                    /* FNV 64 prime */
    }
    return h;
}

void trial_id_make(const char *canonical, int ranks_per_trial, char id[TRIAL_ID_LEN + 1])
{
    uint64_t h = trial_hash(canonical);
    if (ranks_per_trial > 1) {
        /* Continue the same FNV stream over the extra line. */
        char extra[64];
        snprintf(extra, sizeof extra, "ranks_per_trial=%d\n", ranks_per_trial);
        for (const unsigned char *p = (const unsigned char *)extra; *p; p++) {
            h ^= *p;
            h *= 0x100000001b3ULL;
        }
    }
    snprintf(id, TRIAL_ID_LEN + 1, "%012llx", (unsigned long long)(h & 0xffffffffffffULL));
}

int trial_run_file(const char *out_dir, const char *model, uint64_t seed, const char *id, char *buf,
                   size_t size)
{
    size_t len = strlen(out_dir);
    const char *sep = len && out_dir[len - 1] == '/' ? "" : "/";
    int n = snprintf(buf, size, "%s%s%s-s%llu-%s.h5", out_dir, sep, model, (unsigned long long)seed, id);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}
