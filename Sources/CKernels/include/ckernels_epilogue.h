#ifndef CKERNELS_EPILOGUE_H
#define CKERNELS_EPILOGUE_H

#include "ckernels_depthwise.h" /* CK_ACTIVATION_* */

/* The epilogue of the sgemm-based kernels, in one pass: on `rows` rows of `channels` values
 * `stride` floats apart (residual in the same layout),
 *     v = out[c]; v = v + bias[c]; v = v + residual[c]; out[c] = activation(v)
 * (each step only when present), with relu(v) = 0 >= v ? 0 : v, relu6(v) = min as
 * 6 < r ? 6 : r of relu(v), leaky_relu(v) = v >= 0 ? v : alpha * v: exactly Swift's
 * max(v, 0) / min(r, 6). No multiply-add is fused, so the AVX2 body and the portable body give
 * the same bits as plain scalar code. */
void ck_epilogue(float *out, long rows, long channels, long stride, const float *bias, const float *residual,
                 int activation, float alpha);

#endif
