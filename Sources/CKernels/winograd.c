/* Winograd F(4x4, 3x3): filter, input and output transforms (see ckernels_winograd.h).
 * The AVX2 bodies keep 8 channels per register; the portable bodies run the same operations
 * channel by channel, with fmaf exactly where the AVX2 bodies use an FMA, so both give
 * bit-identical results. FP_CONTRACT is off so the compiler never fuses the plain mul/adds. */
#pragma STDC FP_CONTRACT OFF

#include <math.h>
#include <stddef.h>
#include "ckernels_winograd.h"
#include "ckernels_internal.h"
#if CK_X86
#include <immintrin.h>
#endif

/* One 1-D input transform r = B^T d (six values), written once for both bodies. */
#define WINO_IN1D(FMA, ADD, SUB, K, d0, d1, d2, d3, d4, d5, r0, r1, r2, r3, r4, r5) \
    do {                                                                          \
        __typeof__(d0) t0_ = FMA(K(-4.0f), d2, d4); /* d4 - 4 d2 */              \
        __typeof__(d0) t1_ = FMA(K(-4.0f), d1, d3); /* d3 - 4 d1 */              \
        __typeof__(d0) t2_ = SUB(d4, d2);                                         \
        __typeof__(d0) t3_ = SUB(d3, d1);                                         \
        r0 = FMA(K(-5.0f), d2, FMA(K(4.0f), d0, d4));                             \
        r1 = ADD(t0_, t1_);                                                       \
        r2 = SUB(t0_, t1_);                                                       \
        r3 = FMA(K(2.0f), t3_, t2_);                                              \
        r4 = FMA(K(-2.0f), t3_, t2_);                                             \
        r5 = FMA(K(-5.0f), d3, FMA(K(4.0f), d1, d5));                             \
    } while (0)

/* One 1-D output transform y = A^T m (six values in, four out). */
#define WINO_OUT1D(FMA, ADD, SUB, K, m0, m1, m2, m3, m4, m5, y0, y1, y2, y3) \
    do {                                                                  \
        __typeof__(m0) a_ = ADD(m1, m2);                                  \
        __typeof__(m0) b_ = SUB(m1, m2);                                  \
        __typeof__(m0) c_ = ADD(m3, m4);                                  \
        __typeof__(m0) d_ = SUB(m3, m4);                                  \
        y0 = ADD(ADD(m0, a_), c_);                                        \
        y1 = FMA(K(2.0f), d_, b_);                                        \
        y2 = FMA(K(4.0f), c_, a_);                                        \
        y3 = ADD(FMA(K(8.0f), d_, b_), m5);                               \
    } while (0)

#define S_FMA(a, b, c) fmaf(a, b, c)
#define S_ADD(a, b) ((a) + (b))
#define S_SUB(a, b) ((a) - (b))
#define S_K(v) (v)

/* ---- filter ---- */

void ck_wino43_filter(const float *hwio, int cin, int cout, float *u) {
    static const double G[6][3] = {
        {1.0 / 4, 0, 0},
        {-1.0 / 6, -1.0 / 6, -1.0 / 6},
        {-1.0 / 6, 1.0 / 6, -1.0 / 6},
        {1.0 / 24, 1.0 / 12, 1.0 / 6},
        {1.0 / 24, -1.0 / 12, 1.0 / 6},
        {0, 0, 1},
    };
    enum { B = 64 };
    const size_t plane = (size_t)cin * cout;
    /* Blocks of B output channels, contiguous in both the filter and U (the loops vectorize). */
    for (int ci = 0; ci < cin; ci++) {
        for (int co0 = 0; co0 < cout; co0 += B) {
            int nb = cout - co0 < B ? cout - co0 : B;
            double t[6][3][B];
            for (int i = 0; i < 6; i++)
                for (int kw = 0; kw < 3; kw++) {
                    const float *g0 = hwio + ((size_t)(0 * 3 + kw) * cin + ci) * cout + co0;
                    const float *g1 = hwio + ((size_t)(1 * 3 + kw) * cin + ci) * cout + co0;
                    const float *g2 = hwio + ((size_t)(2 * 3 + kw) * cin + ci) * cout + co0;
                    for (int k = 0; k < nb; k++)
                        t[i][kw][k] = G[i][0] * (double)g0[k] + G[i][1] * (double)g1[k] + G[i][2] * (double)g2[k];
                }
            for (int i = 0; i < 6; i++)
                for (int j = 0; j < 6; j++) {
                    float *dst = u + (size_t)(i * 6 + j) * plane + (size_t)ci * cout + co0;
                    for (int k = 0; k < nb; k++) dst[k] = (float)(t[i][0][k] * G[j][0] + t[i][1][k] * G[j][1] + t[i][2][k] * G[j][2]);
                }
        }
    }
}

