import CKernels
@testable import Kernels
import XCTest

/// Winograd F(4x4, 3x3) against the scalar reference (Double accumulation) on odd shapes, channel
/// counts off the 8-lane grid, SAME/VALID/asymmetric explicit padding, batch 1 and 3, with bias,
/// residual and every activation.
///
/// Tolerance: max |winograd - reference| <= 1e-4 * max |reference|. F(4x4) is less exact than a
/// direct sum: the transforms multiply by up to 8 (A^T) and 5 (B^T), and the filter transform's
/// 1/6, 1/12, 1/24 are not exact in float. Measured on these cases (weights scaled like a trained
/// layer, 1/sqrt(9 inC)): worst ratio about 3e-6 (printed by the test); direct im2col + sgemm
/// reaches ~3e-7 on the same data. The AVX2 and portable bodies, and any thread budget, must give
/// bit-identical outputs.
final class WinogradTests: XCTestCase {
    typealias Random = FastKernelTests.Random

    struct Case {
        var batch, h, w, inC, outC: Int
        var padding: Padding
        var activation: Activation
        var residual: Bool
    }

    static let cases: [Case] = [
        Case(batch: 1, h: 5, w: 7, inC: 3, outC: 13, padding: .same, activation: .none, residual: false),
        Case(batch: 3, h: 9, w: 13, inC: 13, outC: 64, padding: .valid, activation: .relu, residual: true),
        Case(batch: 1, h: 14, w: 14, inC: 64, outC: 70, padding: .same, activation: .relu6, residual: false),
        Case(batch: 3, h: 1, w: 1, inC: 16, outC: 16, padding: .same, activation: .leakyRelu(alpha: 0.1), residual: true),
        Case(batch: 1, h: 9, w: 13, inC: 70, outC: 3, padding: .explicit(top: 1, bottom: 0, left: 2, right: 1), activation: .relu,
             residual: true),
        Case(batch: 3, h: 14, w: 14, inC: 13, outC: 13, padding: .explicit(top: 0, bottom: 2, left: 1, right: 0), activation: .none,
             residual: false),
        Case(batch: 1, h: 7, w: 7, inC: 64, outC: 64, padding: .same, activation: .relu, residual: true),
        Case(batch: 3, h: 3, w: 3, inC: 8, outC: 17, padding: .valid, activation: .leakyRelu(alpha: 0.2), residual: false),
        Case(batch: 1, h: 17, w: 6, inC: 24, outC: 40, padding: .explicit(top: 2, bottom: 2, left: 0, right: 3), activation: .relu6,
             residual: true),
    ]

    struct Data {
        let g: ConvGeometry
        let outC: Int
        let x, w, bias, residual: [Float]
        var outputCount: Int { g.batch * g.outH * g.outW * outC }
    }

    func data(_ c: Case, _ r: inout Random) throws -> Data {
        let g = try ConvGeometry.make(batch: c.batch, inH: c.h, inW: c.w, inC: c.inC, kernelH: 3, kernelW: 3, padding: c.padding)
        let scale = 1 / Float(9 * c.inC).squareRoot()
        let x = r.floats(c.batch * c.h * c.w * c.inC)
        let w = r.floats(9 * c.inC * c.outC).map { $0 * scale }
        let bias = r.floats(c.outC).map { $0 * 0.1 }
        let residual = c.residual ? r.floats(c.batch * g.outH * g.outW * c.outC) : []
        return Data(g: g, outC: c.outC, x: x, w: w, bias: bias, residual: residual)
    }

    /// `tileBlock`: nil for the shape's own schedule, n > 0 for the fused one with n tiles per unit.
    func winograd(_ d: Data, _ c: Case, threads: Int, tileBlock: Int? = nil) -> [Float] {
        let u = Fast.winogradPackedFilter(d.w, inC: d.g.inC, outC: d.outC)
        var out = [Float](repeating: .nan, count: d.outputCount)
        d.residual.withUnsafeBufferPointer { res in
            Fast.winogradConv2d(input: d.x, transformedFilter: u, bias: d.bias, residual: c.residual ? res.baseAddress : nil,
                                activation: c.activation, geometry: d.g, outC: d.outC, output: &out, threads: threads,
                                tileBlock: tileBlock)
        }
        return out
    }

    func reference(_ d: Data, _ c: Case) -> [Float] {
        var out = [Float](repeating: .nan, count: d.outputCount)
        Reference.conv2d(input: d.x, filter: d.w, bias: d.bias, activation: .none, geometry: d.g, outC: d.outC, output: &out)
        return out.indices.map { c.activation.apply(c.residual ? out[$0] + d.residual[$0] : out[$0]) }
    }

