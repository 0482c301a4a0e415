import CKernels
@testable import Kernels
import XCTest

/// The packed-weights product behind 1x1/1 convolutions (`ck_gemm_packed`, `Fast.packedProduct`):
/// - `ck_gemm_packed` bit-identical to a Swift model of its documented order (bias, fused
///   multiply-adds over the whole reduction, + residual, activation) on the AVX-512, AVX2 and
///   portable bodies: reductions on both sides of the 256-step block (one block, several blocks, a
///   short last one), column blocks starting at any panel, partial panels, odd panel counts, row
///   tails of every length (blocks of 12 and 6 rows), leading dimensions larger than the block;
/// - equal to `ck_pointwise` on the plain weights (what `expandDepthwise` and the old path computed);
/// - `Fast.packedProduct` bit-identical at 1 and 2 threads and within 1e-5 x max of the Double
///   reference, over shapes whose tiling splits rows, columns or both;
/// - `Fast.packedConv2d` (what planned Conv2Ds run: im2col for every geometry but 1x1/1) against
///   the scalar reference within 1e-5 x max, and at 1 vs 2 threads bit-identical: kernels 1x1,
///   3x3, 5x5, 7x7, 1x3, strides 1/2, dilation 2, SAME/VALID/explicit padding, batch 1 and 3, odd
///   sizes, bias / residual / activations.
final class PackedProductTests: XCTestCase {
    typealias Random = FastKernelTests.Random
    static let activations: [Activation] = [.none, .relu, .relu6, .leakyRelu(alpha: 0.2)]

    /// The documented order of `ck_pointwise` and `ck_gemm_packed`, value by value.
    static func model(_ x: [Float], ldx: Int, _ w: [Float], ldw: Int, k: Int, cols: Range<Int>, rows: Int, bias: [Float]?,
                      residual: [Float]?, ldo: Int, _ activation: Activation, into out: inout [Float]) {
        for i in 0..<rows { for j in cols {
            var acc: Float = bias?[j] ?? 0
            for p in 0..<k { acc = acc.addingProduct(x[i * ldx + p], w[p * ldw + j]) }
            if let residual { acc = acc + residual[i * ldo + j] }
            switch activation {
            case .none: break
            case .relu: acc = 0 >= acc ? 0 : acc
            case .relu6: acc = 0 >= acc ? 0 : acc; acc = 6 < acc ? 6 : acc
            case let .leakyRelu(a): acc = acc >= 0 ? acc : a * acc
            }
            out[i * ldo + j] = acc
        } }
    }

    func testDocumentedOrderBitForBitOnEveryBody() {
        var r = Random(state: 41)
        let previous = ck_force_isa(Int32(CK_ISA_AVX512))
        defer { _ = ck_force_isa(previous) }
        for trial in 0..<120 {
            let k = [1, 3, 64, 255, 256, 257, 300, 513, 700][trial % 9]
            let n = [1, 5, 8, 16, 24, 33, 48, 64, 100][r.int(0...8)], rows = r.int(1...40)
            let panels = (n + 15) / 16, firstPanel = r.int(0...(panels - 1))
            let col0 = firstPanel * 16, cols = r.int(1...(n - col0))
            let ldx = k + r.int(0...2), ldo = n + r.int(0...3)
            let x = r.floats(rows * ldx), w = r.floats(k * n), b = r.floats(n), res = r.floats(rows * ldo)
            let activation = Self.activations[trial % 4]
            let (code, alpha) = activation.ckCode
            let hasBias = r.int(0...2) != 0, hasResidual = r.int(0...1) == 0
            var expected = [Float](repeating: -1, count: rows * ldo)
            Self.model(x, ldx: ldx, w, ldw: n, k: k, cols: col0..<(col0 + cols), rows: rows, bias: hasBias ? b : nil,
                  residual: hasResidual ? res : nil, ldo: ldo, activation, into: &expected)
            let packed = Fast.packWeights(w, k: k, n: n)
            XCTAssertEqual(packed.count, Fast.packedCount(k: k, n: n))
            let what = "trial \(trial): \(rows) rows, k \(k), n \(n), columns \(col0)..<\(col0 + cols) \(activation) bias \(hasBias) residual \(hasResidual)"
            for isa in [CK_ISA_PORTABLE, CK_ISA_AVX2, CK_ISA_AVX512] {
                _ = ck_force_isa(Int32(isa))
                var out = [Float](repeating: -1, count: rows * ldo)
                b.withUnsafeBufferPointer { bp in res.withUnsafeBufferPointer { rp in
                    ck_gemm_packed(x, ldx, packed, k, col0, cols, hasBias ? bp.baseAddress : nil, hasResidual ? rp.baseAddress : nil,
                                   &out, ldo, rows, code, alpha)
                } }
                XCTAssertEqual(zip(out, expected).filter { $0.bitPattern != $1.bitPattern }.count, 0, "\(what) ISA \(isa)")
                var plain = [Float](repeating: -1, count: rows * ldo)
                b.withUnsafeBufferPointer { bp in res.withUnsafeBufferPointer { rp in
                    ck_pointwise(x, ldx, w.withUnsafeBufferPointer { $0.baseAddress! + col0 }, n, hasBias ? bp.baseAddress! + col0 : nil,
                                 hasResidual ? rp.baseAddress! + col0 : nil, plain.withUnsafeMutableBufferPointer { $0.baseAddress! + col0 },
                                 ldo, rows, cols, k, code, alpha)
                } }
                XCTAssertEqual(zip(out, plain).filter { $0.bitPattern != $1.bitPattern }.count, 0, "\(what): ck_pointwise, ISA \(isa)")
            }
        }
    }

