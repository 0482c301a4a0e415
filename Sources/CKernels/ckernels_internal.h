#ifndef CKERNELS_INTERNAL_H
#define CKERNELS_INTERNAL_H
/* Shared by the .c files of this target only. */
int ck_use_avx2(void);
int ck_use_avx512(void);
#include "ckernels_cpu.h"
#if defined(__x86_64__) || defined(__i386__)
#define CK_X86 1
#define CK_AVX2 __attribute__((target("avx2,fma")))
#else
#define CK_X86 0
#endif

#include "ckernels_depthwise.h" /* CK_ACTIVATION_* */

/* Runs STMT with ACT declared as the compile-time constant equal to `activation`: one instance of
   an always-inline body per activation, so its inner loops carry no switch. */
#define CK_SPECIALIZE_ACTIVATION(activation, ACT, STMT)                                                                    \
    switch (activation) {                                                                                                  \
    case CK_ACTIVATION_RELU: { const int ACT = CK_ACTIVATION_RELU; STMT; break; }                                          \
    case CK_ACTIVATION_RELU6: { const int ACT = CK_ACTIVATION_RELU6; STMT; break; }                                        \
    case CK_ACTIVATION_LEAKY_RELU: { const int ACT = CK_ACTIVATION_LEAKY_RELU; STMT; break; }                              \
    default: { const int ACT = CK_ACTIVATION_NONE; STMT; break; }                                                          \
    }

/* The activation after bias and residual, as the Swift epilogue computes it (a -0 input gives +0
 * under relu). Shared by the epilogue and pointwise kernels; depthwise keeps its own, whose relu
 * passes -0 through (its tests fix that bit pattern). */
static inline float ck_activation_scalar(float v, int activation, float alpha) {
    switch (activation) {
    case CK_ACTIVATION_RELU: return 0.f >= v ? 0.f : v;
    case CK_ACTIVATION_RELU6: {
        float r = 0.f >= v ? 0.f : v;
        return 6.f < r ? 6.f : r;
    }
    case CK_ACTIVATION_LEAKY_RELU: return v >= 0.f ? v : alpha * v;
    default: return v;
    }
}
#if CK_X86
#include <immintrin.h>
/* ck_activation_scalar on 8 lanes (same results, lane by lane). */
CK_AVX2 static inline __attribute__((always_inline)) __m256 ck_activation_avx2(__m256 v, int activation, __m256 alpha) {
    const __m256 zero = _mm256_setzero_ps();
    switch (activation) {
    case CK_ACTIVATION_RELU: return _mm256_blendv_ps(v, zero, _mm256_cmp_ps(v, zero, _CMP_LE_OQ));
    case CK_ACTIVATION_RELU6:
        return _mm256_min_ps(_mm256_set1_ps(6.f), _mm256_blendv_ps(v, zero, _mm256_cmp_ps(v, zero, _CMP_LE_OQ)));
    case CK_ACTIVATION_LEAKY_RELU:
        return _mm256_blendv_ps(_mm256_mul_ps(alpha, v), v, _mm256_cmp_ps(v, zero, _CMP_GE_OQ));
    default: return v;
    }
}
#endif
#endif
