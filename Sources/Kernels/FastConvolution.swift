import COpenBLAS
import CKernels

/// The production kernels. Planned Conv2Ds run against weights packed once (`packedConv2d`,
/// FastFused.swift) or by Winograd (FastWinograd.swift); `directConv2d` (callers without a plan)
/// and matrix products go through im2col + OpenBLAS sgemm on tiles of output rows; depthwise
/// convolution is a C kernel (CKernels); pooling is a tight loop over contiguous channels, which
/// the compiler vectorizes.
public enum Fast {
    /// OpenBLAS runs single-threaded: parallelism comes from our fixed tiles (see Kernels.swift).
    static let blas: Void = { openblas_set_num_threads(1) }()
    /// In `directConv2d` (callers without a plan; planned Conv2Ds run `packedConv2d`), convolutions
    /// reducing over at most this many values (kh * kw * inC) go to the C kernel
    /// (Sources/CKernels/pointwise.c: bias, residual and activation fused, the output written once),
    /// on the input for 1x1 convolutions and on the im2col block otherwise, instead of sgemm (which
    /// zeroes the output, accumulates, and leaves the epilogue to another pass). MobileNetV2 batch 8: the expansion 1x1 convs (K 16...160) measured ~10% faster, a
    /// cut-off of 400 or no cut-off no better than 160.
    static let pointwiseMaxK = 160

    /// How an M x N product (reduction K) is cut into tiles: about 16 row blocks of at least 128
    /// rows (so each sgemm call amortizes packing the weights) whose im2col block stays under
    /// 1 MiB (L2-resident while sgemm packs it; measured best on ResNet50 among 64-2048-row
    /// tiles); when that leaves fewer than 8 blocks (late layers, batch 1) the columns are split
    /// too, in multiples of 16, so both cores stay busy. Depends on the shape only, never on the
    /// thread budget: each output value is computed by the same call at any budget.
    struct TileGrid {
        let m, n, rows, cols, rowTiles, colTiles: Int
        init(m: Int, n: Int, k: Int) {
            self.m = m
            self.n = n
            rows = max(32, min(max(128, (m + 15) / 16), 262_144 / max(k, 1)))
            rowTiles = (m + rows - 1) / rows
            let wanted = rowTiles >= 8 ? 1 : min((8 + rowTiles - 1) / rowTiles, max(1, n / 64))
            cols = ((n + wanted - 1) / wanted + 15) / 16 * 16
            colTiles = (n + cols - 1) / cols
        }
        var count: Int { rowTiles * colTiles }
        func tile(_ t: Int) -> (Range<Int>, Range<Int>) {
            let r = t / colTiles, c = t % colTiles
            return (r * rows..<min(m, (r + 1) * rows), c * cols..<min(n, (c + 1) * cols))
        }
    }

