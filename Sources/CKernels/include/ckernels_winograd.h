#ifndef CKERNELS_WINOGRAD_H
#define CKERNELS_WINOGRAD_H

/* Winograd F(4x4, 3x3) for NHWC float32 convolutions with a 3x3 kernel, stride 1, dilation 1
 * (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016), interpolation
 * points 0, 1, -1, 2, -2 and infinity:
 *
 *   Y = A^T [ (G g G^T) (.) (B^T d B) ] A     (d: a 6x6 input tile, Y: the 4x4 output tile)
 *
 *   B^T = | 4  0 -5  0  1  0 |    G = |  1/4     0     0  |    A^T = | 1  1  1  1  1  0 |
 *         | 0 -4 -4  1  1  0 |        | -1/6  -1/6  -1/6  |          | 0  1 -1  2 -2  0 |
 *         | 0  4 -4 -1  1  0 |        | -1/6   1/6  -1/6  |          | 0  1  1  4  4  0 |
 *         | 0 -2 -1  2  1  0 |        |  1/24  1/12  1/6  |          | 0  1 -1  8 -8  1 |
 *         | 0  2 -1 -2  1  0 |        |  1/24 -1/12  1/6  |
 *         | 0  4  0 -5  0  1 |        |   0     0     1   |
 *
 * The 36 transformed points are indexed e = 6 * i + j (i: the row of B^T d B, j: its column).
 * Tiles are numbered n * tiles_h * tiles_w + th * tiles_w + tw; tile (th, tw) of image n covers
 * output rows 4*th..4*th+3 and columns 4*tw..4*tw+3 (clipped to the output) and reads input rows
 * 4*th - pad_top .. +5 and columns 4*tw - pad_left .. +5 (zeros outside the input).
 *
 * The input and output transforms have AVX2+FMA bodies (8 channels per register, masked tails)
 * and portable bodies giving bit-identical results (fmaf where the AVX2 body fuses). */

/* U[e][ci][co] = (G g G^T)[e] for an HWIO 3x3 filter, evaluated in double and rounded once. */
void ck_wino43_filter(const float *hwio, int cin, int cout, float *u);

/* V[(e * ldt + t) * c + ch] for tiles tile0 + t (t = 0 ..< ntiles <= ldt) of an NHWC input x
 * (the whole batch; h x w x c per image). */
void ck_wino43_input(const float *x, int h, int w, int c, int pad_top, int pad_left, int tiles_h, int tiles_w,
                     int tile0, int ntiles, float *v, int ldt);

/* Activation codes of ck_wino43_output (Kernels.Activation). */
enum { CK_ACT_NONE = 0, CK_ACT_RELU = 1, CK_ACT_RELU6 = 2, CK_ACT_LEAKY = 3 };

/* The output transform of tiles tile0 .. tile0 + ntiles - 1 for channels c0 .. c0 + nc - 1:
 * reads M[(e * ldt + t) * ldm + k] (t = 0 ..< ntiles <= ldt, k = 0 ..< nc), adds bias[c0 + k] (if bias), then
 * residual (if residual; same layout as y), then applies the activation, and writes
 * y[((n * out_h + oh) * out_w + ow) * cout + c0 + k]. */
void ck_wino43_output(const float *m, int ldm, int ldt, int ntiles, int tile0, int tiles_h, int tiles_w, int out_h, int out_w,
                      int cout, int c0, int nc, const float *bias, const float *residual, int activation, float alpha,
                      float *y);

#endif
