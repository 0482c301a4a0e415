#include "ckernels_cpu.h"
#include "ckernels_internal.h"

#include <stdatomic.h>

/* The widest instruction set the bodies may use: CK_ISA_PORTABLE, CK_ISA_AVX2 or CK_ISA_AVX512.
   Kernels on many threads read it and the detection caches below: relaxed atomics (every thread
   computes the same answer, so the only requirement is that no access is a data race). */
static _Atomic int isa_limit = CK_ISA_AVX512;

int ck_has_avx2_fma(void) {
#if defined(__x86_64__) || defined(__i386__)
    static _Atomic int cached = -1;
    int value = atomic_load_explicit(&cached, memory_order_relaxed);
    if (value < 0) {
        __builtin_cpu_init();
        value = (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) ? 1 : 0;
        atomic_store_explicit(&cached, value, memory_order_relaxed);
    }
    return value;
#else
    return 0;
#endif
}

int ck_has_avx512f(void) {
#if defined(__x86_64__) || defined(__i386__)
    static _Atomic int cached = -1;
    int value = atomic_load_explicit(&cached, memory_order_relaxed);
    if (value < 0) {
        __builtin_cpu_init();
        value = (ck_has_avx2_fma() && __builtin_cpu_supports("avx512f")) ? 1 : 0;
        atomic_store_explicit(&cached, value, memory_order_relaxed);
    }
    return value;
#else
    return 0;
#endif
}

int ck_force_isa(int limit) {
    return atomic_exchange_explicit(&isa_limit, limit, memory_order_relaxed);
}

int ck_force_portable(int on) {
    return atomic_exchange_explicit(&isa_limit, on ? CK_ISA_PORTABLE : CK_ISA_AVX512, memory_order_relaxed) == CK_ISA_PORTABLE;
}

static int limit(void) { return atomic_load_explicit(&isa_limit, memory_order_relaxed); }

int ck_use_avx2(void) { return limit() >= CK_ISA_AVX2 && ck_has_avx2_fma(); }

int ck_use_avx512(void) { return limit() >= CK_ISA_AVX512 && ck_has_avx512f(); }
