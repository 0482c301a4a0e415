#include "ckernels_cpu.h"
#include "ckernels_internal.h"

/* The widest instruction set the bodies may use: CK_ISA_PORTABLE, CK_ISA_AVX2 or CK_ISA_AVX512. */
static int isa_limit = CK_ISA_AVX512;

int ck_has_avx2_fma(void) {
#if defined(__x86_64__) || defined(__i386__)
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) ? 1 : 0;
    }
    return cached;
#else
    return 0;
#endif
}

int ck_has_avx512f(void) {
#if defined(__x86_64__) || defined(__i386__)
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = (ck_has_avx2_fma() && __builtin_cpu_supports("avx512f")) ? 1 : 0;
    }
    return cached;
#else
    return 0;
#endif
}

int ck_force_isa(int limit) {
    int previous = isa_limit;
    isa_limit = limit;
    return previous;
}

int ck_force_portable(int on) {
    int previous = isa_limit == CK_ISA_PORTABLE;
    isa_limit = on ? CK_ISA_PORTABLE : CK_ISA_AVX512;
    return previous;
}

int ck_use_avx2(void) { return isa_limit >= CK_ISA_AVX2 && ck_has_avx2_fma(); }

int ck_use_avx512(void) { return isa_limit >= CK_ISA_AVX512 && ck_has_avx512f(); }
