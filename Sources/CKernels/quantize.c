#include <math.h>

#include "ckernels_internal.h"
#include "ckernels_quantize.h"

#pragma STDC FP_CONTRACT OFF

/* x / step, computed as x * inv when inv = 1 / step is exact (step a power of two whose inverse is
 * a normal float): a product by a power of two rounds exactly as the quotient does, over the
 * whole float range (overflow, subnormal results), and costs a tenth of a division. */
static inline __attribute__((always_inline)) float quantize_one(float x, float step, float inv, float lo, float hi, int half_up) {
    const float t = inv != 0.f ? x * inv : x / step;
    const float a = fabsf(t), fa = floorf(a);
    const float ra = a - fa >= 0.5f ? fa + 1.0f : fa; /* |t| - floor(|t|) is exact */
    float r = copysignf(ra, t);
    if (half_up) {
        const float fl = floorf(t);
        r = ((t < 0) & (t - fl == 0.5f)) ? ceilf(t) : r; /* no short circuit: the loop vectorizes */
    }
    const float k = r < lo ? lo : (r > hi ? hi : r);
    return k * step;
}

/* 1 / step when that is exact and normal (step = 2^-p, -126 <= p <= 126), else 0 (divide). */
static float exact_inverse(float step) {
    int e;
    const float m = frexpf(step, &e);
    if (m != 0.5f || !isnormal(step)) return 0.f;
    const float inv = 1.0f / step;
    return isnormal(inv) ? inv : 0.f;
}

static inline __attribute__((always_inline)) void
quantize_body(const float *x, long n, float step, float lo, float hi, int half_up, float *out) {
    const float inv = exact_inverse(step);
    if (inv != 0.f) {
        if (half_up)
            for (long i = 0; i < n; i++) out[i] = quantize_one(x[i], step, inv, lo, hi, 1);
        else
            for (long i = 0; i < n; i++) out[i] = quantize_one(x[i], step, inv, lo, hi, 0);
    } else {
        if (half_up)
            for (long i = 0; i < n; i++) out[i] = quantize_one(x[i], step, 0.f, lo, hi, 1);
        else
            for (long i = 0; i < n; i++) out[i] = quantize_one(x[i], step, 0.f, lo, hi, 0);
    }
}

#if CK_X86
CK_AVX2 static void quantize_avx2(const float *x, long n, float step, float lo, float hi, int half_up, float *out) {
    quantize_body(x, n, step, lo, hi, half_up, out);
}
#endif

static inline __attribute__((always_inline)) float squared_error_body(const float *x, long n, float step, float lo, float hi,
                                                                     int half_up) {
    float e = 0;
    const float inv = exact_inverse(step);
    if (half_up)
        for (long i = 0; i < n; i++) {
            const float d = quantize_one(x[i], step, inv, lo, hi, 1) - x[i];
            e += d * d;
        }
    else
        for (long i = 0; i < n; i++) {
            const float d = quantize_one(x[i], step, inv, lo, hi, 0) - x[i];
            e += d * d;
        }
    return e;
}

#if CK_X86
CK_AVX2 static float squared_error_avx2(const float *x, long n, float step, float lo, float hi, int half_up) {
    return squared_error_body(x, n, step, lo, hi, half_up);
}
#endif

float ck_pof2_squared_error(const float *x, long n, float step, float lo, float hi, int half_up) {
#if CK_X86
    if (ck_use_avx2()) return squared_error_avx2(x, n, step, lo, hi, half_up);
#endif
    return squared_error_body(x, n, step, lo, hi, half_up);
}

void ck_pof2_quantize(const float *x, long n, float step, float lo, float hi, int half_up, float *out) {
#if CK_X86
    if (ck_use_avx2()) {
        quantize_avx2(x, n, step, lo, hi, half_up, out);
        return;
    }
#endif
    quantize_body(x, n, step, lo, hi, half_up, out);
}
