#include <math.h>
#include <stddef.h>

#include "ckernels_depthwise.h"
#include "ckernels_internal.h"

#if CK_X86
#include <immintrin.h>
#endif

/* Every multiply-add below is an explicit fmaf / _mm256_fmadd_ps; nothing else may be fused. */
#pragma STDC FP_CONTRACT OFF

/* The taps t in [lo, hi) of [0, k) with 0 <= base + t * d < size. */
static inline void tap_range(long base, long d, long k, long size, long *lo, long *hi) {
    long a = base >= 0 ? 0 : (-base + d - 1) / d;
    long b = base > size - 1 ? 0 : (size - 1 - base) / d + 1;
    if (a > k) a = k;
    if (b > k) b = k;
    if (b < a) b = a;
    *lo = a;
    *hi = b;
}

static inline float activation_scalar(float v, int activation, float alpha) {
    switch (activation) {
    case CK_ACTIVATION_RELU: return 0.f > v ? 0.f : v;
    case CK_ACTIVATION_RELU6: {
        float r = 0.f > v ? 0.f : v;
        return 6.f < r ? 6.f : r;
    }
    case CK_ACTIVATION_LEAKY_RELU: return v >= 0.f ? v : alpha * v;
    default: return v;
    }
}

/* One output pixel, all channels, scalar: the portable body for every multiplier, and the only
 * body for multiplier > 1. The output doubles as the accumulator (taps outer, channels inner),
 * which keeps the per-value order of the header. */
static void pixel_scalar(const ck_depthwise_params *p, const float *image, const float *filter, const float *bias,
                         const float *res, float *out, long oh, long ow) {
    const long C = p->channels, M = p->multiplier, OC = C * M;
    const long ihb = oh * p->stride_h - p->pad_top, iwb = ow * p->stride_w - p->pad_left;
    long kh0, kh1, kw0, kw1;
    tap_range(ihb, p->dilation_h, p->kernel_h, p->in_h, &kh0, &kh1);
    tap_range(iwb, p->dilation_w, p->kernel_w, p->in_w, &kw0, &kw1);
    for (long oc = 0; oc < OC; oc++) out[oc] = bias ? bias[oc] : 0.f;
    for (long kh = kh0; kh < kh1; kh++) {
        const float *row = image + (ihb - p->in_row_begin + kh * p->dilation_h) * p->in_w * C;
        for (long kw = kw0; kw < kw1; kw++) {
            const float *x = row + (iwb + kw * p->dilation_w) * C;
            const float *w = filter + (kh * p->kernel_w + kw) * OC;
            if (M == 1) {
                for (long c = 0; c < C; c++) out[c] = fmaf(x[c], w[c], out[c]);
            } else {
                for (long c = 0; c < C; c++)
                    for (long q = 0; q < M; q++) out[c * M + q] = fmaf(x[c], w[c * M + q], out[c * M + q]);
            }
        }
    }
    for (long oc = 0; oc < OC; oc++) {
        float v = out[oc];
        if (res) v = v + res[oc];
        out[oc] = activation_scalar(v, p->activation, p->alpha);
    }
}

static void row_scalar(const ck_depthwise_params *p, const float *input, const float *filter, const float *bias,
                       const float *residual, float *output, long r) {
    const long OC = p->channels * p->multiplier;
    const long n = r / p->out_h, oh = r % p->out_h;
    const float *image = input + n * p->in_h * p->in_w * p->channels;
    for (long ow = 0; ow < p->out_w; ow++) {
        const long o = (r * p->out_w + ow) * OC;
        pixel_scalar(p, image, filter, bias, residual ? residual + o : NULL, output + o, oh, ow);
    }
}

#if CK_X86

