import CKernels
@testable import Kernels
import XCTest

/// The C kernel behind 1x1 convolutions with a short reduction (K <= `Fast.pointwiseMaxK`):
/// - `Fast.directConv2d` (1x1, 3x3, 1x3; the Winograd route has its own tests) against the scalar reference (Double): max |fast - reference| <=
///   1e-5 * max |reference|, with bias / residual / every activation, K on both sides of the cut-off;
/// - `ck_pointwise` bit-identical to a Swift model of its documented order (bias, fused
///   multiply-adds over k, + residual, activation), with the AVX2 body and with the portable one;
/// - 1 vs 2 threads bit-identical.
final class PointwiseCTests: XCTestCase {
    typealias Random = FastKernelTests.Random
    static let activations: [Activation] = [.none, .relu, .relu6, .leakyRelu(alpha: 0.2)]

    /// 1x1 convolutions (the input itself is the matrix) and 3x3 / 1x3 ones (through im2col), K on both
    /// sides of the cut-off.
    func testConv2DMatchesReference() throws {
        var r = Random(state: 31)
        for trial in 0..<60 {
            let inC = [1, 3, 16, 24, 37, 160, 161, 200][trial % 8], outC = [1, 7, 8, 13, 16, 24, 37, 96][r.int(0...7)]
            let (kh, kw) = [(1, 1), (3, 3), (1, 3)][trial % 3]
            let g = try ConvGeometry.make(batch: r.int(1...3), inH: r.int(kh...9), inW: r.int(kw...11), inC: inC, kernelH: kh, kernelW: kw,
                                          strideH: r.int(1...2), strideW: r.int(1...2), padding: kh == 1 && kw == 1 ? .valid : .same)
            let n = g.batch * g.outH * g.outW * outC
            let x = r.floats(g.batch * g.inH * g.inW * inC), w = r.floats(kh * kw * inC * outC), b = r.floats(outC), res = r.floats(n)
            let activation = Self.activations[r.int(0...3)]
            let hasBias = r.int(0...3) != 0, hasResidual = r.int(0...1) == 0
            var reference = [Float](repeating: .nan, count: n)
            b.withUnsafeBufferPointer { bp in
                Reference.conv2d(input: x, filter: w, bias: hasBias ? bp.baseAddress : nil, activation: .none, geometry: g, outC: outC,
                                 output: &reference)
            }
            for i in reference.indices { reference[i] = activation.apply(reference[i] + (hasResidual ? res[i] : 0)) }
            var outs: [[Float]] = []
            for threads in [1, 2] {
                var out = [Float](repeating: .nan, count: n)
                b.withUnsafeBufferPointer { bp in res.withUnsafeBufferPointer { rp in
                    Fast.directConv2d(input: x, filter: w, bias: hasBias ? bp.baseAddress : nil, residual: hasResidual ? rp.baseAddress : nil,
                                activation: activation, geometry: g, outC: outC, output: &out, threads: threads)
                } }
                outs.append(out)
            }
            let what = "\(g.batch)x\(g.inH)x\(g.inW)x\(inC) k\(kh)x\(kw)/\(g.strideH),\(g.strideW) -> \(outC) \(activation) bias \(hasBias) residual \(hasResidual)"
            let scale = max(reference.map(abs).max() ?? 0, 1e-6)
            let error = zip(outs[0], reference).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(error, 1e-5 * scale, "\(what): max error \(error), max |reference| \(scale)")
            XCTAssertEqual(zip(outs[0], outs[1]).filter { $0.bitPattern != $1.bitPattern }.count, 0, "\(what): threads 1 vs 2")
        }
    }

    func testDocumentedOrderBitForBitOnBothBodies() {
        var r = Random(state: 32)
        let previous = ck_force_portable(0)
        defer { _ = ck_force_portable(previous) }
        for trial in 0..<60 {
            let rows = r.int(1...14), cols = [1, 5, 8, 9, 16, 17, 23, 40][r.int(0...7)], k = [1, 2, 7, 16, 33, 160][r.int(0...5)]
            let ldx = k + r.int(0...2), ldw = cols + r.int(0...3), ldo = cols + r.int(0...3)
            let x = r.floats(rows * ldx), w = r.floats(k * ldw), b = r.floats(cols), res = r.floats(rows * ldo)
            let activation = Self.activations[trial % 4]
            let (code, alpha) = activation.ckCode
            let hasBias = r.int(0...2) != 0, hasResidual = r.int(0...1) == 0
            var expected = [Float](repeating: -1, count: rows * ldo)
            PackedProductTests.model(x, ldx: ldx, w, ldw: ldw, k: k, cols: 0..<cols, rows: rows, bias: hasBias ? b : nil,
                                     residual: hasResidual ? res : nil, ldo: ldo, activation, into: &expected)
            for portable in [0, 1] as [Int32] {
                _ = ck_force_portable(portable)
                var out = [Float](repeating: -1, count: rows * ldo)
                b.withUnsafeBufferPointer { bp in res.withUnsafeBufferPointer { rp in
                    ck_pointwise(x, ldx, w, ldw, hasBias ? bp.baseAddress : nil, hasResidual ? rp.baseAddress : nil, &out, ldo,
                                 rows, cols, k, code, alpha)
                } }
                let differing = zip(out, expected).filter { $0.bitPattern != $1.bitPattern }.count
                XCTAssertEqual(differing, 0, "trial \(trial) portable \(portable): \(rows)x\(cols) k \(k) \(activation)")
            }
        }
    }
}
