import CKernels
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

extension Fast {
    /// Whether a 1x1/1 convolution (geometry `expand`, run by `packedProduct`) followed by the
    /// depthwise convolution `depthwise` (multiplier 1, reading the 1x1's whole output) can run as
    /// one `expandDepthwise` call, which computes every value exactly as the two separate calls do.
    public static func canFuseExpandDepthwise(expand e: ConvGeometry, depthwise d: ConvGeometry, multiplier: Int) -> Bool {
        usesPackedProduct(e, outC: d.inC) && multiplier == 1 && d.batch == e.batch && d.inH == e.outH && d.inW == e.outW
    }

    /// A 1x1/1 convolution (MobileNetV2's expansion: `inC` -> `g.inC` channels, bias, activation)
    /// and the depthwise convolution after it (geometry `g`, multiplier 1, bias, residual,
    /// activation), without writing the expanded tensor to memory: each tile of output rows keeps
    /// the expanded input rows its taps need in a band buffer of about 384 KiB (L2-resident), and
    /// carries the rows the next band shares over instead of recomputing them. At batch 8 the
    /// expanded tensors of MobileNetV2 are up to 38 MB, which made the two separate calls memory-bound.
    ///
    /// Values are bit-identical to `packedProduct` followed by `depthwiseConv2d` (same C kernels,
    /// same per-value order), at any thread budget.
    public static func expandDepthwise(input: UnsafePointer<Float>, inC: Int, packedExpandFilter: UnsafePointer<Float>,
                                       expandBias: UnsafePointer<Float>?, expandActivation: Activation,
                                       depthwiseFilter: UnsafePointer<Float>, depthwiseBias: UnsafePointer<Float>?,
                                       residual: UnsafePointer<Float>?, activation: Activation, geometry g: ConvGeometry,
                                       output: UnsafeMutablePointer<Float>, threads: Int) {
        let mid = g.inC, (h, w) = (g.inH, g.inW)
        let params = { var p = depthwiseParams(g, multiplier: 1, activation: activation); p.batch = 1; return p }()
        let span = (g.kernelH - 1) * g.dilationH + 1
        // Output rows per band: the band's input rows fit the budget (at least one output row).
        let budgetRows = max(span, 98_304 / max(1, w * mid))
        let bandRows = max(1, (budgetRows - span) / g.strideH + 1)
        let bufferRows = (bandRows - 1) * g.strideH + span
        // Tiles: whole images when there are enough of them, else each image cut into row chunks.
        let chunks = min(g.outH, max(1, (8 + g.batch - 1) / g.batch))
        let chunkRows = (g.outH + chunks - 1) / chunks
        let tilesPerImage = (g.outH + chunkRows - 1) / chunkRows
        let (ea, ealpha) = expandActivation.ckCode
        let x = SendablePointer(input), w1 = SendablePointer(packedExpandFilter), b1 = expandBias.map { SendablePointer($0) }
        let w2 = SendablePointer(depthwiseFilter), b2 = depthwiseBias.map { SendablePointer($0) }
        let res = residual.map { SendablePointer($0) }, out = SendablePointer(output)
        let outImage = g.outH * g.outW * mid
        parallelFor(tiles: g.batch * tilesPerImage, threads: threads) { t in
            let n = t / tilesPerImage, first = (t % tilesPerImage) * chunkRows, end = min(g.outH, first + chunkRows)
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: bufferRows * w * mid)
            defer { buffer.deallocate() }
            var held = 0..<0  // input rows in `buffer`, from its start
            var q0 = first
            while q0 < end {
                let q1 = min(end, q0 + bandRows)
                let need0 = min(h, max(0, q0 * g.strideH - g.padTop))
                let need1 = max(need0, min(h, (q1 - 1) * g.strideH - g.padTop + span))
                // Keep the rows this band shares with the last one; compute the rest.
                let keepFrom = max(need0, held.lowerBound), keepTo = min(need1, held.upperBound)
                let keep = keepFrom < keepTo ? keepFrom..<keepTo : 0..<0
                if !keep.isEmpty, keep.lowerBound != held.lowerBound {
                    memmove(buffer, buffer + (keep.lowerBound - held.lowerBound) * w * mid, keep.count * w * mid * MemoryLayout<Float>.size)
                }
                let fresh = keep.isEmpty ? need0 : keep.upperBound
                if fresh < need1 {
                    ck_gemm_packed(x.p + (n * h + fresh) * w * inC, inC, w1.p, inC, 0, mid, b1.map { UnsafePointer($0.p) }, nil,
                                   buffer + (fresh - need0) * w * mid, mid, (need1 - fresh) * w, ea, ealpha)
                }
                held = need0..<need1
                var p = params
                p.in_row_begin = need0
                ck_depthwise_conv2d_rows(p, buffer, w2.p, b2.map { UnsafePointer($0.p) }, res.map { UnsafePointer($0.p + n * outImage) },
                                         out.p + n * outImage, q0, q1)
                q0 = q1
            }
        }
    }
}
