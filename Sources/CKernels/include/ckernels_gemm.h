#ifndef CKERNELS_GEMM_H
#define CKERNELS_GEMM_H

#include "ckernels_depthwise.h" /* CK_ACTIVATION_* */

/* A product against weights packed once (at planning time) into column panels, with bias,
 * residual and activation fused: the values of ck_pointwise, bit for bit, for any reduction length.
 *
 * Packed layout of a k x n weight matrix w (row stride ldw): ceil(n / 16) panels, panel q holding
 * packed[(q * k + p) * 16 + c] = w[p * ldw + q * 16 + c] (0 past column n). ck_gemm_packed_size
 * gives the float count.
 *
 * For the rows x cols block at column col0 (a multiple of 16) of the output:
 *     acc = bias[j] (0 without a bias)
 *     for p in 0..<k: acc = fmaf(x[i * ldx + p], w[p][j], acc)
 *     acc = acc + residual[i * ldo + j]             (with a residual)
 *     out[i * ldo + j] = activation(acc)
 * The reduction runs in blocks whose partial sums wait in `out` (float, so the values are those of
 * one unbroken sum); each weight block of a panel stays in L1 while all rows pass over it. The
 * AVX-512, AVX2+FMA and portable bodies give bit-identical results (the widest the CPU has runs). */
long ck_gemm_packed_size(long k, long n);
void ck_gemm_pack(const float *w, long ldw, long k, long n, float *packed);
void ck_gemm_packed(const float *x, long ldx, const float *packed, long k, long col0, long cols, const float *bias,
                    const float *residual, float *out, long ldo, long rows, int activation, float alpha);

#endif
