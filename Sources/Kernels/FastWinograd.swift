import CKernels

/// Winograd F(4x4, 3x3) convolution (Lavin & Gray; transforms and their points in
/// CKernels/include/ckernels_winograd.h): 3x3 kernels, stride 1, dilation 1, any padding.
/// Each 4x4 output tile costs 36 multiplies per (input, output) channel pair instead of 144:
/// the input tiles are transformed (C, AVX2), the 36 transformed points become 36 products
/// (tiles x inC) x (inC x outC) against the filter transformed and packed once per plan (the
/// packed-weight C kernel `ck_gemm_packed`; ResNet50's Winograd layers at batch 1: 10.0 -> 8.2 ms
/// against OpenBLAS sgemm, alike at batch 8), and the output transform (C, AVX2) adds bias and
/// residual and applies the activation.
///
/// Accuracy: F(4x4) amplifies rounding by the transforms' magnitudes (entries up to 8 in A^T,
/// 5 in B^T): max |winograd - exact| is around 1e-6..1e-5 of max |output| on random data,
/// against ~1e-7 for direct convolution (see WinogradTests); ResNet50's logits end to end:
/// 2.8e-5 of max |logit| from TensorFlow's, against 1.3e-5 with direct convolutions.
extension Fast {
    /// Whether `conv2d` takes the Winograd path: 3x3/1 undilated with at least 8 output tiles.
    /// With fewer tiles (7x7 at batch 1) streaming the transformed filter (4x the original's size)
    /// costs more than the saved multiplies (bench `winograd`, 2 threads: ResNet50's 7x7x512 layer
    /// at batch 1, 4 tiles: 2.4 ms direct, 2.9 ms Winograd; at batch 8, 32 tiles: 13-18 ms direct,
    /// 6-8 ms Winograd). Any channel count pays: im2col dominates direct convolutions with few
    /// channels (56x56, batch 1: 1->8 channels 0.14 vs 0.06 ms, 3->16 at 112x112 0.59 vs 0.28,
    /// 16->16 0.24 vs 0.08).
    public static func usesWinograd(_ g: ConvGeometry, outC: Int) -> Bool {
        g.kernelH == 3 && g.kernelW == 3 && g.strideH == 1 && g.strideW == 1 && g.dilationH == 1 && g.dilationW == 1
            && g.batch * ((g.outH + 3) / 4) * ((g.outW + 3) / 4) >= 8
    }

    /// The transformed filter of an HWIO 3x3 filter as `winogradConv2d` takes it (done once per
    /// plan): each of the 36 planes U[e] (inC x outC) packed by `packWeights`.
    public static func winogradPackedFilter(_ filter: UnsafePointer<Float>, inC: Int, outC: Int) -> [Float] {
        let u = winogradFilter(filter, inC: inC, outC: outC)
        let plane = packedCount(k: inC, n: outC)
        return [Float](unsafeUninitializedCapacity: 36 * plane) { buffer, initialized in
            for e in 0..<36 { ck_gemm_pack(u.withUnsafeBufferPointer { $0.baseAddress! + e * inC * outC }, outC, inC, outC,
                                           buffer.baseAddress! + e * plane) }
            initialized = 36 * plane
        }
    }

