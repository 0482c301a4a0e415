#ifndef CKERNELS_INTERNAL_H
#define CKERNELS_INTERNAL_H
/* Shared by the .c files of this target only. */
int ck_use_avx2(void);
#if defined(__x86_64__) || defined(__i386__)
#define CK_X86 1
#define CK_AVX2 __attribute__((target("avx2,fma")))
#else
#define CK_X86 0
#endif

#include "ckernels_depthwise.h" /* CK_ACTIVATION_* */

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
#endif
