#ifndef CKERNELS_QUANTIZE_H
#define CKERNELS_QUANTIZE_H

/* Power-of-two quantization of n values (Quantizer's Pof2Quantizer.quantize, FixNeuron):
 *     t = x / step
 *     r = half_up && t < 0 && t - floor(t) == 0.5 ? ceil(t)      (DPU rounding: negative ties toward zero)
 *                                                 : round(t)     (half away from zero)
 *     out = min(max(r, lo), hi) * step        (a NaN stays NaN)
 * Same operations as the Swift definition, so the same bits, on the AVX2 and the portable body. */
void ck_pof2_quantize(const float *x, long n, float step, float lo, float hi, int half_up, float *out);

/* The squared error of that quantization, summed in float32 in element order (the reference's
 * min-diffs search): e = 0; for each x: d = quantize(x) - x; e += d * d (no fused multiply-add).
 * The same operations as the Swift definition (Pof2Quantizer.position), so the same bits. */
float ck_pof2_squared_error(const float *x, long n, float step, float lo, float hi, int half_up);

#endif