/* ---- tiles ---- */

typedef struct {
    int n, th, tw;
} tile_pos;

static inline tile_pos tile_at(int tile, int tiles_h, int tiles_w) {
    tile_pos p;
    int per = tiles_h * tiles_w;
    p.n = tile / per;
    int r = tile % per;
    p.th = r / tiles_w;
    p.tw = r % tiles_w;
    return p;
}

/* The 36 source pixels of a tile (NULL outside the input). */
static inline void input_pointers(const float *x, int h, int w, int c, int pad_top, int pad_left, tile_pos p,
                                  const float *src[36]) {
    int ih0 = p.th * 4 - pad_top, iw0 = p.tw * 4 - pad_left;
    for (int i = 0; i < 6; i++) {
        int ih = ih0 + i;
        for (int j = 0; j < 6; j++) {
            int iw = iw0 + j;
            src[i * 6 + j] = (ih >= 0 && ih < h && iw >= 0 && iw < w) ? x + (((size_t)p.n * h + ih) * w + iw) * c : NULL;
        }
    }
}

/* ---- input transform ---- */

static void input_portable(const float *x, int h, int w, int c, int pad_top, int pad_left, int tiles_h, int tiles_w,
                           int tile0, int ntiles, float *v, int ldt) {
    for (int t = 0; t < ntiles; t++) {
        const float *src[36];
        input_pointers(x, h, w, c, pad_top, pad_left, tile_at(tile0 + t, tiles_h, tiles_w), src);
        for (int ch = 0; ch < c; ch++) {
            float d[6][6], s[6][6];
            for (int e = 0; e < 36; e++) d[e / 6][e % 6] = src[e] ? src[e][ch] : 0.0f;
            for (int j = 0; j < 6; j++)
                WINO_IN1D(S_FMA, S_ADD, S_SUB, S_K, d[0][j], d[1][j], d[2][j], d[3][j], d[4][j], d[5][j], s[0][j], s[1][j],
                          s[2][j], s[3][j], s[4][j], s[5][j]);
            for (int i = 0; i < 6; i++) {
                float r[6];
                WINO_IN1D(S_FMA, S_ADD, S_SUB, S_K, s[i][0], s[i][1], s[i][2], s[i][3], s[i][4], s[i][5], r[0], r[1], r[2],
                          r[3], r[4], r[5]);
                for (int j = 0; j < 6; j++) v[((size_t)(i * 6 + j) * ldt + t) * c + ch] = r[j];
            }
        }
    }
}

/* ---- output transform ---- */

static inline float activate_scalar(float y, int activation, float alpha) {
    switch (activation) {
    case CK_ACT_RELU: return y > 0.0f ? y : 0.0f;                 /* _mm256_max_ps(y, 0) */
    case CK_ACT_RELU6: {
        float r = y > 0.0f ? y : 0.0f;
        return r < 6.0f ? r : 6.0f;                                   /* _mm256_min_ps(r, 6) */
    }
    case CK_ACT_LEAKY: return y >= 0.0f ? y : alpha * y;
    default: return y;
    }
}

