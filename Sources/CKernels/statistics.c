#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ckernels_internal.h"
#include "ckernels_statistics.h"

#pragma STDC FP_CONTRACT OFF

#define TOP 17
#define BUCKETS 18
#define TABLE (3 * BUCKETS * 4)
#define PARTIALS 4

/* v / step, as a multiplication by the exact inverse when there is one (the same real number,
   correctly rounded either way, so the same bits). */
static inline __attribute__((always_inline)) float scaled(float v, float step, float inverse, int multiply) {
    return multiply ? v * inverse : v / step;
}

/* `first` is the element index of values[0]: element i adds into partial table i % PARTIALS. */
static inline __attribute__((always_inline)) void
buckets_body(const float *values, long count, long first, float step, float inverse, int multiply, float lo, float hi,
             double *partials) {
    const double step_d = (double)step;
    for (long i = 0; i < count; i++) {
        const float v = values[i];
        const float t = scaled(v, step, inverse, multiply);
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
        double *s = partials + ((first + i) % PARTIALS) * TABLE + (kind * BUCKETS + j) * 4;
        s[0] += 1;
        s[1] += x;
        s[2] += x * x;
        s[3] += d * d;
    }
}

#if CK_X86
/* Eight values at a time: the rounding, clamp, errors and bucket indices in vectors (the same
   operations as buckets_body, lane by lane), then the eight additions in element order. */
CK_AVX2 static void buckets_avx2(const float *values, long count, float step, float inverse, int multiply, float lo, float hi,
                                  double *partials) {
    const __m256 vstep = _mm256_set1_ps(step), vinverse = _mm256_set1_ps(inverse), vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256d vstep_d = _mm256_set1_pd((double)step);
    const __m256i exp_mask = _mm256_set1_epi32(0xff), mant_mask = _mm256_set1_epi32(0x7fffff);
    const __m256i bias = _mm256_set1_epi32(127), top = _mm256_set1_epi32(TOP), izero = _mm256_setzero_si256();
    const __m256i ione = _mm256_set1_epi32(1), buckets = _mm256_set1_epi32(BUCKETS);
    long i = 0;
    for (; i + 8 <= count; i += 8) {
        const __m256 v = _mm256_loadu_ps(values + i);
        const __m256 t = multiply ? _mm256_mul_ps(v, vinverse) : _mm256_div_ps(v, vstep);
        const __m256 a = _mm256_andnot_ps(sign, t);
        const __m256 fa = _mm256_floor_ps(a);
        const __m256 ra = _mm256_blendv_ps(fa, _mm256_add_ps(fa, one), _mm256_cmp_ps(_mm256_sub_ps(a, fa), half, _CMP_GE_OQ));
        const __m256 tneg = _mm256_cmp_ps(t, zero, _CMP_LT_OQ);
        const __m256 away = _mm256_blendv_ps(ra, _mm256_sub_ps(zero, ra), tneg); /* t < 0 ? -ra : ra */
        const __m256 fl = _mm256_floor_ps(t);
        const __m256 tie = _mm256_and_ps(tneg, _mm256_cmp_ps(_mm256_sub_ps(t, fl), half, _CMP_EQ_OQ));
        const __m256 r = _mm256_blendv_ps(away, _mm256_ceil_ps(t), tie);
        __m256 k = _mm256_blendv_ps(r, vlo, _mm256_cmp_ps(r, vlo, _CMP_LT_OQ));
        k = _mm256_blendv_ps(k, vhi, _mm256_cmp_ps(k, vhi, _CMP_GT_OQ));
        /* Bucket index (kind * BUCKETS + j) * 4, as buckets_body computes it. */
        const __m256i bits = _mm256_castps_si256(k);
        const __m256i e = _mm256_sub_epi32(_mm256_and_si256(_mm256_srli_epi32(bits, 23), exp_mask), bias);
        const __m256i positive = _mm256_castps_si256(_mm256_cmp_ps(k, zero, _CMP_GE_OQ));
        const __m256i jp = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(e, ione), izero), top);
        const __m256i jn = _mm256_min_epi32(e, top);
        const __m256i exact = _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_and_si256(bits, mant_mask), izero),
                                                  _mm256_cmpgt_epi32(top, jn));
        const __m256i kind = _mm256_blendv_epi8(_mm256_blendv_epi8(_mm256_set1_epi32(2), ione, exact), izero, positive);
        const __m256i j = _mm256_blendv_epi8(jn, jp, positive);
        const __m256i index = _mm256_slli_epi32(_mm256_add_epi32(_mm256_mullo_epi32(kind, buckets), j), 2);
        /* Errors in double, four lanes at a time. */
        const __m256d x0 = _mm256_cvtps_pd(_mm256_castps256_ps128(v)), x1 = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
        const __m256d k0 = _mm256_cvtps_pd(_mm256_castps256_ps128(k)), k1 = _mm256_cvtps_pd(_mm256_extractf128_ps(k, 1));
        const __m256d d0 = _mm256_sub_pd(_mm256_mul_pd(k0, vstep_d), x0), d1 = _mm256_sub_pd(_mm256_mul_pd(k1, vstep_d), x1);
        double xs[8], x2s[8], d2s[8];
        int idx[8];
        _mm256_storeu_pd(xs, x0);
        _mm256_storeu_pd(xs + 4, x1);
        _mm256_storeu_pd(x2s, _mm256_mul_pd(x0, x0));
        _mm256_storeu_pd(x2s + 4, _mm256_mul_pd(x1, x1));
        _mm256_storeu_pd(d2s, _mm256_mul_pd(d0, d0));
        _mm256_storeu_pd(d2s + 4, _mm256_mul_pd(d1, d1));
        _mm256_storeu_si256((__m256i *)idx, index);
        for (int l = 0; l < 8; l++) {
            double *sp = partials + (l % PARTIALS) * TABLE + idx[l];   /* i is a multiple of 8 */
            const __m256d add = _mm256_set_pd(d2s[l], x2s[l], xs[l], 1.0);
            _mm256_storeu_pd(sp, _mm256_add_pd(_mm256_loadu_pd(sp), add));
        }
    }
    buckets_body(values + i, count - i, i, step, inverse, multiply, lo, hi, partials);
}
#endif

static void buckets_portable(const float *values, long count, float step, float inverse, int multiply, float lo, float hi,
                             double *partials) {
    buckets_body(values, count, 0, step, inverse, multiply, lo, hi, partials);
}

void ck_activation_buckets(const float *values, long count, float step, float lo, float hi, double *sums) {
    double partials[PARTIALS * TABLE];
    memset(partials, 0, sizeof partials);
    const float inverse = 1.0f / step;
    const int multiply = isnormal(step) && isnormal(inverse);
#if CK_X86
    if (ck_use_avx2()) {
        buckets_avx2(values, count, step, inverse, multiply, lo, hi, partials);
    } else
#endif
    buckets_portable(values, count, step, inverse, multiply, lo, hi, partials);
    for (int p = 0; p < PARTIALS; p++) {
        for (int k = 0; k < TABLE; k++) sums[k] += partials[p * TABLE + k];
    }
}
