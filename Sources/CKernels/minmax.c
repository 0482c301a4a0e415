#include "ckernels_internal.h"
#include "ckernels_minmax.h"

static inline __attribute__((always_inline)) void min_max_body(const float *x, long n, float *lo, float *hi) {
    float l = *lo, h = *hi;
    for (long i = 0; i < n; i++) {
        l = x[i] < l ? x[i] : l;
        h = x[i] > h ? x[i] : h;
    }
    *lo = l;
    *hi = h;
}

#if CK_X86
CK_AVX2 static void min_max_avx2(const float *x, long n, float *lo, float *hi) {
    __m256 l = _mm256_set1_ps(*lo), h = _mm256_set1_ps(*hi);
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        l = _mm256_min_ps(l, v);
        h = _mm256_max_ps(h, v);
    }
    float ls[8], hs[8];
    _mm256_storeu_ps(ls, l);
    _mm256_storeu_ps(hs, h);
    min_max_body(ls, 8, lo, hi);
    min_max_body(hs, 8, lo, hi);
    min_max_body(x + i, n - i, lo, hi);
}
#endif

void ck_min_max(const float *x, long n, float *lo, float *hi) {
    *lo = x[0];
    *hi = x[0];
#if CK_X86
    if (ck_use_avx2()) {
        min_max_avx2(x, n, lo, hi);
    } else
#endif
    min_max_body(x, n, lo, hi);
    /* -0 and +0 compare equal: which one survives depends on the order; report +0. */
    if (*lo == 0) *lo = 0.0f;
    if (*hi == 0) *hi = 0.0f;
}
