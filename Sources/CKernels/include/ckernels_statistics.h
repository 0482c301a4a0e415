#ifndef CKERNELS_STATISTICS_H
#define CKERNELS_STATISTICS_H

/* Calibration bucket sums of one activation tensor at one position (Quantizer's
 * BatchStatistics.Buckets), in double, into `sums`. Element i adds into partial table i % 4, each
 * in element order; the four partial tables are then added to `sums` in order 0, 1, 2, 3 (four
 * independent chains of additions instead of one: most values land in the same few buckets):
 *     t = v / step (v * 2^p exactly, when 2^p and 2^-p are normal);
 *     r = round half up (a negative exact tie toward zero, else half away from zero);
 *     k = min(max(r, lo), hi); x = (double)v; d = (double)k * (double)step - x
 *     k >= 0: bucket positive[k < 1 ? 0 : min(exponent(k) + 1, 17)]
 *     k < 0:  j = min(exponent(-k), 17); exact[j] if j < 17 and -k == 2^j, else between[j]
 *     bucket: n += 1; sum += x; squares += x * x; rounding += d * d
 * `sums` holds 3 kinds (positive, exact, between) x 18 buckets x 4 doubles (n, sum, squares,
 * rounding), zeroed by the caller. Same operations and order as the Swift definition, so the
 * same bits. */
void ck_activation_buckets(const float *values, long count, float step, float lo, float hi, double *sums);

#endif
