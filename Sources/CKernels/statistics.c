#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ckernels_internal.h"
#include "ckernels_statistics.h"

#pragma STDC FP_CONTRACT OFF

/* The layout every body follows (see ckernels_statistics.h): 16 lanes, groups of 4 rows of 16
   values; per group and lane a float sum of 4 fused squares, then added to the lane's double. */
#define LANES 16
#define ROWS 4
#define GROUP (LANES * ROWS)
/* Values per block: every combination runs over one block (in L1) before the next block is read. */
#define BLOCK (GROUP * 32)

typedef struct {
    double wide[LANES];
    double narrow[LANES];
} lane_sums;

/* One value's two rounding errors in units of the step: e = k - t with k the clamped DPU rounding
   of t (round half up), and the same with the lower bound raised by one (the narrow range). */
static inline __attribute__((always_inline)) void errors_of(float v, float scale, float lo, float hi, float lo1, float *e,
                                                            float *en) {
    const float t = v * scale;
    float c = t > lo ? t : lo;
    c = c < hi ? c : hi;
    const float f = floorf(c);
    const float k = f + (c - f >= 0.5f ? 1.0f : 0.0f);
    const float kn = k > lo1 ? k : lo1;
    *e = k - t;
    *en = kn - t;
}

/* `n` values (a multiple of GROUP) of one combination into its lane sums; the narrow range's
   only when NARROW (a compile-time constant in each instance). */
static inline __attribute__((always_inline)) void combo_portable_body(const float *values, long n, float scale, float lo, float hi,
                                                                      lane_sums *s, const int NARROW) {
    const float lo1 = lo + 1.0f;
    for (long g = 0; g < n; g += GROUP) {
        for (int l = 0; l < LANES; l++) {
            float a = 0.0f, an = 0.0f;
            for (int r = 0; r < ROWS; r++) {
                float e, en;
                errors_of(values[g + r * LANES + l], scale, lo, hi, lo1, &e, &en);
                a = fmaf(e, e, a);
                if (NARROW) an = fmaf(en, en, an);
            }
            s->wide[l] += (double)a;
            if (NARROW) s->narrow[l] += (double)an;
        }
    }
}

static void combo_portable(const float *values, long n, float scale, float lo, float hi, lane_sums *s) {
    combo_portable_body(values, n, scale, lo, hi, s, 1);
}

static void combo_portable_wide(const float *values, long n, float scale, float lo, float hi, lane_sums *s) {
    combo_portable_body(values, n, scale, lo, hi, s, 0);
}

#if CK_X86
/* Lanes 8h ... 8h+7 of errors_of, on 8 values. */
CK_AVX2 static inline __attribute__((always_inline)) void errors_avx2(__m256 v, __m256 scale, __m256 lo, __m256 hi, __m256 lo1,
                                                                      __m256 *e, __m256 *en) {
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
    const __m256 t = _mm256_mul_ps(v, scale);
    /* max(t, lo) and min(., hi) as errors_of writes them: t > lo ? t : lo (values are finite). */
    const __m256 c = _mm256_min_ps(_mm256_max_ps(t, lo), hi);
    const __m256 f = _mm256_floor_ps(c);
    const __m256 k = _mm256_add_ps(f, _mm256_and_ps(_mm256_cmp_ps(_mm256_sub_ps(c, f), half, _CMP_GE_OQ), one));
    *e = _mm256_sub_ps(k, t);
    *en = _mm256_sub_ps(_mm256_max_ps(k, lo1), t);
}

CK_AVX2 static inline __attribute__((always_inline)) void combo_avx2_body(const float *values, long n, float scale_, float lo_, float hi_,
                                                                           lane_sums *s, const int NARROW) {
    const __m256 scale = _mm256_set1_ps(scale_), lo = _mm256_set1_ps(lo_), hi = _mm256_set1_ps(hi_);
    const __m256 lo1 = _mm256_set1_ps(lo_ + 1.0f);
    for (int h = 0; h < 2; h++) {
        __m256d w0 = _mm256_loadu_pd(s->wide + 8 * h), w1 = _mm256_loadu_pd(s->wide + 8 * h + 4);
        __m256d n0 = _mm256_loadu_pd(s->narrow + 8 * h), n1 = _mm256_loadu_pd(s->narrow + 8 * h + 4);
        for (long g = 0; g < n; g += GROUP) {
            __m256 a = _mm256_setzero_ps(), an = _mm256_setzero_ps();
            for (int r = 0; r < ROWS; r++) {
                __m256 e, en;
                errors_avx2(_mm256_loadu_ps(values + g + r * LANES + 8 * h), scale, lo, hi, lo1, &e, &en);
                a = _mm256_fmadd_ps(e, e, a);
                if (NARROW) an = _mm256_fmadd_ps(en, en, an);
            }
            w0 = _mm256_add_pd(w0, _mm256_cvtps_pd(_mm256_castps256_ps128(a)));
            w1 = _mm256_add_pd(w1, _mm256_cvtps_pd(_mm256_extractf128_ps(a, 1)));
            if (NARROW) {
                n0 = _mm256_add_pd(n0, _mm256_cvtps_pd(_mm256_castps256_ps128(an)));
                n1 = _mm256_add_pd(n1, _mm256_cvtps_pd(_mm256_extractf128_ps(an, 1)));
            }
        }
        _mm256_storeu_pd(s->wide + 8 * h, w0);
        _mm256_storeu_pd(s->wide + 8 * h + 4, w1);
        _mm256_storeu_pd(s->narrow + 8 * h, n0);
        _mm256_storeu_pd(s->narrow + 8 * h + 4, n1);
    }
}

