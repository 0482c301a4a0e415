/// Filter gradients of the conv-like layers, for layer-wise fine-tuning: given a layer's input x
/// and the gradient dy of a loss with respect to its output (pre-bias, NHWC), the gradient with
/// respect to its filter (same layout as the filter).
extension Reference {
    /// dw[kh, kw, ic, oc] = sum over n, oh, ow of x[n, ih, iw, ic] * dy[n, oh, ow, oc] (Double sums).
    public static func conv2dFilterGradient(input: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>, geometry g: ConvGeometry,
                                            outC: Int, filterGradient dw: UnsafeMutablePointer<Float>) {
        for kh in 0..<g.kernelH { for kw in 0..<g.kernelW { for ic in 0..<g.inC { for oc in 0..<outC {
            var acc = 0.0
            for n in 0..<g.batch { for oh in 0..<g.outH { for ow in 0..<g.outW {
                let ih = oh * g.strideH - g.padTop + kh * g.dilationH
                let iw = ow * g.strideW - g.padLeft + kw * g.dilationW
                guard ih >= 0, ih < g.inH, iw >= 0, iw < g.inW else { continue }
                acc += Double(input[((n * g.inH + ih) * g.inW + iw) * g.inC + ic]) * Double(dy[((n * g.outH + oh) * g.outW + ow) * outC + oc])
            } } }
            dw[((kh * g.kernelW + kw) * g.inC + ic) * outC + oc] = Float(acc)
        } } } }
    }

    /// dw[kh, kw, c, m] = sum over n, oh, ow of x[n, ih, iw, c] * dy[n, oh, ow, c * multiplier + m] (Double sums).
    public static func depthwiseFilterGradient(input: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>, multiplier: Int,
                                               geometry g: ConvGeometry, filterGradient dw: UnsafeMutablePointer<Float>) {
        let outC = g.inC * multiplier
        for kh in 0..<g.kernelH { for kw in 0..<g.kernelW { for c in 0..<g.inC { for m in 0..<multiplier {
            var acc = 0.0
            for n in 0..<g.batch { for oh in 0..<g.outH { for ow in 0..<g.outW {
                let ih = oh * g.strideH - g.padTop + kh * g.dilationH
                let iw = ow * g.strideW - g.padLeft + kw * g.dilationW
                guard ih >= 0, ih < g.inH, iw >= 0, iw < g.inW else { continue }
                acc += Double(input[((n * g.inH + ih) * g.inW + iw) * g.inC + c]) * Double(dy[((n * g.outH + oh) * g.outW + ow) * outC + c * multiplier + m])
            } } }
            dw[((kh * g.kernelW + kw) * g.inC + c) * multiplier + m] = Float(acc)
        } } } }
    }
}

extension Fast {
    /// Output rows per partial product of the filter gradients: fixed, so the sums' order (tile
    /// partials added in tile order) never depends on the thread budget.
    static let gradientRows = 2048

    /// `Reference.conv2dFilterGradient` as im2col + sgemm (columns^T x dy) over fixed tiles of
    /// output rows, the tiles' partial gradients added in tile order (float).
    public static func conv2dFilterGradient(input: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>, geometry g: ConvGeometry,
                                            outC: Int, filterGradient dw: UnsafeMutablePointer<Float>, threads: Int) {
        let k = g.kernelH * g.kernelW * g.inC, m = g.batch * g.outH * g.outW
        let tiles = max(1, (m + gradientRows - 1) / gradientRows)
        let partials = UnsafeMutablePointer<Float>.allocate(capacity: tiles * k * outC)
        defer { partials.deallocate() }
        let x = SendablePointer(input), d = SendablePointer(dy), out = SendablePointer(partials)
        parallelFor(tiles: tiles, threads: threads) { t in
            let rows = t * gradientRows..<min(m, (t + 1) * gradientRows)
            let columns = UnsafeMutablePointer<Float>.allocate(capacity: rows.count * k)
            defer { columns.deallocate() }
            im2col(x.p, g, rows: rows, into: columns)
            sgemm(k, outC, rows.count, columns, k, transA: true, d.p + rows.lowerBound * outC, outC, transB: false, out.p + t * k * outC, outC)
        }
        dw.update(from: partials, count: k * outC)
        for t in 1..<tiles {
            let p = partials + t * k * outC
            for i in 0..<k * outC { dw[i] += p[i] }
        }
    }

    /// `Reference.depthwiseFilterGradient` with float sums over fixed tiles of output rows (n, oh)
    /// (about 64 Ki products each, from the shape alone): within a tile, for each output pixel and
    /// tap, all channels at once (contiguous, vectorized); the tiles' partial gradients are then
    /// added in tile order, so the bits do not depend on the thread budget.
    public static func depthwiseFilterGradient(input: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>, multiplier: Int,
                                               geometry g: ConvGeometry, filterGradient dw: UnsafeMutablePointer<Float>, threads: Int) {
        let outC = g.inC * multiplier, taps = g.kernelH * g.kernelW, size = taps * outC
        let rows = g.batch * g.outH
        let rowsPerTile = max(1, 65_536 / max(1, g.outW * size))
        let tiles = (rows + rowsPerTile - 1) / rowsPerTile
        let partials = UnsafeMutablePointer<Float>.allocate(capacity: max(tiles, 1) * size)
        partials.initialize(repeating: 0, count: max(tiles, 1) * size)
        defer { partials.deallocate() }
        let x = SendablePointer(input), d = SendablePointer(dy), out = SendablePointer(partials)
        parallelFor(tiles: tiles, threads: threads) { t in
            let acc = out.p + t * size
            for row in t * rowsPerTile..<min(rows, (t + 1) * rowsPerTile) {
                let n = row / g.outH, oh = row % g.outH
                for kh in 0..<g.kernelH {
                    let ih = oh * g.strideH - g.padTop + kh * g.dilationH
                    guard ih >= 0, ih < g.inH else { continue }
                    for ow in 0..<g.outW {
                        let grad = d.p + ((n * g.outH + oh) * g.outW + ow) * outC
                        for kw in 0..<g.kernelW {
                            let iw = ow * g.strideW - g.padLeft + kw * g.dilationW
                            guard iw >= 0, iw < g.inW else { continue }
                            let pixel = x.p + ((n * g.inH + ih) * g.inW + iw) * g.inC
                            let tap = acc + (kh * g.kernelW + kw) * outC
                            if multiplier == 1 {
                                for c in 0..<outC { tap[c] += pixel[c] * grad[c] }
                            } else {
                                for c in 0..<g.inC { for m in 0..<multiplier { tap[c * multiplier + m] += pixel[c] * grad[c * multiplier + m] } }
                            }
                        }
                    }
                }
            }
        }
        dw.update(from: partials, count: size)
        for t in 1..<max(tiles, 1) {
            let p = partials + t * size
            for i in 0..<size { dw[i] += p[i] }
        }
    }
}
