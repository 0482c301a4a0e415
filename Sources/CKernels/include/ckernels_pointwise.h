#ifndef CKERNELS_POINTWISE_H
#define CKERNELS_POINTWISE_H

#include "ckernels_depthwise.h" /* CK_ACTIVATION_* */

/* A product with a short reduction (1x1 convolutions with few input channels), bias, residual
 * and activation fused, written once: for the `rows` x `cols` block,
 *     acc = bias[j] (0 without a bias)
 *     for p in 0..<k: acc = fmaf(x[i * ldx + p], w[p * ldw + j], acc)
 *     acc = acc + residual[i * ldo + j]             (with a residual)
 *     out[i * ldo + j] = activation(acc)
 * with relu(v) = 0 >= v ? 0 : v, relu6 = 6 < r ? 6 : r of that, leaky = v >= 0 ? v : alpha * v.
 * The AVX2+FMA body and the portable body give bit-identical results. */
void ck_pointwise(const float *x, long ldx, const float *w, long ldw, const float *bias, const float *residual, float *out,
                  long ldo, long rows, long cols, long k, int activation, float alpha);

#endif