CK_AVX2 static void combo_avx2(const float *values, long n, float scale, float lo, float hi, lane_sums *s) {
    combo_avx2_body(values, n, scale, lo, hi, s, 1);
}

CK_AVX2 static void combo_avx2_wide(const float *values, long n, float scale, float lo, float hi, lane_sums *s) {
    combo_avx2_body(values, n, scale, lo, hi, s, 0);
}

#define CK_AVX512 __attribute__((target("avx512f")))
CK_AVX512 static inline __attribute__((always_inline)) void combo_avx512_body(const float *values, long n, float scale_, float lo_,
                                                                               float hi_, lane_sums *s, const int NARROW) {
    const __m512 scale = _mm512_set1_ps(scale_), lo = _mm512_set1_ps(lo_), hi = _mm512_set1_ps(hi_);
    const __m512 lo1 = _mm512_set1_ps(lo_ + 1.0f), half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
    __m512d w0 = _mm512_loadu_pd(s->wide), w1 = _mm512_loadu_pd(s->wide + 8);
    __m512d n0 = _mm512_loadu_pd(s->narrow), n1 = _mm512_loadu_pd(s->narrow + 8);
    for (long g = 0; g < n; g += GROUP) {
        __m512 a = _mm512_setzero_ps(), an = _mm512_setzero_ps();
        for (int r = 0; r < ROWS; r++) {
            const __m512 t = _mm512_mul_ps(_mm512_loadu_ps(values + g + r * LANES), scale);
            const __m512 c = _mm512_min_ps(_mm512_max_ps(t, lo), hi);
            const __m512 f = _mm512_roundscale_ps(c, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
            const __mmask16 up = _mm512_cmp_ps_mask(_mm512_sub_ps(c, f), half, _CMP_GE_OQ);
            const __m512 k = _mm512_mask_add_ps(f, up, f, one);
            const __m512 e = _mm512_sub_ps(k, t);
            a = _mm512_fmadd_ps(e, e, a);
            if (NARROW) {
                const __m512 en = _mm512_sub_ps(_mm512_max_ps(k, lo1), t);
                an = _mm512_fmadd_ps(en, en, an);
            }
        }
        w0 = _mm512_add_pd(w0, _mm512_cvtps_pd(_mm512_castps512_ps256(a)));
        w1 = _mm512_add_pd(w1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1))));
        if (NARROW) {
            n0 = _mm512_add_pd(n0, _mm512_cvtps_pd(_mm512_castps512_ps256(an)));
            n1 = _mm512_add_pd(n1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(an), 1))));
        }
    }
    _mm512_storeu_pd(s->wide, w0);
    _mm512_storeu_pd(s->wide + 8, w1);
    _mm512_storeu_pd(s->narrow, n0);
    _mm512_storeu_pd(s->narrow + 8, n1);
}

CK_AVX512 static void combo_avx512(const float *values, long n, float scale, float lo, float hi, lane_sums *s) {
    combo_avx512_body(values, n, scale, lo, hi, s, 1);
}

CK_AVX512 static void combo_avx512_wide(const float *values, long n, float scale, float lo, float hi, lane_sums *s) {
    combo_avx512_body(values, n, scale, lo, hi, s, 0);
}
#endif

typedef void (*combo_body)(const float *, long, float, float, float, lane_sums *);

static combo_body pick_body(int narrow) {
#if CK_X86
    if (ck_use_avx512()) return narrow ? combo_avx512 : combo_avx512_wide;
    if (ck_use_avx2()) return narrow ? combo_avx2 : combo_avx2_wide;
#endif
    return narrow ? combo_portable : combo_portable_wide;
}

void ck_activation_errors(const float *values, long count, const float *scales, const float *los, const float *his, int combos,
                          int narrow, double *sums) {
    enum { MAX_COMBOS = 128 };
    if (combos > MAX_COMBOS) { /* in independent batches: a combination's sums never depend on the others */
        ck_activation_errors(values, count, scales, los, his, MAX_COMBOS, narrow, sums);
        ck_activation_errors(values, count, scales + MAX_COMBOS, los + MAX_COMBOS, his + MAX_COMBOS, combos - MAX_COMBOS, narrow,
                             sums + 2 * MAX_COMBOS);
        return;
    }
    lane_sums lanes[MAX_COMBOS];
    memset(lanes, 0, sizeof(lane_sums) * (size_t)combos);
    const combo_body body = pick_body(narrow);
    const long whole = count - count % GROUP;
    for (long b = 0; b < whole; b += BLOCK) {
        const long n = whole - b < BLOCK ? whole - b : BLOCK;
        for (int c = 0; c < combos; c++) body(values + b, n, scales[c], los[c], his[c], &lanes[c]);
    }
    if (whole < count) {
        /* The last group, padded with zeros: a zero's errors are exactly zero in both ranges (lo <= -1 < 0 <= hi). */
        float tail[GROUP];
        memset(tail, 0, sizeof tail);
        memcpy(tail, values + whole, sizeof(float) * (size_t)(count - whole));
        for (int c = 0; c < combos; c++) body(tail, GROUP, scales[c], los[c], his[c], &lanes[c]);
    }
    for (int c = 0; c < combos; c++) {
        double w = 0.0, nw = 0.0;
        for (int l = 0; l < LANES; l++) {
            w += lanes[c].wide[l];
            nw += lanes[c].narrow[l];
        }
        sums[2 * c] = w;
        sums[2 * c + 1] = nw;
    }
}
