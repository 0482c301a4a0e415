#ifndef CKERNELS_CPU_H
#define CKERNELS_CPU_H

/* Kernels in C for the loops Swift cannot vectorize well for the baseline x86-64 target.
 * Each entry point picks an AVX2+FMA body at run time when the CPU has one, and otherwise a
 * portable body that computes bit-identical results (fmaf for every fused multiply-add), so the
 * numbers never depend on the machine. */

/* 1 when the AVX2 + FMA bodies run on this CPU (decided once). */
int ck_has_avx2_fma(void);

/* Force the portable bodies (tests compare them with the AVX2 ones); returns the previous setting. */
int ck_force_portable(int on);

#endif
