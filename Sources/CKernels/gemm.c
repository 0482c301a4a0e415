#include <math.h>
#include <stddef.h>
#include <string.h>

#include "ckernels_gemm.h"
#include "ckernels_internal.h"

#pragma STDC FP_CONTRACT OFF

/* Reduction block: a panel's block of KC x 16 weights is 16 KiB, half of L1. */
#define KC 256

long ck_gemm_packed_size(long k, long n) { return ((n + 15) / 16) * k * 16; }

void ck_gemm_pack(const float *w, long ldw, long k, long n, float *packed) {
    for (long q = 0; q * 16 < n; q++) {
        const long valid = n - q * 16 < 16 ? n - q * 16 : 16;
        for (long p = 0; p < k; p++) {
            float *dst = packed + (q * k + p) * 16;
            memcpy(dst, w + p * ldw + q * 16, (size_t)valid * sizeof(float));
            for (long c = valid; c < 16; c++) dst[c] = 0.f;
        }
    }
}

/* Portable body: the same per-value order, one value at a time. */
static void gemm_scalar(const float *x, long ldx, const float *packed, long k, long col0, long cols, const float *bias,
                        const float *residual, float *out, long ldo, long rows, int activation, float alpha) {
    for (long i = 0; i < rows; i++)
        for (long j = col0; j < col0 + cols; j++) {
            const float *panel = packed + (j / 16) * k * 16 + j % 16;
            float acc = bias ? bias[j] : 0.f;
            for (long p = 0; p < k; p++) acc = fmaf(x[i * ldx + p], panel[p * 16], acc);
            if (residual) acc = acc + residual[i * ldo + j];
            out[i * ldo + j] = ck_activation_scalar(acc, activation, alpha);
        }
}