static const int tail_masks[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

/* Lanes 0..<n on (1 <= n <= 8). */
CK_AVX2 static inline __m256i lanes(long n) { return _mm256_loadu_si256((const __m256i *)(tail_masks + 8 - n)); }

/* Full vectors load/store plainly; the channel tail (masked) goes through maskload/maskstore, which
 * compute the same lanes. `full` is a compile-time constant after inlining. */
#define LOAD(ptr) (full ? _mm256_loadu_ps(ptr) : _mm256_maskload_ps((ptr), mask))
#define STORE(ptr, v) do { if (full) _mm256_storeu_ps((ptr), (v)); else _mm256_maskstore_ps((ptr), mask, (v)); } while (0)

CK_AVX2 static inline __attribute__((always_inline)) __m256 activation_avx2(__m256 v, int activation, __m256 alpha) {
    const __m256 zero = _mm256_setzero_ps();
    switch (activation) {
    case CK_ACTIVATION_RELU: return _mm256_max_ps(zero, v);                                     /* 0 > v ? 0 : v */
    case CK_ACTIVATION_RELU6: return _mm256_min_ps(_mm256_set1_ps(6.f), _mm256_max_ps(zero, v)); /* 6 < r ? 6 : r */
    case CK_ACTIVATION_LEAKY_RELU:
        return _mm256_blendv_ps(_mm256_mul_ps(alpha, v), v, _mm256_cmp_ps(v, zero, _CMP_GE_OQ));
    default: return v;
    }
}

/* One output pixel, eight (or the `mask`ed tail of) channels from c, taps kh0..<kh1 x kw0..<kw1. */
CK_AVX2 static inline __attribute__((always_inline)) void
pixel_block_avx2(const int full, const __m256i mask, const float *x, long row_step, long col_step, const float *w,
                 long w_row_step, long C, long nkh, long kw0, long kw1, const float *bias, const float *res, float *out,
                 int activation, __m256 alpha) {
    __m256 acc = bias ? LOAD(bias) : _mm256_setzero_ps();
    for (long kh = 0; kh < nkh; kh++) {
        const float *xr = x + kh * row_step, *wr = w + kh * w_row_step;
        for (long kw = kw0; kw < kw1; kw++) acc = _mm256_fmadd_ps(LOAD(xr + kw * col_step), LOAD(wr + kw * C), acc);
    }
    if (res) acc = _mm256_add_ps(acc, LOAD(res));
    STORE(out, activation_avx2(acc, activation, alpha));
}

/* One output pixel (any position: the taps outside the input are skipped), all channels. */
CK_AVX2 static void pixel_avx2(const ck_depthwise_params *p, const float *image, const float *filter, const float *bias,
                               const float *res, float *out, long ihb, long kh0, long kh1, long ow, __m256 alpha) {
    const long C = p->channels;
    const long iwb = ow * p->stride_w - p->pad_left;
    long kw0, kw1;
    tap_range(iwb, p->dilation_w, p->kernel_w, p->in_w, &kw0, &kw1);
    /* x + kw * col_step is tap (kh0, kw)'s input pixel. */
    const float *x = image + ((ihb - p->in_row_begin + kh0 * p->dilation_h) * p->in_w + iwb) * C;
    const long row_step = p->dilation_h * p->in_w * C, col_step = p->dilation_w * C;
    const float *w = filter + kh0 * p->kernel_w * C;
    const long w_row_step = p->kernel_w * C;
    const __m256i all = _mm256_set1_epi32(-1);
    long c = 0;
    for (; c + 8 <= C; c += 8)
        pixel_block_avx2(1, all, x + c, row_step, col_step, w + c, w_row_step, C, kh1 - kh0, kw0, kw1, bias ? bias + c : NULL,
                         res ? res + c : NULL, out + c, p->activation, alpha);
    if (c < C)
        pixel_block_avx2(0, lanes(C - c), x + c, row_step, col_step, w + c, w_row_step, C, kh1 - kh0, kw0, kw1,
                         bias ? bias + c : NULL, res ? res + c : NULL, out + c, p->activation, alpha);
}

/* Four neighbouring interior output pixels (every kw tap inside the input), eight (or the masked
 * tail of) channels: four independent accumulators share each filter vector. */
#define PIXELS 4
CK_AVX2 static inline __attribute__((always_inline)) void
interior_block_avx2(const int full, const __m256i mask, const float *x, long pixel_step, long row_step, long col_step,
                    const float *w, long w_row_step, long C, long nkh, long kw_count, const float *bias, const float *res,
                    float *out, int activation, __m256 alpha) {
    __m256 a0, a1, a2, a3;
    a0 = bias ? LOAD(bias) : _mm256_setzero_ps();
    a1 = a0;
    a2 = a0;
    a3 = a0;
    for (long kh = 0; kh < nkh; kh++) {
        const float *xr = x + kh * row_step, *wr = w + kh * w_row_step;
        for (long kw = 0; kw < kw_count; kw++) {
            const __m256 f = LOAD(wr + kw * C);
            const float *xp = xr + kw * col_step;
            a0 = _mm256_fmadd_ps(LOAD(xp), f, a0);
            a1 = _mm256_fmadd_ps(LOAD(xp + pixel_step), f, a1);
            a2 = _mm256_fmadd_ps(LOAD(xp + 2 * pixel_step), f, a2);
            a3 = _mm256_fmadd_ps(LOAD(xp + 3 * pixel_step), f, a3);
        }
    }
    if (res) {
        a0 = _mm256_add_ps(a0, LOAD(res));
        a1 = _mm256_add_ps(a1, LOAD(res + C));
        a2 = _mm256_add_ps(a2, LOAD(res + 2 * C));
        a3 = _mm256_add_ps(a3, LOAD(res + 3 * C));
    }
    STORE(out, activation_avx2(a0, activation, alpha));
    STORE(out + C, activation_avx2(a1, activation, alpha));
    STORE(out + 2 * C, activation_avx2(a2, activation, alpha));
    STORE(out + 3 * C, activation_avx2(a3, activation, alpha));
}

/* Hides a value from the optimizer so that addresses base + k * v are formed in the loop (one
 * lea each) instead of being hoisted into dozens of spilled pointers. */
#define OPAQUE(v) __asm__("" : "+r"(v))

/* 3x3, dilation 1, all three kernel rows inside the input: `pixels` (4 or 1) interior output pixels
 * at column stride `sw` (1 or 2), eight (or the masked tail of) channels. Each kernel row's input
 * columns are loaded once and shared by the pixels' accumulators. */
CK_AVX2 static inline __attribute__((always_inline)) void
block_3x3_avx2(const int full, const __m256i mask, const int pixels, const int sw, const float *x, long row_step, long C,
               const float *w, const float *bias, const float *res, float *out, int activation, __m256 alpha) {
    long cs = C;
    OPAQUE(cs);
    __m256 a[4];
    a[0] = bias ? LOAD(bias) : _mm256_setzero_ps();
    for (int j = 1; j < pixels; j++) a[j] = a[0];
    for (int kh = 0; kh < 3; kh++) {
        const float *xr = x + kh * row_step;
        __m256 col[9];
        const int columns = (pixels - 1) * sw + 3;
        for (int t = 0; t < columns; t++) col[t] = LOAD(xr + t * cs);
        for (int kw = 0; kw < 3; kw++) {
            const __m256 f = LOAD(w + (kh * 3 + kw) * cs);
            for (int j = 0; j < pixels; j++) a[j] = _mm256_fmadd_ps(col[j * sw + kw], f, a[j]);
        }
    }
    for (int j = 0; j < pixels; j++) {
        __m256 v = a[j];
        if (res) v = _mm256_add_ps(v, LOAD(res + j * cs));
        STORE(out + j * cs, activation_avx2(v, activation, alpha));
    }
}

CK_AVX2 static inline __attribute__((always_inline)) void
pixels_3x3_avx2(const int pixels, const int sw, const ck_depthwise_params *p, const float *x, const float *w, const float *bias,
                const float *res, float *out, __m256 alpha) {
    const long C = p->channels, row_step = p->in_w * C;
    const __m256i all = _mm256_set1_epi32(-1);
    long c = 0;
    for (; c + 8 <= C; c += 8)
        block_3x3_avx2(1, all, pixels, sw, x + c, row_step, C, w + c, bias ? bias + c : NULL, res ? res + c : NULL, out + c,
                       p->activation, alpha);
    if (c < C)
        block_3x3_avx2(0, lanes(C - c), pixels, sw, x + c, row_step, C, w + c, bias ? bias + c : NULL, res ? res + c : NULL,
                       out + c, p->activation, alpha);
}

/* The 4-pixel 3x3 blocks, one instance per column stride and activation (the activation switch
 * leaves the channel loop). */
typedef void (*block4_fn)(const ck_depthwise_params *, const float *, const float *, const float *, const float *, float *,
                          __m256);
#define BLOCK4(sw, act)                                                                                                     \
    CK_AVX2 static __attribute__((noinline)) void pixels4_3x3_s##sw##_##act(const ck_depthwise_params *p, const float *x,    \
                                                                            const float *w, const float *bias,              \
                                                                            const float *res, float *out, __m256 alpha) {   \
        ck_depthwise_params q = *p;                                                                                         \
        q.activation = act;                                                                                                 \
        pixels_3x3_avx2(4, sw, &q, x, w, bias, res, out, alpha);                                                            \
    }