static void output_portable(const float *m, int ldm, int ldt, int ntiles, int tile0, int tiles_h, int tiles_w, int out_h, int out_w,
                            int cout, int c0, int nc, const float *bias, const float *residual, int activation, float alpha,
                            float *y) {
    for (int t = 0; t < ntiles; t++) {
        tile_pos p = tile_at(tile0 + t, tiles_h, tiles_w);
        int oh0 = p.th * 4, ow0 = p.tw * 4;
        int rows = out_h - oh0 < 4 ? out_h - oh0 : 4, cols = out_w - ow0 < 4 ? out_w - ow0 : 4;
        for (int k = 0; k < nc; k++) {
            float a[6][6], z[4][6];
            for (int e = 0; e < 36; e++) a[e / 6][e % 6] = m[((size_t)e * ldt + t) * ldm + k];
            for (int j = 0; j < 6; j++)
                WINO_OUT1D(S_FMA, S_ADD, S_SUB, S_K, a[0][j], a[1][j], a[2][j], a[3][j], a[4][j], a[5][j], z[0][j], z[1][j],
                           z[2][j], z[3][j]);
            for (int i = 0; i < rows; i++) {
                float r[4];
                WINO_OUT1D(S_FMA, S_ADD, S_SUB, S_K, z[i][0], z[i][1], z[i][2], z[i][3], z[i][4], z[i][5], r[0], r[1], r[2], r[3]);
                for (int j = 0; j < cols; j++) {
                    size_t o = (((size_t)p.n * out_h + oh0 + i) * out_w + ow0 + j) * cout + c0 + k;
                    float val = r[j];
                    if (bias) val = val + bias[c0 + k];
                    if (residual) val = val + residual[o];
                    y[o] = activate_scalar(val, activation, alpha);
                }
            }
        }
    }
}

/* ---- AVX2 + FMA bodies ---- */

#if CK_X86
#define V_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define V_ADD(a, b) _mm256_add_ps(a, b)
#define V_SUB(a, b) _mm256_sub_ps(a, b)
#define V_K(v) _mm256_set1_ps(v)

/* Lane masks for the last (c % 8) channels. */
CK_AVX2 static inline __m256i tail_mask(int n) {
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lanes);
}

CK_AVX2 static void input_avx2(const float *x, int h, int w, int c, int pad_top, int pad_left, int tiles_h, int tiles_w,
                               int tile0, int ntiles, float *v, int ldt) {
    const size_t estride = (size_t)ldt * c;
    for (int t = 0; t < ntiles; t++) {
        const float *src[36];
        input_pointers(x, h, w, c, pad_top, pad_left, tile_at(tile0 + t, tiles_h, tiles_w), src);
        float *dst = v + (size_t)t * c;
        for (int ch = 0; ch < c; ch += 8) {
            int full = c - ch >= 8;
            __m256i mask = tail_mask(c - ch);
            __m256 d[6][6], s[6][6];
            for (int e = 0; e < 36; e++) {
                const float *p = src[e];
                d[e / 6][e % 6] = p ? (full ? _mm256_loadu_ps(p + ch) : _mm256_maskload_ps(p + ch, mask)) : _mm256_setzero_ps();
            }
            for (int j = 0; j < 6; j++)
                WINO_IN1D(V_FMA, V_ADD, V_SUB, V_K, d[0][j], d[1][j], d[2][j], d[3][j], d[4][j], d[5][j], s[0][j], s[1][j],
                          s[2][j], s[3][j], s[4][j], s[5][j]);
            for (int i = 0; i < 6; i++) {
                __m256 r[6];
                WINO_IN1D(V_FMA, V_ADD, V_SUB, V_K, s[i][0], s[i][1], s[i][2], s[i][3], s[i][4], s[i][5], r[0], r[1], r[2],
                          r[3], r[4], r[5]);
                for (int j = 0; j < 6; j++) {
                    float *o = dst + (size_t)(i * 6 + j) * estride + ch;
                    if (full) _mm256_storeu_ps(o, r[j]);
                    else _mm256_maskstore_ps(o, mask, r[j]);
                }
            }
        }
    }
}

CK_AVX2 static inline __m256 activate_avx2(__m256 y, int activation, __m256 alpha) {
    const __m256 zero = _mm256_setzero_ps();
    switch (activation) {
    case CK_ACT_RELU: return _mm256_max_ps(y, zero);
    case CK_ACT_RELU6: return _mm256_min_ps(_mm256_max_ps(y, zero), _mm256_set1_ps(6.0f));
    case CK_ACT_LEAKY: return _mm256_blendv_ps(_mm256_mul_ps(alpha, y), y, _mm256_cmp_ps(y, zero, _CMP_GE_OQ));
    default: return y;
    }
}