#if CK_X86
static const int lane_masks[24] = {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

/* mr (1..6) rows x one 16-column panel over reduction steps p0..<p0+kc. `first`: start from the
 * bias (else from the partial sums in out); `last`: add the residual, apply the activation. */
CK_AVX2 static inline __attribute__((always_inline)) void
micro(const int mr, const int first, const int last, const int full, const __m256i m0, const __m256i m1, const float *x,
      long ldx, const float *panel, long kc, const float *bias, const float *res, float *out, long ldo, const int activation,
      __m256 alpha) {
    __m256 acc[6][2];
    if (first) {
        const __m256 b0 = bias ? (full ? _mm256_loadu_ps(bias) : _mm256_maskload_ps(bias, m0)) : _mm256_setzero_ps();
        const __m256 b1 = bias ? (full ? _mm256_loadu_ps(bias + 8) : _mm256_maskload_ps(bias + 8, m1)) : _mm256_setzero_ps();
        for (int r = 0; r < mr; r++) acc[r][0] = b0, acc[r][1] = b1;
    } else {
        for (int r = 0; r < mr; r++) {
            acc[r][0] = full ? _mm256_loadu_ps(out + r * ldo) : _mm256_maskload_ps(out + r * ldo, m0);
            acc[r][1] = full ? _mm256_loadu_ps(out + r * ldo + 8) : _mm256_maskload_ps(out + r * ldo + 8, m1);
        }
    }
    if (last && res)
        for (int r = 0; r < mr; r++) {
            _mm_prefetch((const char *)(res + r * ldo), _MM_HINT_T0);
            _mm_prefetch((const char *)(res + r * ldo + 15), _MM_HINT_T0);
        }
    for (long p = 0; p < kc; p++) {
        const __m256 w0 = _mm256_loadu_ps(panel + p * 16), w1 = _mm256_loadu_ps(panel + p * 16 + 8);
        for (int r = 0; r < mr; r++) {
            const __m256 a = _mm256_broadcast_ss(x + r * ldx + p);
            acc[r][0] = _mm256_fmadd_ps(a, w0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(a, w1, acc[r][1]);
        }
    }
    for (int r = 0; r < mr; r++) {
        __m256 v0 = acc[r][0], v1 = acc[r][1];
        if (last) {
            if (res) {
                v0 = _mm256_add_ps(v0, full ? _mm256_loadu_ps(res + r * ldo) : _mm256_maskload_ps(res + r * ldo, m0));
                v1 = _mm256_add_ps(v1, full ? _mm256_loadu_ps(res + r * ldo + 8) : _mm256_maskload_ps(res + r * ldo + 8, m1));
            }
            v0 = ck_activation_avx2(v0, activation, alpha);
            v1 = ck_activation_avx2(v1, activation, alpha);
        }
        if (full) {
            _mm256_storeu_ps(out + r * ldo, v0);
            _mm256_storeu_ps(out + r * ldo + 8, v1);
        } else {
            _mm256_maskstore_ps(out + r * ldo, m0, v0);
            _mm256_maskstore_ps(out + r * ldo + 8, m1, v1);
        }
    }
}

#define MICRO_ROWS(FIRST, LAST, FULL)                                                                                        \
    do {                                                                                                                     \
        long i = 0;                                                                                                          \
        for (; i + 6 <= rows; i += 6)                                                                                        \
            micro(6, FIRST, LAST, FULL, m0, m1, xp + i * ldx, ldx, panel, kc, bj, res ? res + i * ldo + j : NULL,             \
                  out + i * ldo + j, ldo, activation, alpha);                                                                \
        switch (rows - i) {                                                                                                  \
        case 5: micro(5, FIRST, LAST, FULL, m0, m1, xp + i * ldx, ldx, panel, kc, bj, res ? res + i * ldo + j : NULL,        \
                      out + i * ldo + j, ldo, activation, alpha); break;                                                     \
        case 4: micro(4, FIRST, LAST, FULL, m0, m1, xp + i * ldx, ldx, panel, kc, bj, res ? res + i * ldo + j : NULL,        \
                      out + i * ldo + j, ldo, activation, alpha); break;                                                     \
        case 3: micro(3, FIRST, LAST, FULL, m0, m1, xp + i * ldx, ldx, panel, kc, bj, res ? res + i * ldo + j : NULL,        \
                      out + i * ldo + j, ldo, activation, alpha); break;                                                     \
        case 2: micro(2, FIRST, LAST, FULL, m0, m1, xp + i * ldx, ldx, panel, kc, bj, res ? res + i * ldo + j : NULL,        \
                      out + i * ldo + j, ldo, activation, alpha); break;                                                     \
        case 1: micro(1, FIRST, LAST, FULL, m0, m1, xp + i * ldx, ldx, panel, kc, bj, res ? res + i * ldo + j : NULL,        \
                      out + i * ldo + j, ldo, activation, alpha); break;                                                     \
        default: break;                                                                                                      \
        }                                                                                                                    \
    } while (0)

CK_AVX2 static inline __attribute__((always_inline)) void
gemm_avx2_body(const float *x, long ldx, const float *packed, long k, long col0, long cols, const float *bias,
               const float *res, float *out, long ldo, long rows, const int activation, float alpha_s) {
    const __m256 alpha = _mm256_set1_ps(alpha_s);
    if (k <= KC) {
        /* One reduction block: rows outer, so each row's output (and residual) is one contiguous
           run (all panels' weights, at most KC x cols, stay in L2). Column panels in a row outer
           order wrote 16-float pieces a row apart: 40% slower on ResNet50's 56x56x256 residual convs. */
        for (long i = 0; i < rows; i += 6) {
            const int mr = rows - i < 6 ? (int)(rows - i) : 6;
            const float *xi = x + i * ldx;
            for (long j = col0; j < col0 + cols; j += 16) {
                const float *panel = packed + (j / 16) * k * 16;
                const float *bj = bias ? bias + j : NULL, *rj = res ? res + i * ldo + j : NULL;
                float *oj = out + i * ldo + j;
                const long valid = col0 + cols - j < 16 ? col0 + cols - j : 16;
                const __m256i m0 = _mm256_loadu_si256((const __m256i *)(lane_masks + 16 - (valid < 8 ? valid : 8)));
                const __m256i m1 = _mm256_loadu_si256((const __m256i *)(lane_masks + 16 - (valid > 8 ? valid - 8 : 0)));
                if (valid == 16) {
                    switch (mr) {
                    case 6: micro(6, 1, 1, 1, m0, m1, xi, ldx, panel, k, bj, rj, oj, ldo, activation, alpha); break;
                    case 5: micro(5, 1, 1, 1, m0, m1, xi, ldx, panel, k, bj, rj, oj, ldo, activation, alpha); break;
                    case 4: micro(4, 1, 1, 1, m0, m1, xi, ldx, panel, k, bj, rj, oj, ldo, activation, alpha); break;
                    case 3: micro(3, 1, 1, 1, m0, m1, xi, ldx, panel, k, bj, rj, oj, ldo, activation, alpha); break;
                    case 2: micro(2, 1, 1, 1, m0, m1, xi, ldx, panel, k, bj, rj, oj, ldo, activation, alpha); break;
                    default: micro(1, 1, 1, 1, m0, m1, xi, ldx, panel, k, bj, rj, oj, ldo, activation, alpha); break;
                    }
                } else {
                    switch (mr) {
                    case 6: micro(6, 1, 1, 0, m0, m1, xi, ldx, panel, k, bj, rj, oj, ldo, activation, alpha); break;
                    default:
                        for (int r = 0; r < mr; r++)
                            micro(1, 1, 1, 0, m0, m1, xi + r * ldx, ldx, panel, k, bj, rj ? rj + r * ldo : NULL, oj + r * ldo, ldo,
                                  activation, alpha);
                        break;
                    }
                }
            }
        }
        return;
    }
    for (long p0 = 0; p0 < k; p0 += KC) {
        const long kc = k - p0 < KC ? k - p0 : KC;
        const int first = p0 == 0, last = p0 + kc == k;
        const float *xp = x + p0;
        for (long j = col0; j < col0 + cols; j += 16) {
            const float *panel = packed + ((j / 16) * k + p0) * 16;
            const float *bj = bias ? bias + j : NULL;
            const long valid = col0 + cols - j < 16 ? col0 + cols - j : 16;
            const __m256i m0 = _mm256_loadu_si256((const __m256i *)(lane_masks + 16 - (valid < 8 ? valid : 8)));
            const __m256i m1 = _mm256_loadu_si256((const __m256i *)(lane_masks + 16 - (valid > 8 ? valid - 8 : 0)));
            const int full = valid == 16;
            if (full) {
                if (first && last) MICRO_ROWS(1, 1, 1);
                else if (first) MICRO_ROWS(1, 0, 1);
                else if (last) MICRO_ROWS(0, 1, 1);
                else MICRO_ROWS(0, 0, 1);
            } else {
                if (first && last) MICRO_ROWS(1, 1, 0);
                else if (first) MICRO_ROWS(1, 0, 0);
                else if (last) MICRO_ROWS(0, 1, 0);
                else MICRO_ROWS(0, 0, 0);
            }
        }
    }
}
#undef MICRO_ROWS

CK_AVX2 static void gemm_avx2(const float *x, long ldx, const float *packed, long k, long col0, long cols, const float *bias,
                              const float *res, float *out, long ldo, long rows, int activation, float alpha) {
    CK_SPECIALIZE_ACTIVATION(activation, act, gemm_avx2_body(x, ldx, packed, k, col0, cols, bias, res, out, ldo, rows, act, alpha))
}

#define CK_AVX512 __attribute__((target("avx512f")))

/* ck_activation_scalar on 16 lanes (same results, lane by lane). */
CK_AVX512 static inline __attribute__((always_inline)) __m512 activation_avx512(__m512 v, int activation, __m512 alpha) {
    const __m512 zero = _mm512_setzero_ps();
    switch (activation) {
    case CK_ACTIVATION_RELU: return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, zero, _CMP_LE_OQ), v, zero);
    case CK_ACTIVATION_RELU6:
        return _mm512_min_ps(_mm512_set1_ps(6.f), _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, zero, _CMP_LE_OQ), v, zero));
    case CK_ACTIVATION_LEAKY_RELU:
        return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, zero, _CMP_GE_OQ), _mm512_mul_ps(alpha, v), v);
    default: return v;
    }
}

