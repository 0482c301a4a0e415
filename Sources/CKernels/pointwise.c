#include <math.h>
#include <stddef.h>

#include "ckernels_internal.h"
#include "ckernels_pointwise.h"

#if CK_X86
#include <immintrin.h>
#endif

#pragma STDC FP_CONTRACT OFF

static void pointwise_scalar(const float *x, long ldx, const float *w, long ldw, const float *bias, const float *residual,
                             float *out, long ldo, long rows, long cols, long k, int activation, float alpha) {
    for (long i = 0; i < rows; i++) {
        float *o = out + i * ldo;
        for (long j = 0; j < cols; j++) o[j] = bias ? bias[j] : 0.f;
        for (long p = 0; p < k; p++) {
            const float xv = x[i * ldx + p];
            const float *wr = w + p * ldw;
            for (long j = 0; j < cols; j++) o[j] = fmaf(xv, wr[j], o[j]);
        }
        for (long j = 0; j < cols; j++) {
            float v = o[j];
            if (residual) v = v + residual[i * ldo + j];
            o[j] = ck_activation_scalar(v, activation, alpha);
        }
    }
}

#if CK_X86
static const int tail_masks[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};


/* Vector v of a block: the last one masked when `full` is 0. */
#define LOADV(ptr, v) ((full || (v) < nv - 1) ? _mm256_loadu_ps(ptr) : _mm256_maskload_ps((ptr), mask))
#define STOREV(ptr, v, val)                                                                                                  \
    do {                                                                                                                     \
        if (full || (v) < nv - 1) _mm256_storeu_ps((ptr), (val));                                                            \
        else _mm256_maskstore_ps((ptr), mask, (val));                                                                       \
    } while (0)

/* `mr` (1..6) rows x `nv` (1 or 2) vectors of columns: mr * nv accumulators over the whole reduction. */
CK_AVX2 static inline __attribute__((always_inline)) void
block(const int mr, const int nv, const int full, const __m256i mask, const float *x, long ldx, const float *w, long ldw,
      const float *bias, const float *res, float *out, long ldo, long k, const int activation, __m256 alpha) {
    __m256 acc[6][2];
    /* The residual is read once, after the reduction: start fetching it now (a demand miss per row
       at the end cost ~40% on ResNet50's 56x56x256 residual convs). */
    if (res)
        for (int r = 0; r < mr; r++) {
            _mm_prefetch((const char *)(res + r * ldo), _MM_HINT_T0);
            if (nv == 2) _mm_prefetch((const char *)(res + r * ldo + 15), _MM_HINT_T0);
        }
    for (int v = 0; v < nv; v++) {
        const __m256 b = bias ? LOADV(bias + 8 * v, v) : _mm256_setzero_ps();
        for (int r = 0; r < mr; r++) acc[r][v] = b;
    }
    for (long p = 0; p < k; p++) {
        __m256 wv[2];
        for (int v = 0; v < nv; v++) wv[v] = LOADV(w + p * ldw + 8 * v, v);
        for (int r = 0; r < mr; r++) {
            const __m256 xb = _mm256_broadcast_ss(x + r * ldx + p);
            for (int v = 0; v < nv; v++) acc[r][v] = _mm256_fmadd_ps(xb, wv[v], acc[r][v]);
        }
    }
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) {
            __m256 val = acc[r][v];
            if (res) val = _mm256_add_ps(val, LOADV(res + r * ldo + 8 * v, v));
            STOREV(out + r * ldo + 8 * v, v, ck_activation_avx2(val, activation, alpha));
        }
}

/* All columns of `mr` rows: 16-column blocks, then an 8-column block, then a masked tail. */
CK_AVX2 static inline __attribute__((always_inline)) void
rows_avx2(const int mr, const float *x, long ldx, const float *w, long ldw, const float *bias, const float *res, float *out,
          long ldo, long cols, long k, const int activation, __m256 alpha) {
    const __m256i all = _mm256_set1_epi32(-1);
    long j = 0;
    for (; j + 16 <= cols; j += 16)
        block(mr, 2, 1, all, x, ldx, w + j, ldw, bias ? bias + j : NULL, res ? res + j : NULL, out + j, ldo, k, activation, alpha);
    if (j + 8 <= cols) {
        block(mr, 1, 1, all, x, ldx, w + j, ldw, bias ? bias + j : NULL, res ? res + j : NULL, out + j, ldo, k, activation, alpha);
        j += 8;
    }
    if (j < cols) {
        const __m256i mask = _mm256_loadu_si256((const __m256i *)(tail_masks + 8 - (cols - j)));
        block(mr, 1, 0, mask, x, ldx, w + j, ldw, bias ? bias + j : NULL, res ? res + j : NULL, out + j, ldo, k, activation, alpha);
    }
}

CK_AVX2 static inline __attribute__((always_inline)) void
pointwise_avx2_body(const float *x, long ldx, const float *w, long ldw, const float *bias, const float *residual, float *out,
                    long ldo, long rows, long cols, long k, const int activation, float alpha_s) {
    const __m256 alpha = _mm256_set1_ps(alpha_s);
    long i = 0;
    for (; i + 6 <= rows; i += 6)
        rows_avx2(6, x + i * ldx, ldx, w, ldw, bias, residual ? residual + i * ldo : NULL, out + i * ldo, ldo, cols, k,
                  activation, alpha);
    for (; i < rows; i++)
        rows_avx2(1, x + i * ldx, ldx, w, ldw, bias, residual ? residual + i * ldo : NULL, out + i * ldo, ldo, cols, k,
                  activation, alpha);
}

CK_AVX2 static void pointwise_avx2(const float *x, long ldx, const float *w, long ldw, const float *bias, const float *residual,
                                   float *out, long ldo, long rows, long cols, long k, int activation, float alpha) {
    CK_SPECIALIZE_ACTIVATION(activation, act, pointwise_avx2_body(x, ldx, w, ldw, bias, residual, out, ldo, rows, cols, k, act, alpha))
}
#undef LOADV
#undef STOREV
#endif

void ck_pointwise(const float *x, long ldx, const float *w, long ldw, const float *bias, const float *residual, float *out,
                  long ldo, long rows, long cols, long k, int activation, float alpha) {
#if CK_X86
    if (ck_use_avx2()) {
        pointwise_avx2(x, ldx, w, ldw, bias, residual, out, ldo, rows, cols, k, activation, alpha);
        return;
    }
#endif
    pointwise_scalar(x, ldx, w, ldw, bias, residual, out, ldo, rows, cols, k, activation, alpha);
}
