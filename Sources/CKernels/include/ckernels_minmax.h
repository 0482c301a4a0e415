#ifndef CKERNELS_MINMAX_H
#define CKERNELS_MINMAX_H

/* The least and greatest of n values (n >= 1), with a zero of either sign reported as +0: the
 * result does not depend on the order the values are compared in, so the AVX2 and portable bodies
 * agree (Quantizer's BatchStatistics keeps min and max of every calibration tensor). Returns 1
 * when every value is finite; 0 when one is NaN or infinite (lo and hi are then meaningless). */
int ck_min_max(const float *x, long n, float *lo, float *hi);

#endif