/* mr (1..12) rows x np (1 or 2) 16-column panels (the second `pstride` floats after the first)
 * over reduction steps p0..<p0+kc, the columns past each panel's mask left alone. `first`: start
 * from the bias (else from the partial sums in out); `last`: add the residual, apply the
 * activation. Each value is the same chain of fused multiply-adds as in the other bodies; AVX-512
 * only doubles the columns per instruction (and Zen 5 / Ice Lake servers issue two a cycle). */
CK_AVX512 static inline __attribute__((always_inline)) void
micro512(const int mr, const int np, const int first, const int last, const __mmask16 m0, const __mmask16 m1, const float *x,
         long ldx, const float *panel, long pstride, long kc, const float *bias, const float *res, float *out, long ldo,
         const int activation, __m512 alpha) {
    __m512 acc[12][2];
    const __mmask16 mask[2] = {m0, m1};
    if (first) {
        for (int c = 0; c < np; c++) {
            const __m512 b = bias ? _mm512_maskz_loadu_ps(mask[c], bias + 16 * c) : _mm512_setzero_ps();
            for (int r = 0; r < mr; r++) acc[r][c] = b;
        }
    } else {
        for (int r = 0; r < mr; r++)
            for (int c = 0; c < np; c++) acc[r][c] = _mm512_maskz_loadu_ps(mask[c], out + r * ldo + 16 * c);
    }
    if (last && res)
        for (int r = 0; r < mr; r++) {
            _mm_prefetch((const char *)(res + r * ldo), _MM_HINT_T0);
            _mm_prefetch((const char *)(res + r * ldo + 16 * np - 1), _MM_HINT_T0);
        }
    const float *panel1 = panel + pstride;
    for (long p = 0; p < kc; p++) {
        const __m512 w0 = _mm512_loadu_ps(panel + p * 16);
        const __m512 w1 = np > 1 ? _mm512_loadu_ps(panel1 + p * 16) : w0;
        for (int r = 0; r < mr; r++) {
            const __m512 a = _mm512_set1_ps(x[r * ldx + p]);
            acc[r][0] = _mm512_fmadd_ps(a, w0, acc[r][0]);
            if (np > 1) acc[r][1] = _mm512_fmadd_ps(a, w1, acc[r][1]);
        }
    }
    for (int r = 0; r < mr; r++)
        for (int c = 0; c < np; c++) {
            __m512 v = acc[r][c];
            if (last) {
                if (res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask[c], res + r * ldo + 16 * c));
                v = activation_avx512(v, activation, alpha);
            }
            _mm512_mask_storeu_ps(out + r * ldo + 16 * c, mask[c], v);
        }
}