BLOCK4(1, 0)
BLOCK4(1, 1)
BLOCK4(1, 2)
BLOCK4(1, 3)
BLOCK4(2, 0)
BLOCK4(2, 1)
BLOCK4(2, 2)
BLOCK4(2, 3)
#undef BLOCK4
static const block4_fn blocks4_3x3[2][4] = {
    {pixels4_3x3_s1_0, pixels4_3x3_s1_1, pixels4_3x3_s1_2, pixels4_3x3_s1_3},
    {pixels4_3x3_s2_0, pixels4_3x3_s2_1, pixels4_3x3_s2_2, pixels4_3x3_s2_3},
};

CK_AVX2 static void pixel1_3x3_avx2(const ck_depthwise_params *p, const float *x, const float *w, const float *bias,
                                    const float *res, float *out, __m256 alpha) {
    pixels_3x3_avx2(1, 1, p, x, w, bias, res, out, alpha);
}

/* PIXELS interior pixels from ow, all channels; nkh and kw_count are constants in the 3x3 instance. */
CK_AVX2 static inline __attribute__((always_inline)) void
interior_pixels_avx2(const ck_depthwise_params *p, const float *x, const float *w, long nkh, long kw_count,
                     const float *bias, const float *res, float *out, __m256 alpha) {
    const long C = p->channels;
    const long pixel_step = p->stride_w * C, row_step = p->dilation_h * p->in_w * C, col_step = p->dilation_w * C;
    const long w_row_step = p->kernel_w * C;
    const __m256i all = _mm256_set1_epi32(-1);
    long c = 0;
    for (; c + 8 <= C; c += 8)
        interior_block_avx2(1, all, x + c, pixel_step, row_step, col_step, w + c, w_row_step, C, nkh, kw_count,
                            bias ? bias + c : NULL, res ? res + c : NULL, out + c, p->activation, alpha);
    if (c < C)
        interior_block_avx2(0, lanes(C - c), x + c, pixel_step, row_step, col_step, w + c, w_row_step, C, nkh, kw_count,
                            bias ? bias + c : NULL, res ? res + c : NULL, out + c, p->activation, alpha);
}

