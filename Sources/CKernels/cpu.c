#include "ckernels_cpu.h"
#include "ckernels_internal.h"

static int forced_portable = 0;

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

int ck_force_portable(int on) {
    int previous = forced_portable;
    forced_portable = on;
    return previous;
}

int ck_use_avx2(void) { return !forced_portable && ck_has_avx2_fma(); }
