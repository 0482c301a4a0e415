#ifndef CKERNELS_DEPTHWISE_H
#define CKERNELS_DEPTHWISE_H

/* Depthwise 2-D convolution, NHWC float32, filter [kernel_h, kernel_w, channels, multiplier]
 * (TensorFlow's DepthwiseConv2dNative), with the bias, residual and activation fused.
 *
 * Every output value out[n, oh, ow, oc] (oc = c * multiplier + q) is computed in one fixed order:
 *     acc = bias[oc] (0 without a bias)
 *     for kh, then kw, over the taps inside the input (padding taps are skipped):
 *         acc = fmaf(input[n, ih, iw, c], filter[kh, kw, c, q], acc)
 *     acc = acc + residual[n, oh, ow, oc]          (with a residual)
 *     out = activation(acc)
 * with relu(x) = 0 > x ? 0 : x, relu6(x) = min(relu(x), 6) as 6 < r ? 6 : r, and
 * leaky_relu(x) = x >= 0 ? x : alpha * x. The AVX2+FMA body and the portable body (fmaf) give
 * bit-identical results, and a row's values do not depend on which rows a call computes. */

#define CK_ACTIVATION_NONE 0
#define CK_ACTIVATION_RELU 1
#define CK_ACTIVATION_RELU6 2
#define CK_ACTIVATION_LEAKY_RELU 3

typedef struct {
    long batch, in_h, in_w, channels, multiplier;
    long out_h, out_w;
    long kernel_h, kernel_w;
    long stride_h, stride_w;
    long dilation_h, dilation_w;
    /* Padding before the first row / column; the bottom / right padding follows from out_h / out_w. */
    long pad_top, pad_left;
    int activation;  /* CK_ACTIVATION_* */
    float alpha;     /* leaky relu slope */
    /* The first input row held in `input` (0: whole images). With batch 1, `input` may hold only
     * rows in_row_begin... of the image (a band): rows and padding are still those of the full
     * in_h-row image, and a call must only compute output rows whose taps lie in the band. */
    long in_row_begin;
} ck_depthwise_params;

/* Computes the output rows row_begin..<row_end, a row being a flat index n * out_h + oh.
 * bias (channels * multiplier values) and residual (the output's layout) may be NULL. */
void ck_depthwise_conv2d_rows(ck_depthwise_params p, const float *input, const float *filter, const float *bias,
                              const float *residual, float *output, long row_begin, long row_end);

#endif