/* All rows of one or two panels: blocks of 12 rows, the tail in blocks of 8, 4, 2 and 1 (rows are
 * independent, so any split gives the same values). */
CK_AVX512 static inline __attribute__((always_inline)) void
rows512(const int np, const int first, const int last, const __mmask16 m0, const __mmask16 m1, const float *x, long ldx,
        const float *panel, long pstride, long kc, const float *bias, const float *res, float *out, long ldo, long rows,
        const int activation, __m512 alpha) {
    long i = 0;
#define CK_ROWS512(MR)                                                                                                     \
    micro512(MR, np, first, last, m0, m1, x + i * ldx, ldx, panel, pstride, kc, bias, res ? res + i * ldo : NULL,          \
             out + i * ldo, ldo, activation, alpha)
    for (; i + 12 <= rows; i += 12) CK_ROWS512(12);
    if (i + 8 <= rows) { CK_ROWS512(8); i += 8; }
    if (i + 4 <= rows) { CK_ROWS512(4); i += 4; }
    if (i + 2 <= rows) { CK_ROWS512(2); i += 2; }
    if (i < rows) CK_ROWS512(1);
#undef CK_ROWS512
}

static inline __mmask16 panel_mask(long valid) { return valid >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << valid) - 1u); }

CK_AVX512 static inline __attribute__((always_inline)) void
gemm_avx512_body(const float *x, long ldx, const float *packed, long k, long col0, long cols, const float *bias,
                 const float *res, float *out, long ldo, long rows, const int activation, float alpha_s) {
    const __m512 alpha = _mm512_set1_ps(alpha_s);
    const long end = col0 + cols;
    if (k <= KC) {
        /* One reduction block: rows outer (as the AVX2 body), two panels at a time. */
        for (long i = 0; i < rows; i += 12) {
            const long mr = rows - i < 12 ? rows - i : 12;
            for (long j = col0; j < end; j += 32) {
                const float *panel = packed + (j / 16) * k * 16;
                const float *bj = bias ? bias + j : NULL, *rj = res ? res + i * ldo + j : NULL;
                const __mmask16 m0 = panel_mask(end - j), m1 = panel_mask(end - j - 16);
                if (end - j > 16)
                    rows512(2, 1, 1, m0, m1, x + i * ldx, ldx, panel, k * 16, k, bj, rj, out + i * ldo + j, ldo, mr, activation, alpha);
                else
                    rows512(1, 1, 1, m0, m1, x + i * ldx, ldx, panel, k * 16, k, bj, rj, out + i * ldo + j, ldo, mr, activation, alpha);
            }
        }
        return;
    }
    for (long p0 = 0; p0 < k; p0 += KC) {
        const long kc = k - p0 < KC ? k - p0 : KC;
        const int first = p0 == 0, last = p0 + kc == k;
        for (long j = col0; j < end; j += 32) {
            const float *panel = packed + ((j / 16) * k + p0) * 16;
            const float *bj = bias ? bias + j : NULL, *rj = res ? res + j : NULL;
            const __mmask16 m0 = panel_mask(end - j), m1 = panel_mask(end - j - 16);
#define CK_PANELS512(NP, FIRST, LAST)                                                                                      \
    rows512(NP, FIRST, LAST, m0, m1, x + p0, ldx, panel, k * 16, kc, bj, rj, out + j, ldo, rows, activation, alpha)
            if (end - j > 16) {
                if (first && last) CK_PANELS512(2, 1, 1);
                else if (first) CK_PANELS512(2, 1, 0);
                else if (last) CK_PANELS512(2, 0, 1);
                else CK_PANELS512(2, 0, 0);
            } else {
                if (first && last) CK_PANELS512(1, 1, 1);
                else if (first) CK_PANELS512(1, 1, 0);
                else if (last) CK_PANELS512(1, 0, 1);
                else CK_PANELS512(1, 0, 0);
            }
#undef CK_PANELS512
        }
    }
}

CK_AVX512 static void gemm_avx512(const float *x, long ldx, const float *packed, long k, long col0, long cols, const float *bias,
                                  const float *res, float *out, long ldo, long rows, int activation, float alpha) {
    CK_SPECIALIZE_ACTIVATION(activation, act, gemm_avx512_body(x, ldx, packed, k, col0, cols, bias, res, out, ldo, rows, act, alpha))
}
#endif

void ck_gemm_packed(const float *x, long ldx, const float *packed, long k, long col0, long cols, const float *bias,
                    const float *residual, float *out, long ldo, long rows, int activation, float alpha) {
    if (rows <= 0 || cols <= 0) return;
#if CK_X86
    if (k > 0 && ck_use_avx512()) {
        gemm_avx512(x, ldx, packed, k, col0, cols, bias, residual, out, ldo, rows, activation, alpha);
        return;
    }
    if (k > 0 && ck_use_avx2()) {
        gemm_avx2(x, ldx, packed, k, col0, cols, bias, residual, out, ldo, rows, activation, alpha);
        return;
    }
#endif
    gemm_scalar(x, ldx, packed, k, col0, cols, bias, residual, out, ldo, rows, activation, alpha);
}