CK_AVX2 static void output_avx2(const float *m, int ldm, int ldt, int ntiles, int tile0, int tiles_h, int tiles_w, int out_h, int out_w,
                                int cout, int c0, int nc, const float *bias, const float *residual, int activation,
                                float alpha, float *y) {
    const size_t estride = (size_t)ldt * ldm;
    const __m256 valpha = _mm256_set1_ps(alpha);
    for (int t = 0; t < ntiles; t++) {
        tile_pos p = tile_at(tile0 + t, tiles_h, tiles_w);
        int oh0 = p.th * 4, ow0 = p.tw * 4;
        int rows = out_h - oh0 < 4 ? out_h - oh0 : 4, cols = out_w - ow0 < 4 ? out_w - ow0 : 4;
        const float *src = m + (size_t)t * ldm;
        for (int k = 0; k < nc; k += 8) {
            int full = nc - k >= 8;
            __m256i mask = tail_mask(nc - k);
            __m256 a[6][6], z[4][6];
            for (int e = 0; e < 36; e++) {
                const float *q = src + (size_t)e * estride + k;
                a[e / 6][e % 6] = full ? _mm256_loadu_ps(q) : _mm256_maskload_ps(q, mask);
            }
            for (int j = 0; j < 6; j++)
                WINO_OUT1D(V_FMA, V_ADD, V_SUB, V_K, a[0][j], a[1][j], a[2][j], a[3][j], a[4][j], a[5][j], z[0][j], z[1][j],
                           z[2][j], z[3][j]);
            __m256 vb = _mm256_setzero_ps();
            if (bias) vb = full ? _mm256_loadu_ps(bias + c0 + k) : _mm256_maskload_ps(bias + c0 + k, mask);
            for (int i = 0; i < rows; i++) {
                __m256 r[4];
                WINO_OUT1D(V_FMA, V_ADD, V_SUB, V_K, z[i][0], z[i][1], z[i][2], z[i][3], z[i][4], z[i][5], r[0], r[1], r[2], r[3]);
                for (int j = 0; j < cols; j++) {
                    size_t o = (((size_t)p.n * out_h + oh0 + i) * out_w + ow0 + j) * cout + c0 + k;
                    __m256 val = r[j];
                    if (bias) val = _mm256_add_ps(val, vb);
                    if (residual) val = _mm256_add_ps(val, full ? _mm256_loadu_ps(residual + o) : _mm256_maskload_ps(residual + o, mask));
                    val = activate_avx2(val, activation, valpha);
                    if (full) _mm256_storeu_ps(y + o, val);
                    else _mm256_maskstore_ps(y + o, mask, val);
                }
            }
        }
    }
}
#endif

/* ---- entry points ---- */

void ck_wino43_input(const float *x, int h, int w, int c, int pad_top, int pad_left, int tiles_h, int tiles_w,
                     int tile0, int ntiles, float *v, int ldt) {
#if CK_X86
    if (ck_use_avx2()) {
        input_avx2(x, h, w, c, pad_top, pad_left, tiles_h, tiles_w, tile0, ntiles, v, ldt);
        return;
    }
#endif
    input_portable(x, h, w, c, pad_top, pad_left, tiles_h, tiles_w, tile0, ntiles, v, ldt);
}

void ck_wino43_output(const float *m, int ldm, int ldt, int ntiles, int tile0, int tiles_h, int tiles_w, int out_h, int out_w,
                      int cout, int c0, int nc, const float *bias, const float *residual, int activation, float alpha,
                      float *y) {
#if CK_X86
    if (ck_use_avx2()) {
        output_avx2(m, ldm, ldt, ntiles, tile0, tiles_h, tiles_w, out_h, out_w, cout, c0, nc, bias, residual, activation, alpha, y);
        return;
    }
#endif
    output_portable(m, ldm, ldt, ntiles, tile0, tiles_h, tiles_w, out_h, out_w, cout, c0, nc, bias, residual, activation, alpha, y);
}
