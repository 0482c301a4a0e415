#ifndef CKERNELS_STATISTICS_H
#define CKERNELS_STATISTICS_H

/* Calibration's squared rounding errors of one run of activation values (Quantizer's
 * BatchStatistics), for `combos` combinations of a position and an integer range at once: for
 * combination c, with scale = 2^p (a normal float), lo = -2^(b-1) and hi = 2^(b-1) - 1,
 *     t = v * scale                  (exact: v / 2^-p)
 *     k = round half up of min(max(t, lo), hi)   (floor, plus one when the fraction is >= 0.5)
 *     e = k - t;  en = max(k, lo + 1) - t        (the narrow range saturates at -(2^(b-1) - 1))
 * sums[2c] = sum of e^2 and sums[2c+1] = sum of en^2, in units of the step (times 2^-2p: the
 * squared error in values). The order of operations is part of the definition, so every body
 * (AVX-512, AVX2, portable) gives the same bits: the values are zero-padded to a multiple of 64
 * and taken in groups of 64 = 4 rows of 16 lanes; value g*64 + r*16 + l goes to lane l; per group
 * and lane, a float a = fmaf(e, e, a) over the 4 rows from 0, then the lane's double += a; at the
 * end sums = the 16 lanes' doubles added in lane order from 0. (A padded zero adds exactly 0.)
 * Without `narrow` the narrow range's sums are not computed (0): about a third less work.
 * Values must be finite. */
void ck_activation_errors(const float *values, long count, const float *scales, const float *los, const float *his, int combos,
                          int narrow, double *sums);

#endif
