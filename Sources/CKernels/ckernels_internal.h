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
#endif