    func testMatchesReference() throws {
        var r = Random(state: 11)
        var worst = 0.0
        for c in Self.cases {
            let d = try data(c, &r)
            let ref = reference(d, c)
            let scale = max(ref.map(abs).max() ?? 0, 1e-6)
            // The staged schedule (these shapes' own) and the fused one.
            for tileBlock in [nil, 5] {
                let fast = winograd(d, c, threads: 2, tileBlock: tileBlock)
                let error = zip(fast, ref).map { abs($0 - $1) }.max() ?? 0
                worst = max(worst, Double(error / scale))
                XCTAssertLessThanOrEqual(error, 1e-4 * scale,
                                         "\(d.g) outC \(d.outC) block \(tileBlock ?? 0): max error \(error), max |reference| \(scale)")
            }
        }
        print("Winograd F(4x4, 3x3): worst max|error| / max|reference| = \(worst)")
    }

    func testPortableBodiesAreBitIdentical() throws {
        var r = Random(state: 12)
        for c in Self.cases {
            let d = try data(c, &r)
            for tileBlock in [nil, 5] {
                let vector = winograd(d, c, threads: 2, tileBlock: tileBlock)
                let previous = ck_force_portable(1)
                let portable = winograd(d, c, threads: 2, tileBlock: tileBlock)
                _ = ck_force_portable(previous)
                XCTAssertTrue(vector.map(\.bitPattern) == portable.map(\.bitPattern), "AVX2 vs portable: \(d.g) outC \(d.outC)")
            }
        }
        if ck_has_avx2_fma() == 0 { print("no AVX2+FMA on this CPU: both runs used the portable bodies") }
    }

    func testBitIdenticalAtAnyThreadCount() throws {
        var r = Random(state: 13)
        // Many tiles; few tiles with many channels (late-layer shape); a last block shorter than the others.
        let cases = [
            Case(batch: 3, h: 31, w: 29, inC: 24, outC: 40, padding: .same, activation: .relu, residual: true),
            Case(batch: 1, h: 7, w: 7, inC: 128, outC: 136, padding: .same, activation: .none, residual: false),
            Case(batch: 2, h: 23, w: 9, inC: 16, outC: 200, padding: .valid, activation: .relu6, residual: false),
        ]
        for c in cases {
            let d = try data(c, &r)
            for tileBlock in [nil, 24] {
                let runs = [1, 2, 3].map { winograd(d, c, threads: $0, tileBlock: tileBlock).map(\.bitPattern) }
                XCTAssertTrue(runs[0] == runs[1], "1 vs 2 threads: \(d.g) outC \(d.outC) block \(tileBlock ?? 0)")
                XCTAssertTrue(runs[0] == runs[2], "1 vs 3 threads: \(d.g) outC \(d.outC) block \(tileBlock ?? 0)")
            }
        }
    }

    func testConv2DDispatch() throws {
        var r = Random(state: 14)
        let g = try ConvGeometry.make(batch: 1, inH: 10, inW: 11, inC: 16, kernelH: 3, kernelW: 3, padding: .same)
        XCTAssertTrue(Fast.usesWinograd(g, outC: 16))
        let few = try ConvGeometry.make(batch: 1, inH: 7, inW: 7, inC: 16, kernelH: 3, kernelW: 3, padding: .same)
        XCTAssertFalse(Fast.usesWinograd(few, outC: 16), "4 tiles: direct")
        var dilated = g
        dilated.dilationH = 2
        XCTAssertFalse(Fast.usesWinograd(dilated, outC: 16))
        var strided = g
        strided.strideW = 2
        XCTAssertFalse(Fast.usesWinograd(strided, outC: 16))
        // Fast.conv2d on an eligible shape is the Winograd kernel with the filter transformed per call.
        let c = Case(batch: 1, h: 10, w: 11, inC: 16, outC: 16, padding: .same, activation: .relu, residual: false)
        let d = try data(c, &r)
        var viaConv = [Float](repeating: .nan, count: d.outputCount)
        Fast.conv2d(input: d.x, filter: d.w, bias: d.bias, activation: .relu, geometry: d.g, outC: 16, output: &viaConv, threads: 2)
        XCTAssertTrue(viaConv.map(\.bitPattern) == winograd(d, c, threads: 1).map(\.bitPattern))
    }

    func testFilterTransformOfADeltaIsGColumnProducts() {
        // g = a single 1 at (kh, kw) = (1, 1): U[i][j] = G[i][1] * G[j][1].
        var w = [Float](repeating: 0, count: 9)
        w[4] = 1
        let u = Fast.winogradFilter(w, inC: 1, outC: 1)
        let g1: [Double] = [0, -1.0 / 6, 1.0 / 6, 1.0 / 12, -1.0 / 12, 0]
        for i in 0..<6 { for j in 0..<6 { XCTAssertEqual(u[i * 6 + j], Float(g1[i] * g1[j])) } }
    }
}
