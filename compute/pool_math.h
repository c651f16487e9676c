/* The max-pooling comparison, shared by ops_pool.c and cuda/pool.cu so both
 * pick the same winner: ties go to the FIRST maximum in scan order (strict
 * >), and a NaN wins over any number and then sticks (NaNs propagate). */
#ifndef SWEEPRUN_POOL_MATH_H
#define SWEEPRUN_POOL_MATH_H
#include "hostdevice.h"

HD int pool_beats(float v, float best) { return v > best || (v != v && best == best); }

#endif
