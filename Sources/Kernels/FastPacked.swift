import CKernels

extension Fast {
    /// A k x n weight matrix (row stride n) in the panel layout of `ck_gemm_packed` (done once per plan).
    public static func packWeights(_ w: UnsafePointer<Float>, k: Int, n: Int) -> [Float] {
        let count = ck_gemm_packed_size(k, n)
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            ck_gemm_pack(w, n, k, n, buffer.baseAddress!)
            initialized = count
        }
    }

    /// out[m x n] = activation(x[m x k] * W + bias + residual) with W packed by `packWeights`: a
    /// 1x1/1 convolution (or a matrix product) in the C kernel, whatever k is. The values are those
    /// of `ck_pointwise` (one fused multiply-add chain per value from the bias), so they do not
    /// depend on the tiles or the thread budget. Tiles: at least 8 of them, r row blocks x c column
    /// blocks (whole 16-column panels) with the least operand traffic r * (k x n) + c * (m x k):
    /// every tile reads its rows of x and its panels of the weights once. Row blocks hold at most
    /// 192 rows when the reduction is cut into blocks (their x block then stays in L2), 768 otherwise.
    public static func packedProduct(input: UnsafePointer<Float>, packed: UnsafePointer<Float>, m: Int, k: Int, n: Int,
                                     bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?, activation: Activation,
                                     output: UnsafeMutablePointer<Float>, threads: Int) {
        packedTiled(input: input, gather: nil, packed: packed, m: m, k: k, n: n, rowsCap: k > 256 ? 192 : 768, bias: bias,
                    residual: residual, activation: activation, output: output, threads: threads)
    }
}

extension Fast {
    /// Rows and 16-column panels per tile of an m x n product with reduction k (see `packedProduct`).
    static func packedTiles(m: Int, k: Int, n: Int, rowsCap: Int) -> (rows: Int, panelsPerTile: Int) {
        let panels = (n + 15) / 16
        var best = (cost: Int.max, rows: m, panelsPerTile: panels)
        for c in 1...min(panels, 64) {
            let r = min(m, max((8 + c - 1) / c, (m + rowsCap - 1) / rowsCap))
            let rows = (m + r - 1) / r, perTile = (panels + c - 1) / c
            let cost = r * k * n + c * m * k
            if cost < best.cost { best = (cost, rows, perTile) }
        }
        return (best.rows, best.panelsPerTile)
    }

    /// A Conv2D against weights packed by `packWeights` (the HWIO filter is the kh*kw*inC x outC
    /// matrix): 1x1/1 convolutions are `packedProduct` on the input itself; any other geometry
    /// gathers each tile's patch rows (im2col, at most 1 MiB) and runs the same kernel on them.
    /// Bias, residual and activation are fused; values do not depend on tiles or threads.
    public static func packedConv2d(input: UnsafePointer<Float>, packed: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                                    residual: UnsafePointer<Float>?, activation: Activation, geometry g: ConvGeometry, outC n: Int,
                                    output: UnsafeMutablePointer<Float>, threads: Int) {
        let m = g.batch * g.outH * g.outW, k = g.kernelH * g.kernelW * g.inC
        if usesPackedProduct(g, outC: n) {
            packedProduct(input: input, packed: packed, m: m, k: k, n: n, bias: bias, residual: residual, activation: activation,
                          output: output, threads: threads)
            return
        }
        packedTiled(input: input, gather: g, packed: packed, m: m, k: k, n: n, rowsCap: max(6, min(768, 262_144 / max(k, 1))),
                    bias: bias, residual: residual, activation: activation, output: output, threads: threads)
    }

    /// The tiles of `packedProduct` / `packedConv2d`: each tile's x rows are the input's own rows,
    /// or with `gather` its im2col patch rows for that geometry.
    static func packedTiled(input: UnsafePointer<Float>, gather: ConvGeometry?, packed: UnsafePointer<Float>, m: Int, k: Int, n: Int,
                            rowsCap: Int, bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?, activation: Activation,
                            output: UnsafeMutablePointer<Float>, threads: Int) {
        let (rows, panelsPerTile) = packedTiles(m: m, k: k, n: n, rowsCap: rowsCap)
        let rowTiles = (m + rows - 1) / rows, colTiles = ((n + 15) / 16 + panelsPerTile - 1) / panelsPerTile
        let (code, alpha) = activation.ckCode
        let x = SendablePointer(input), w = SendablePointer(packed), out = SendablePointer(output)
        let b = bias.map { SendablePointer($0) }, res = residual.map { SendablePointer($0) }
        parallelFor(tiles: rowTiles * colTiles, threads: threads) { t in
            let r0 = (t / colTiles) * rows, col0 = (t % colTiles) * panelsPerTile * 16
            let count = min(rows, m - r0), cols = min(panelsPerTile * 16, n - col0)
            let columns = gather.map { g in
                let c = UnsafeMutablePointer<Float>.allocate(capacity: count * k)
                im2col(x.p, g, rows: r0..<(r0 + count), into: c)
                return c
            }
            defer { columns?.deallocate() }
            ck_gemm_packed(columns ?? x.p + r0 * k, k, w.p, k, col0, cols, b.map { UnsafePointer($0.p) },
                           res.map { UnsafePointer($0.p + r0 * n) }, out.p + r0 * n, n, count, code, alpha)
        }
    }

    /// Whether a Conv2D is a plain product `packedProduct` runs on its input: 1x1, stride 1, no
    /// padding. Measured on ResNet50 at batch 8 against OpenBLAS sgemm per tile + epilogue pass:
    /// 1x1 convs 167-170 -> 178-185 GFLOP/s on 2 threads (no per-call packing of the weights, the
    /// epilogue on values still in registers).
    public static func usesPackedProduct(_ g: ConvGeometry, outC: Int) -> Bool {
        g.kernelH == 1 && g.kernelW == 1 && g.strideH == 1 && g.strideW == 1 && g.padTop == 0 && g.padLeft == 0
            && g.outH == g.inH && g.outW == g.inW
    }

    /// Floats in the packed form of a k x n weight matrix.
    public static func packedCount(k: Int, n: Int) -> Int { ck_gemm_packed_size(k, n) }
}
