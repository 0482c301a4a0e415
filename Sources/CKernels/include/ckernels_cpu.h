#ifndef CKERNELS_CPU_H
#define CKERNELS_CPU_H

/* Kernels in C for the loops Swift cannot vectorize well for the baseline x86-64 target.
 * Each entry point picks an AVX2+FMA body (some also an AVX-512 one) at run time when the CPU has
 * one, and otherwise a portable body that computes bit-identical results (fmaf for every fused
 * multiply-add), so the numbers never depend on the machine. */

enum { CK_ISA_PORTABLE = 0, CK_ISA_AVX2 = 1, CK_ISA_AVX512 = 2 };

/* 1 when the AVX2 + FMA bodies run on this CPU (decided once). */
int ck_has_avx2_fma(void);

/* 1 when the AVX-512F bodies run on this CPU (decided once). */
int ck_has_avx512f(void);

/* Use no instruction set wider than `limit` (tests compare the bodies); returns the previous limit. */
int ck_force_isa(int limit);

/* Force the portable bodies (on = 1) or allow all (on = 0); returns whether they were forced. */
int ck_force_portable(int on);

#endif
