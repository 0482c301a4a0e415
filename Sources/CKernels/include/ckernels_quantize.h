#ifndef CKERNELS_QUANTIZE_H
#define CKERNELS_QUANTIZE_H

/* Power-of-two quantization of n values (Quantizer's Pof2Quantizer.quantize, FixNeuron):
 *     t = x / step
 *     r = half_up && t < 0 && t - floor(t) == 0.5 ? ceil(t)      (DPU rounding: negative ties toward zero)
 *                                                 : round(t)     (half away from zero)
 *     out = min(max(r, lo), hi) * step        (a NaN stays NaN)
 * Same operations as the Swift definition, so the same bits, on the AVX2 and the portable body. */
void ck_pof2_quantize(const float *x, long n, float step, float lo, float hi, int half_up, float *out);

#endif