CK_AVX2 static void interior_pixels_any_avx2(const ck_depthwise_params *p, const float *x, const float *w, long nkh,
                                             const float *bias, const float *res, float *out, __m256 alpha) {
    interior_pixels_avx2(p, x, w, nkh, p->kernel_w, bias, res, out, alpha);
}

CK_AVX2 static void row_avx2(const ck_depthwise_params *p, const float *input, const float *filter, const float *bias,
                             const float *residual, float *output, long r) {
    const long C = p->channels;
    const long n = r / p->out_h, oh = r % p->out_h;
    const float *image = input + n * p->in_h * p->in_w * C;
    float *out_row = output + r * p->out_w * C;
    const float *res_row = residual ? residual + r * p->out_w * C : NULL;
    const __m256 alpha = _mm256_set1_ps(p->alpha);
    const long ihb = oh * p->stride_h - p->pad_top;
    long kh0, kh1;
    tap_range(ihb, p->dilation_h, p->kernel_h, p->in_h, &kh0, &kh1);
    /* Interior columns: ow * stride_w - pad_left >= 0 and ... + (kernel_w - 1) * dilation_w <= in_w - 1. */
    long lo = p->pad_left <= 0 ? 0 : (p->pad_left + p->stride_w - 1) / p->stride_w;
    const long last = p->in_w - 1 + p->pad_left - (p->kernel_w - 1) * p->dilation_w;
    long hi = last < 0 ? 0 : last / p->stride_w + 1;
    if (lo > p->out_w) lo = p->out_w;
    if (hi > p->out_w) hi = p->out_w;
    if (hi < lo) hi = lo;
    const long nkh = kh1 - kh0;
    const int three = p->kernel_h == 3 && p->kernel_w == 3 && nkh == 3 && p->dilation_h == 1 && p->dilation_w == 1;
    const int three_s = three && (p->stride_w == 1 || p->stride_w == 2);
    const float *w = filter + kh0 * p->kernel_w * C;
    const block4_fn block4 = three_s && p->activation >= 0 && p->activation <= 3 ? blocks4_3x3[p->stride_w - 1][p->activation] : NULL;
    long ow = 0;
    for (; ow < lo; ow++)
        pixel_avx2(p, image, filter, bias, res_row ? res_row + ow * C : NULL, out_row + ow * C, ihb, kh0, kh1, ow, alpha);
    for (; ow + PIXELS <= hi; ow += PIXELS) {
        const float *x = image + ((ihb - p->in_row_begin + kh0 * p->dilation_h) * p->in_w + ow * p->stride_w - p->pad_left) * C;
        const float *res = res_row ? res_row + ow * C : NULL;
        if (block4)
            block4(p, x, w, bias, res, out_row + ow * C, alpha);
        else
            interior_pixels_any_avx2(p, x, w, nkh, bias, res, out_row + ow * C, alpha);
    }
    if (three)
        for (; ow < hi; ow++) {
            const float *x = image + ((ihb - p->in_row_begin) * p->in_w + ow * p->stride_w - p->pad_left) * C;
            pixel1_3x3_avx2(p, x, w, bias, res_row ? res_row + ow * C : NULL, out_row + ow * C, alpha);
        }
    for (; ow < p->out_w; ow++)
        pixel_avx2(p, image, filter, bias, res_row ? res_row + ow * C : NULL, out_row + ow * C, ihb, kh0, kh1, ow, alpha);
}

#undef LOAD
#undef STORE
#endif

void ck_depthwise_conv2d_rows(ck_depthwise_params p, const float *input, const float *filter, const float *bias,
                              const float *residual, float *output, long row_begin, long row_end) {
#if CK_X86
    if (p.multiplier == 1 && ck_use_avx2()) {
        for (long r = row_begin; r < row_end; r++) row_avx2(&p, input, filter, bias, residual, output, r);
        return;
    }
#endif
    for (long r = row_begin; r < row_end; r++) row_scalar(&p, input, filter, bias, residual, output, r);
}