    func testProductMatchesReferenceAndThreads() {
        var r = Random(state: 42)
        // (m, k, n): many rows; few rows and wide (column split); a reduction in several blocks.
        for (m, k, n) in [(2_000, 24, 40), (49, 512, 2048), (392, 300, 100), (7, 1030, 33), (1, 5, 3), (300, 64, 256)] {
            let x = r.floats(m * k), w = r.floats(k * n), b = r.floats(n), res = r.floats(m * n)
            let packed = Fast.packWeights(w, k: k, n: n)
            var outs: [[Float]] = []
            for threads in [1, 2] {
                var out = [Float](repeating: .nan, count: m * n)
                Fast.packedProduct(input: x, packed: packed, m: m, k: k, n: n, bias: b, residual: res, activation: .leakyRelu(alpha: 0.25),
                                   output: &out, threads: threads)
                outs.append(out)
            }
            var reference = [Float](repeating: 0, count: m * n)
            for i in 0..<m { for j in 0..<n {
                var acc = Double(b[j])
                for p in 0..<k { acc += Double(x[i * k + p]) * Double(w[p * n + j]) }
                reference[i * n + j] = Activation.leakyRelu(alpha: 0.25).apply(Float(acc + Double(res[i * n + j])))
            } }
            let scale = max(reference.map(abs).max() ?? 0, 1e-6)
            let error = zip(outs[0], reference).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(error, 1e-5 * scale, "\(m)x\(k)x\(n): max error \(error)")
            XCTAssertEqual(outs[0].map(\.bitPattern), outs[1].map(\.bitPattern), "\(m)x\(k)x\(n): 1 vs 2 threads")
        }
    }

    func testPackedConv2DMatchesReference() throws {
        var r = Random(state: 43)
        let paddings: [Padding] = [.same, .valid, .explicit(top: 1, bottom: 2, left: 0, right: 3)]
        var checked = 0
        for trial in 0..<50 {
            let (kh, kw) = [(1, 1), (3, 3), (5, 5), (7, 7), (1, 3)][trial % 5]
            let inC = [1, 3, 8, 21, 70][r.int(0...4)], outC = [1, 5, 16, 24, 40][r.int(0...4)]
            let stride = r.int(1...2), dilation = trial % 7 == 6 ? 2 : 1
            guard let g = try? ConvGeometry.make(batch: [1, 3][trial % 2], inH: r.int(kh...15), inW: r.int(kw...17), inC: inC,
                                                 kernelH: kh, kernelW: kw, strideH: stride, strideW: stride, dilationH: dilation,
                                                 dilationW: dilation, padding: paddings[trial % 3]) else { continue }
            let n = g.batch * g.outH * g.outW * outC
            let x = r.floats(g.batch * g.inH * g.inW * inC), w = r.floats(kh * kw * inC * outC), b = r.floats(outC), res = r.floats(n)
            let activation = Self.activations[trial % 4], hasResidual = trial % 3 == 0
            var reference = [Float](repeating: .nan, count: n)
            Reference.conv2d(input: x, filter: w, bias: b, activation: .none, geometry: g, outC: outC, output: &reference)
            for i in reference.indices { reference[i] = activation.apply(reference[i] + (hasResidual ? res[i] : 0)) }
            let packed = Fast.packWeights(w, k: kh * kw * inC, n: outC)
            var outs: [[Float]] = []
            for threads in [1, 2] {
                var out = [Float](repeating: .nan, count: n)
                res.withUnsafeBufferPointer { rp in
                    Fast.packedConv2d(input: x, packed: packed, bias: b, residual: hasResidual ? rp.baseAddress : nil, activation: activation,
                                      geometry: g, outC: outC, output: &out, threads: threads)
                }
                outs.append(out)
            }
            let what = "\(g.batch)x\(g.inH)x\(g.inW)x\(inC) k\(kh)x\(kw)/\(stride) d\(dilation) pad \(g.padTop),\(g.padLeft) -> \(outC) \(activation)"
            let scale = max(reference.map(abs).max() ?? 0, 1e-6)
            let error = zip(outs[0], reference).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(error, 1e-5 * scale, "\(what): max error \(error), max |reference| \(scale)")
            XCTAssertEqual(outs[0].map(\.bitPattern), outs[1].map(\.bitPattern), "\(what): 1 vs 2 threads")
            checked += 1
        }
        XCTAssertGreaterThan(checked, 40)
    }
}