    /// The transformed filter U[36][inC][outC] of an HWIO 3x3 filter.
    public static func winogradFilter(_ filter: UnsafePointer<Float>, inC: Int, outC: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: 36 * inC * outC) { u, initialized in
            ck_wino43_filter(filter, Int32(inC), Int32(outC), u.baseAddress!)
            initialized = 36 * inC * outC
        }
    }

    /// How the work is cut into units; depends on the shape only, never on the thread budget.
    ///
    /// Fused (many tiles, early layers): a unit transforms a block of `tileBlock` tiles, runs the
    /// 36 products on them and transforms their outputs, so the transformed input (36 x tileBlock x
    /// inC) and the products (36 x tileBlock x outC) stay cache-resident.
    ///
    /// Staged (few tiles or large filters: late layers, small batches): all tiles are transformed
    /// first (units of `tileBlock` tiles), then each of the 36 products is one unit over all tiles
    /// (each transformed filter plane read once), then the outputs are transformed.
    ///
    /// Fused is taken when it gives at least 4 blocks (both cores busy) and a transformed filter
    /// plane (inC x outC, which every block streams again) is at most 128 KiB; staged
    /// otherwise, unless its whole transformed input and products would exceed `stagedBytes`. On ResNet50 this picks fused for 56x56x64 and 28x28x128, staged for 14x14x256
    /// and 7x7x512, each the faster schedule measured at batch 8 (bench `winograd`, tile block -1
    /// forces staged).
    struct WinogradGrid {
        let tilesH, tilesW, tiles, tileBlock, tileBlocks: Int
        let staged: Bool
        static let stagedBytes = 64 << 20

        init(_ g: ConvGeometry, outC: Int, tileBlock requested: Int? = nil) {
            tilesH = (g.outH + 3) / 4
            tilesW = (g.outW + 3) / 4
            tiles = g.batch * tilesH * tilesW
            let fusedBlocks = WinogradGrid.blocks(tiles, wanted: requested.flatMap { $0 > 0 ? $0 : nil }
                                                  ?? WinogradGrid.defaultBlock(inC: g.inC, outC: outC))
            if let requested {
                staged = requested < 0
            } else {
                staged = (fusedBlocks < 4 || g.inC * outC > 32_768) && 36 * tiles * (g.inC + outC) * 4 <= WinogradGrid.stagedBytes
            }
            // Staged: the transforms run in units of about 16 tiles.
            let count = staged ? WinogradGrid.blocks(tiles, wanted: 16) : fusedBlocks
            tileBlock = (tiles + count - 1) / count
            tileBlocks = (tiles + tileBlock - 1) / tileBlock
        }

        /// Blocks of about `wanted` tiles, all of nearly equal size (the last is no sliver); an even
        /// number below 16 so that two cores finish together.
        static func blocks(_ tiles: Int, wanted: Int) -> Int {
            let count = max(1, (tiles + wanted - 1) / wanted)
            return count > 1 && count < 16 && count % 2 == 1 ? count + 1 : count
        }

        static func defaultBlock(inC: Int, outC: Int) -> Int {
            // About 768 KiB of transformed input + products per block (L2 is 1 MiB per core), 32...64
            // tiles (measured: 32-128 alike for 56x56x64, 32 best for 28x28x128 at batch 8).
            max(32, min(64, 196_608 / (36 * (inC + outC))))
        }

        func block(_ b: Int) -> (tile0: Int, count: Int) {
            (b * tileBlock, min(tileBlock, tiles - b * tileBlock))
        }
    }

    /// 3x3/1 convolution by Winograd F(4x4, 3x3) with a filter from `winogradPackedFilter`.
    /// `tileBlock` overrides the tiles per fused work unit, or with -1 forces the staged
    /// schedule (benchmarks only).
    public static func winogradConv2d(input: UnsafePointer<Float>, transformedFilter: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                                      residual: UnsafePointer<Float>? = nil, activation: Activation, geometry g: ConvGeometry, outC: Int,
                                      output: UnsafeMutablePointer<Float>, threads: Int, tileBlock: Int? = nil) {
        precondition(g.kernelH == 3 && g.kernelW == 3 && g.strideH == 1 && g.strideW == 1 && g.dilationH == 1 && g.dilationW == 1,
                     "Winograd F(4x4, 3x3) needs a 3x3 kernel, stride 1, dilation 1")
        let grid = WinogradGrid(g, outC: outC, tileBlock: tileBlock)
        let inC = g.inC, plane = packedCount(k: inC, n: outC)
        let x = SendablePointer(input), u = SendablePointer(transformedFilter), out = SendablePointer(output)
        let b = bias.map { SendablePointer($0) }, res = residual.map { SendablePointer($0) }
        let (code, alpha): (Int32, Float) = switch activation {
        case .none: (0, 0)
        case .relu: (1, 0)
        case .relu6: (2, 0)
        case let .leakyRelu(a): (3, a)
        }
        @Sendable func transformIn(_ tile0: Int, _ count: Int, _ v: UnsafeMutablePointer<Float>, _ ldt: Int) {
            ck_wino43_input(x.p, Int32(g.inH), Int32(g.inW), Int32(inC), Int32(g.padTop), Int32(g.padLeft), Int32(grid.tilesH),
                            Int32(grid.tilesW), Int32(tile0), Int32(count), v, Int32(ldt))
        }
        @Sendable func transformOut(_ m: UnsafePointer<Float>, _ ldt: Int, _ tile0: Int, _ count: Int) {
            ck_wino43_output(m, Int32(outC), Int32(ldt), Int32(count), Int32(tile0), Int32(grid.tilesH), Int32(grid.tilesW),
                             Int32(g.outH), Int32(g.outW), Int32(outC), 0, Int32(outC), b.map { UnsafePointer($0.p) },
                             res.map { UnsafePointer($0.p) }, code, alpha, out.p)
        }
        if grid.staged {
            let v = UnsafeMutablePointer<Float>.allocate(capacity: 36 * grid.tiles * inC)
            let m = UnsafeMutablePointer<Float>.allocate(capacity: 36 * grid.tiles * outC)
            defer { v.deallocate(); m.deallocate() }
            let pv = SendablePointer(v), pm = SendablePointer(m)
            parallelFor(tiles: grid.tileBlocks, threads: threads) { block in
                let (tile0, count) = grid.block(block)
                transformIn(tile0, count, pv.p + tile0 * inC, grid.tiles)
            }
            parallelFor(tiles: 36, threads: threads) { e in
                ck_gemm_packed(pv.p + e * grid.tiles * inC, inC, u.p + e * plane, inC, 0, outC, nil, nil, pm.p + e * grid.tiles * outC,
                               outC, grid.tiles, 0, 0)
            }
            parallelFor(tiles: grid.tileBlocks, threads: threads) { block in
                let (tile0, count) = grid.block(block)
                transformOut(pm.p + tile0 * outC, grid.tiles, tile0, count)
            }
            return
        }
        parallelFor(tiles: grid.tileBlocks, threads: threads) { block in
            let (tile0, count) = grid.block(block)
            let v = UnsafeMutablePointer<Float>.allocate(capacity: 36 * count * inC)
            let m = UnsafeMutablePointer<Float>.allocate(capacity: 36 * count * outC)
            defer { v.deallocate(); m.deallocate() }
            transformIn(tile0, count, v, count)
            for e in 0..<36 {
                ck_gemm_packed(v + e * count * inC, inC, u.p + e * plane, inC, 0, outC, nil, nil, m + e * count * outC, outC, count, 0, 0)
            }
            transformOut(m, count, tile0, count)
        }
    }
}
