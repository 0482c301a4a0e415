#include "ckernels_internal.h"
#include "ckernels_minmax.h"

#include <math.h>

/* Returns 1 when every value is finite. */
static inline __attribute__((always_inline)) int min_max_body(const float *x, long n, float *lo, float *hi) {
    float l = *lo, h = *hi;
    int finite = 1;
    for (long i = 0; i < n; i++) {
        l = x[i] < l ? x[i] : l;
        h = x[i] > h ? x[i] : h;
        finite &= fabsf(x[i]) < INFINITY; /* false for NaN too */
    }
    *lo = l;
    *hi = h;
    return finite;
}

#if CK_X86
CK_AVX2 static int min_max_avx2(const float *x, long n, float *lo, float *hi) {
    __m256 l = _mm256_set1_ps(*lo), h = _mm256_set1_ps(*hi);
    const __m256 magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)), infinity = _mm256_set1_ps(INFINITY);
    __m256 finite = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        l = _mm256_min_ps(l, v);
        h = _mm256_max_ps(h, v);
        finite = _mm256_and_ps(finite, _mm256_cmp_ps(_mm256_and_ps(v, magnitude), infinity, _CMP_LT_OQ));
    }
    float ls[8], hs[8];
    _mm256_storeu_ps(ls, l);
    _mm256_storeu_ps(hs, h);
    const int all = _mm256_movemask_ps(finite) == 0xff;
    min_max_body(ls, 8, lo, hi);
    min_max_body(hs, 8, lo, hi);
    return min_max_body(x + i, n - i, lo, hi) && all;
}
#endif

int ck_min_max(const float *x, long n, float *lo, float *hi) {
    *lo = x[0];
    *hi = x[0];
    int finite;
#if CK_X86
    if (ck_use_avx2()) {
        finite = min_max_avx2(x, n, lo, hi);
    } else
#endif
    finite = min_max_body(x, n, lo, hi);
    /* -0 and +0 compare equal: which one survives depends on the order; report +0. */
    if (*lo == 0) *lo = 0.0f;
    if (*hi == 0) *hi = 0.0f;
    return finite;
}
