/* Stable trial ids: a hash of the fully resolved configuration text (which
 * includes the seed). Same text, same id, on every machine and run; any
 * change to a value gives a new id, and so a new run file: old results are
 * never overwritten or mixed with new ones. */
#ifndef SWEEPRUN_TRIAL_ID_H
#define SWEEPRUN_TRIAL_ID_H
#include <stddef.h>
#include <stdint.h>

#define TRIAL_ID_LEN 12            /* hex digits: 48 bits of FNV-1a 64 */

/* 64-bit FNV-1a of the bytes of text. */
uint64_t trial_hash(const char *text);
/* id = the low 48 bits of the hash of canonical (plus "ranks_per_trial=K"
 * when K > 1: k data-parallel ranks train differently from one) as
 * TRIAL_ID_LEN lowercase hex digits. */
void trial_id_make(const char *canonical, int ranks_per_trial, char id[TRIAL_ID_LEN + 1]);
/* OUT/MODEL-sSEED-ID.h5; -1 when it does not fit. */
int trial_run_file(const char *out_dir, const char *model, uint64_t seed, const char *id, char *buf,
                   size_t size);

#endif
