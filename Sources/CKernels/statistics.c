#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ckernels_internal.h"
#include "ckernels_statistics.h"

#pragma STDC FP_CONTRACT OFF

#define TOP 17
#define BUCKETS 18

static inline __attribute__((always_inline)) void
buckets_body(const float *values, long count, float step, float lo, float hi, double *sums) {
    const double step_d = (double)step;
    for (long i = 0; i < count; i++) {
        const float v = values[i];
        const float t = v / step;
        /* Branch-free selects (the data decide the bucket; branches mispredicted). */
        const float fl = floorf(t), ce = ceilf(t);
        const float a = fabsf(t), fa = floorf(a);
        const float ra = a - fa >= 0.5f ? fa + 1.0f : fa; /* |t| - floor(|t|) is exact */
        const float away = t < 0 ? -ra : ra;
        const float r = (t < 0 && t - fl == 0.5f) ? ce : away;
        const float k = r < lo ? lo : (r > hi ? hi : r);
        const double x = (double)v;
        const double d = (double)k * step_d - x;
        uint32_t bits;
        memcpy(&bits, &k, sizeof bits);
        const int e = (int)((bits >> 23) & 0xff) - 127; /* floor(log2 |k|) for |k| >= 1; -127 for 0 */
        const int positive = k >= 0;                     /* -0 counts as positive; NaN does not */
        int jp = e + 1;
        jp = jp < 0 ? 0 : (jp > TOP ? TOP : jp);
        const int jn = e > TOP ? TOP : e;
        const int exact = (bits & 0x7fffff) == 0 && jn < TOP;
        const int kind = positive ? 0 : (exact ? 1 : 2);
        const int j = positive ? jp : jn;
        double *s = sums + (kind * BUCKETS + j) * 4;
        s[0] += 1;
        s[1] += x;
        s[2] += x * x;
        s[3] += d * d;
    }
}

#if CK_X86
CK_AVX2 static void buckets_avx2(const float *values, long count, float step, float lo, float hi, double *sums) {
    buckets_body(values, count, step, lo, hi, sums);
}
#endif

static void buckets_portable(const float *values, long count, float step, float lo, float hi, double *sums) {
    buckets_body(values, count, step, lo, hi, sums);
}

void ck_activation_buckets(const float *values, long count, float step, float lo, float hi, double *sums) {
#if CK_X86
    if (ck_use_avx2()) {
        buckets_avx2(values, count, step, lo, hi, sums);
        return;
    }
#endif
    buckets_portable(values, count, step, lo, hi, sums);
}
