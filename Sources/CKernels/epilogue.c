#include "ckernels_epilogue.h"
#include "ckernels_internal.h"

#if CK_X86
#include <immintrin.h>
#endif

#pragma STDC FP_CONTRACT OFF

static void epilogue_scalar(float *out, long rows, long channels, long stride, const float *bias, const float *residual,
                            int activation, float alpha) {
    for (long r = 0; r < rows; r++) {
        float *o = out + r * stride;
        const float *res = residual ? residual + r * stride : 0;
        for (long c = 0; c < channels; c++) {
            float v = o[c];
            if (bias) v = v + bias[c];
            if (res) v = v + res[c];
            o[c] = ck_activation_scalar(v, activation, alpha);
        }
    }
}

#if CK_X86
CK_AVX2 static inline __attribute__((always_inline)) void
epilogue_avx2_body(float *out, long rows, long channels, long stride, const float *bias, const float *residual,
                   const int activation, float alpha_s) {
    const __m256 alpha = _mm256_set1_ps(alpha_s);
    for (long r = 0; r < rows; r++) {
        float *o = out + r * stride;
        const float *res = residual ? residual + r * stride : 0;
        long c = 0;
        for (; c + 8 <= channels; c += 8) {
            __m256 v = _mm256_loadu_ps(o + c);
            if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + c));
            if (res) v = _mm256_add_ps(v, _mm256_loadu_ps(res + c));
            _mm256_storeu_ps(o + c, ck_activation_avx2(v, activation, alpha));
        }
        for (; c < channels; c++) {
            float v = o[c];
            if (bias) v = v + bias[c];
            if (res) v = v + res[c];
            o[c] = ck_activation_scalar(v, activation, alpha_s);
        }
    }
}

/* One instance per activation so the switch leaves the inner loop. */
CK_AVX2 static void epilogue_avx2(float *out, long rows, long channels, long stride, const float *bias, const float *residual,
                                  int activation, float alpha) {
    CK_SPECIALIZE_ACTIVATION(activation, act, epilogue_avx2_body(out, rows, channels, stride, bias, residual, act, alpha))
}
#endif

void ck_epilogue(float *out, long rows, long channels, long stride, const float *bias, const float *residual,
                 int activation, float alpha) {
    if (!bias && !residual && activation == CK_ACTIVATION_NONE) return;
#if CK_X86
    if (ck_use_avx2()) {
        epilogue_avx2(out, rows, channels, stride, bias, residual, activation, alpha);
        return;
    }
#endif
    epilogue_scalar(out, rows, channels, stride, bias, residual, activation, alpha);
}