    static func sgemm(_ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Float>, _ lda: Int, transA: Bool,
                      _ b: UnsafePointer<Float>, _ ldb: Int, transB: Bool, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        _ = blas
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), 1, a, Int32(lda), b, Int32(ldb), 0, c, Int32(ldc))
    }

    /// `residual` (optional, the output's layout) is added after the bias, before the activation.
    /// 3x3/1 convolutions with at least 8 output tiles go through Winograd F(4x4, 3x3) (FastWinograd.swift).
    public static func conv2d(input: UnsafePointer<Float>, filter: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                              residual: UnsafePointer<Float>? = nil, activation: Activation, geometry g: ConvGeometry, outC: Int,
                              output: UnsafeMutablePointer<Float>, threads: Int) {
        if usesWinograd(g, outC: outC) {
            // Callers without a plan: the filter is transformed per call (the runtime does it once).
            let u = winogradPackedFilter(filter, inC: g.inC, outC: outC)
            winogradConv2d(input: input, transformedFilter: u, bias: bias, residual: residual, activation: activation,
                           geometry: g, outC: outC, output: output, threads: threads)
            return
        }
        directConv2d(input: input, filter: filter, bias: bias, residual: residual, activation: activation, geometry: g,
                     outC: outC, output: output, threads: threads)
    }

    /// im2col + sgemm (1x1/1 convolutions skip im2col).
    public static func directConv2d(input: UnsafePointer<Float>, filter: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                                    residual: UnsafePointer<Float>? = nil, activation: Activation, geometry g: ConvGeometry, outC: Int,
                                    output: UnsafeMutablePointer<Float>, threads: Int) {
        let k = g.kernelH * g.kernelW * g.inC
        let m = g.batch * g.outH * g.outW
        let pointwise = g.kernelH == 1 && g.kernelW == 1 && g.strideH == 1 && g.strideW == 1 && g.padTop == 0 && g.padLeft == 0
            && g.outH == g.inH && g.outW == g.inW
        let x = SendablePointer(input), w = SendablePointer(filter), out = SendablePointer(output)
        let b = bias.map { SendablePointer($0) }, res = residual.map { SendablePointer($0) }
        let grid = TileGrid(m: m, n: outC, k: k)
        parallelFor(tiles: grid.count, threads: threads) { t in
            let (rowRange, colRange) = grid.tile(t)
            let dst = out.p + rowRange.lowerBound * outC + colRange.lowerBound
            if k <= pointwiseMaxK {
                // Short reductions: the C kernel on the input (1x1) or on the im2col block.
                let columns = pointwise ? nil : UnsafeMutablePointer<Float>.allocate(capacity: rowRange.count * k)
                defer { columns?.deallocate() }
                if let columns { im2col(x.p, g, rows: rowRange, into: columns) }
                let (code, alpha) = activation.ckCode
                ck_pointwise(columns ?? x.p + rowRange.lowerBound * k, k, w.p + colRange.lowerBound, outC,
                             b.map { UnsafePointer($0.p + colRange.lowerBound) },
                             res.map { UnsafePointer($0.p + rowRange.lowerBound * outC + colRange.lowerBound) }, dst, outC,
                             rowRange.count, colRange.count, k, code, alpha)
                return
            }
            if pointwise {
                sgemm(rowRange.count, colRange.count, k, x.p + rowRange.lowerBound * k, k, transA: false,
                      w.p + colRange.lowerBound, outC, transB: false, dst, outC)
            } else {
                let columns = UnsafeMutablePointer<Float>.allocate(capacity: rowRange.count * k)
                defer { columns.deallocate() }
                im2col(x.p, g, rows: rowRange, into: columns)
                sgemm(rowRange.count, colRange.count, k, columns, k, transA: false, w.p + colRange.lowerBound, outC, transB: false, dst, outC)
            }
            epilogue(dst, rows: rowRange.count, channels: colRange.count, stride: outC,
                     bias: b.map { UnsafePointer($0.p + colRange.lowerBound) },
                     residual: res.map { UnsafePointer($0.p + rowRange.lowerBound * outC + colRange.lowerBound) }, activation: activation)
        }
    }

    /// Patch rows for output pixels `rows` (flat n*outH*outW indices): kh, kw, c order, zeros for padding.
    static func im2col(_ input: UnsafeMutablePointer<Float>, _ g: ConvGeometry, rows: Range<Int>, into columns: UnsafeMutablePointer<Float>) {
        let c = g.inC
        var dst = columns
        for r in rows {
            let ow = r % g.outW, oh = (r / g.outW) % g.outH, n = r / (g.outW * g.outH)
            for kh in 0..<g.kernelH {
                let ih = oh * g.strideH - g.padTop + kh * g.dilationH
                if ih < 0 || ih >= g.inH {
                    dst.initialize(repeating: 0, count: g.kernelW * c)
                    dst += g.kernelW * c
                    continue
                }
                let rowBase = input + (n * g.inH + ih) * g.inW * c
                let iw0 = ow * g.strideW - g.padLeft
                if g.dilationW == 1, iw0 >= 0, iw0 + g.kernelW <= g.inW {
                    // The window's row is contiguous: one copy (7x7 on 3 channels: 21 floats, not 7 of 3).
                    dst.initialize(from: rowBase + iw0 * c, count: g.kernelW * c)
                    dst += g.kernelW * c
                    continue
                }
                for kw in 0..<g.kernelW {
                    let iw = ow * g.strideW - g.padLeft + kw * g.dilationW
                    if iw < 0 || iw >= g.inW {
                        dst.initialize(repeating: 0, count: c)
                    } else {
                        dst.initialize(from: rowBase + iw * c, count: c)
                    }
                    dst += c
                }
            }
        }
    }

    /// Depthwise convolution in C (Sources/CKernels/depthwise.c: AVX2+FMA when the CPU has it, else
    /// bit-identical portable code), bias, residual and activation fused. One tile per output row
    /// (n, oh); each value is bias + taps (kh-major, kw-minor, fused multiply-adds) + residual, then
    /// the activation, whatever the thread budget.
    public static func depthwiseConv2d(input: UnsafePointer<Float>, filter: UnsafePointer<Float>, multiplier: Int,
                                       bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>? = nil, activation: Activation, geometry g: ConvGeometry,
                                       output: UnsafeMutablePointer<Float>, threads: Int) {
        let params = depthwiseParams(g, multiplier: multiplier, activation: activation)
        let x = SendablePointer(input), w = SendablePointer(filter), out = SendablePointer(output)
        let b = bias.map { SendablePointer($0) }, res = residual.map { SendablePointer($0) }
        parallelFor(tiles: g.batch * g.outH, threads: threads) { t in
            ck_depthwise_conv2d_rows(params, x.p, w.p, b?.p, res?.p, out.p, t, t + 1)
        }
    }

    static func depthwiseParams(_ g: ConvGeometry, multiplier: Int, activation: Activation) -> ck_depthwise_params {
        var p = ck_depthwise_params()
        (p.batch, p.in_h, p.in_w, p.channels, p.multiplier) = (g.batch, g.inH, g.inW, g.inC, multiplier)
        (p.out_h, p.out_w, p.kernel_h, p.kernel_w) = (g.outH, g.outW, g.kernelH, g.kernelW)
        (p.stride_h, p.stride_w, p.dilation_h, p.dilation_w) = (g.strideH, g.strideW, g.dilationH, g.dilationW)
        (p.pad_top, p.pad_left) = (g.padTop, g.padLeft)
        (p.activation, p.alpha) = activation.ckCode
        return p
    }

    /// Conv2DBackpropInput: per image, columns = input x filter^T by sgemm, then a scatter-add
    /// (col2im) into the output in a fixed order.
    public static func conv2dTranspose(input: UnsafePointer<Float>, filter: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                                       residual: UnsafePointer<Float>? = nil, activation: Activation, geometry g: ConvGeometry, outC: Int, inC: Int,
                                       output: UnsafeMutablePointer<Float>, threads: Int) {
        let pixels = g.outH * g.outW
        let width = g.kernelH * g.kernelW * outC
        let x = SendablePointer(input), w = SendablePointer(filter), out = SendablePointer(output)
        let b = bias.map { SendablePointer($0) }, res = residual.map { SendablePointer($0) }
        parallelFor(tiles: g.batch, threads: threads) { n in
            let columns = UnsafeMutablePointer<Float>.allocate(capacity: pixels * width)
            defer { columns.deallocate() }
            sgemm(pixels, width, inC, x.p + n * pixels * inC, inC, transA: false, w.p, inC, transB: true, columns, width)
            let image = out.p + n * g.inH * g.inW * outC
            image.initialize(repeating: 0, count: g.inH * g.inW * outC)
            for ih in 0..<g.outH {
                for iw in 0..<g.outW {
                    let col = columns + (ih * g.outW + iw) * width
                    for kh in 0..<g.kernelH {
                        let oh = ih * g.strideH - g.padTop + kh * g.dilationH
                        if oh < 0 || oh >= g.inH { continue }
                        for kw in 0..<g.kernelW {
                            let ow = iw * g.strideW - g.padLeft + kw * g.dilationW
                            if ow < 0 || ow >= g.inW { continue }
                            let dst = image + (oh * g.inW + ow) * outC
                            let src = col + (kh * g.kernelW + kw) * outC
                            for c in 0..<outC { dst[c] += src[c] }
                        }
                    }
                }
            }
            epilogue(image, rows: g.inH * g.inW, channels: outC, stride: outC, bias: b.map { UnsafePointer($0.p) },
                     residual: res.map { UnsafePointer($0.p + n * g.inH * g.inW * outC) }, activation: activation)
        }
    }

    public static func matmul(a: UnsafePointer<Float>, b: UnsafePointer<Float>, m: Int, k: Int, n: Int,
                              transposeA: Bool, transposeB: Bool, bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>? = nil,
                              activation: Activation, output: UnsafeMutablePointer<Float>, threads: Int) {
        let res = residual.map { SendablePointer($0) }
        let pa = SendablePointer(a), pb = SendablePointer(b), out = SendablePointer(output)
        let pbias = bias.map { SendablePointer($0) }
        let grid = TileGrid(m: m, n: n, k: k)
        parallelFor(tiles: grid.count, threads: threads) { t in
            let (rows, cols) = grid.tile(t)
            let aTile = transposeA ? pa.p + rows.lowerBound : pa.p + rows.lowerBound * k
            let bTile = transposeB ? pb.p + cols.lowerBound * k : pb.p + cols.lowerBound
            let dst = out.p + rows.lowerBound * n + cols.lowerBound
            sgemm(rows.count, cols.count, k, aTile, transposeA ? m : k, transA: transposeA, bTile, transposeB ? k : n,
                  transB: transposeB, dst, n)
            epilogue(dst, rows: rows.count, channels: cols.count, stride: n, bias: pbias.map { UnsafePointer($0.p + cols.lowerBound) },
                     residual: res.map { UnsafePointer($0.p + rows.lowerBound * n + cols.lowerBound) }, activation: activation)
        }
    }

    /// `padValue`: windows reaching past the input also take the max with this value (a folded
    /// constant Pad); nil ignores cells outside the input, as TensorFlow's SAME max pooling does.
    public static func maxPool(input: UnsafePointer<Float>, geometry g: ConvGeometry, padValue: Float? = nil,
                               output: UnsafeMutablePointer<Float>, threads: Int) {
        pool(input, g, output, threads, average: false, padValue: padValue)
    }

    public static func avgPool(input: UnsafePointer<Float>, geometry g: ConvGeometry, output: UnsafeMutablePointer<Float>, threads: Int) {
        pool(input, g, output, threads, average: true)
    }

    static func pool(_ input: UnsafePointer<Float>, _ g: ConvGeometry, _ output: UnsafeMutablePointer<Float>, _ threads: Int, average: Bool,
                     padValue: Float? = nil) {
        let c = g.inC
        let x = SendablePointer(input), out = SendablePointer(output)
        parallelFor(tiles: g.batch * g.outH, threads: threads) { t in
            let n = t / g.outH, oh = t % g.outH
            let h0 = max(oh * g.strideH - g.padTop, 0), h1 = min(oh * g.strideH - g.padTop + g.kernelH, g.inH)
            for ow in 0..<g.outW {
                let w0 = max(ow * g.strideW - g.padLeft, 0), w1 = min(ow * g.strideW - g.padLeft + g.kernelW, g.inW)
                let o = out.p + ((n * g.outH + oh) * g.outW + ow) * c
                let clipped = h1 - h0 < g.kernelH || w1 - w0 < g.kernelW
                o.initialize(repeating: average ? 0 : (clipped ? padValue : nil) ?? -.infinity, count: c)
                for ih in h0..<max(h0, h1) {
                    for iw in w0..<max(w0, w1) {
                        let i = x.p + ((n * g.inH + ih) * g.inW + iw) * c
                        if average {
                            for q in 0..<c { o[q] += i[q] }
                        } else {
                            for q in 0..<c { o[q] = max(o[q], i[q]) }
                        }
                    }
                }
                if average {
                    let scale = 1 / Float(max((h1 - h0) * (w1 - w0), 1))
                    for q in 0..<c { o[q] *= scale }
                }
            }
        }
    }
}
