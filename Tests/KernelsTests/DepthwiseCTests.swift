import CKernels
@testable import Kernels
import XCTest

/// The C depthwise kernel behind `Fast.depthwiseConv2d` (Sources/CKernels/depthwise.c):
/// - against the scalar reference (Double accumulation): max |fast - reference| <= 1e-5 * max |reference|;
/// - bit-identical to a Swift model of the documented order (bias, then fused multiply-adds
///   kh-major kw-minor, then + residual, then the activation), so the AVX2 and portable bodies
///   both follow it;
/// - bit-identical between the AVX2 and the portable body (`ck_force_portable`), and between 1 and 2 threads.
/// Shapes: odd sizes, channels 1, 3, 7, 13, 24, 37 (tails of the 8-lane blocks), strides 1/2, SAME,
/// VALID and explicit padding, dilation 2, kernels 3x3, 5x5, 1x3, batch 1 and 3, multiplier 1 and 2,
/// with and without bias and residual, and every activation.
final class DepthwiseCTests: XCTestCase {
    typealias Random = FastKernelTests.Random

    struct Case: CustomStringConvertible {
        var g: ConvGeometry
        var multiplier: Int
        var activation: Activation
        var hasBias: Bool
        var hasResidual: Bool
        var description: String {
            "\(g.batch)x\(g.inH)x\(g.inW)x\(g.inC) k\(g.kernelH)x\(g.kernelW) s\(g.strideH),\(g.strideW) d\(g.dilationH),\(g.dilationW) "
                + "pad \(g.padTop),\(g.padLeft) -> \(g.outH)x\(g.outW) m\(multiplier) \(activation) bias \(hasBias) residual \(hasResidual)"
        }
    }

    struct Data {
        var x, w, b, res: [Float]
    }

    static let activations: [Activation] = [.none, .relu, .relu6, .leakyRelu(alpha: 0.2)]

    func cases() throws -> [Case] {
        var r = Random(state: 7)
        let kernels = [(3, 3), (5, 5), (1, 3)]
        let channels = [1, 3, 7, 13, 24, 37]
        let paddings: [Padding] = [.same, .valid, .explicit(top: 1, bottom: 2, left: 0, right: 1), .explicit(top: 3, bottom: 0, left: 2, right: 3)]
        var all: [Case] = []
        var i = 0
        while all.count < 96 {
            let (kh, kw) = kernels[i % 3]
            let c = channels[(i / 3) % channels.count]
            let s = r.int(1...2), d = i % 5 == 4 ? 2 : 1
            let padding = paddings[r.int(0...3)]
            i += 1
            guard let g = try? ConvGeometry.make(batch: [1, 3][r.int(0...1)], inH: r.int(kh...13), inW: r.int(kw...21), inC: c,
                                                 kernelH: kh, kernelW: kw, strideH: s, strideW: r.int(1...2),
                                                 dilationH: d, dilationW: d, padding: padding) else { continue }
            all.append(Case(g: g, multiplier: i % 7 == 0 ? 2 : 1, activation: Self.activations[all.count % 4],
                            hasBias: all.count % 3 != 1, hasResidual: all.count % 2 == 0))
        }
        // MobileNetV2's shapes, shrunk: the 4-pixel interior blocks and their remainders.
        for (h, c, s) in [(28, 32, 1), (27, 40, 2), (14, 96, 1), (9, 144, 2), (7, 960, 1)] {
            let g = try ConvGeometry.make(batch: 2, inH: h, inW: h, inC: c, kernelH: 3, kernelW: 3, strideH: s, strideW: s, padding: .same)
            all.append(Case(g: g, multiplier: 1, activation: .relu6, hasBias: true, hasResidual: false))
            all.append(Case(g: g, multiplier: 1, activation: .leakyRelu(alpha: 0.1), hasBias: true, hasResidual: true))
        }
        return all
    }

    func data(_ k: Case, _ r: inout Random) -> Data {
        let g = k.g, outC = g.inC * k.multiplier
        return Data(x: r.floats(g.batch * g.inH * g.inW * g.inC), w: r.floats(g.kernelH * g.kernelW * outC),
                    b: k.hasBias ? r.floats(outC) : [], res: k.hasResidual ? r.floats(g.batch * g.outH * g.outW * outC) : [])
    }

    func fast(_ k: Case, _ d: Data, threads: Int) -> [Float] {
        var out = [Float](repeating: .nan, count: k.g.batch * k.g.outH * k.g.outW * k.g.inC * k.multiplier)
        d.x.withUnsafeBufferPointer { x in d.w.withUnsafeBufferPointer { w in d.b.withUnsafeBufferPointer { b in
            d.res.withUnsafeBufferPointer { res in out.withUnsafeMutableBufferPointer { o in
                Fast.depthwiseConv2d(input: x.baseAddress!, filter: w.baseAddress!, multiplier: k.multiplier,
                                     bias: k.hasBias ? b.baseAddress! : nil, residual: k.hasResidual ? res.baseAddress! : nil,
                                     activation: k.activation, geometry: k.g, output: o.baseAddress!, threads: threads)
            } }
        } } }
        return out
    }

    /// The scalar reference (Double) without activation, then + residual and the activation in Float.
    func reference(_ k: Case, _ d: Data) -> [Float] {
        var out = [Float](repeating: .nan, count: k.g.batch * k.g.outH * k.g.outW * k.g.inC * k.multiplier)
        d.b.withUnsafeBufferPointer { b in
            Reference.depthwiseConv2d(input: d.x, filter: d.w, multiplier: k.multiplier, bias: k.hasBias ? b.baseAddress! : nil,
                                      activation: .none, geometry: k.g, output: &out)
        }
        for i in out.indices { out[i] = k.activation.apply(out[i] + (k.hasResidual ? d.res[i] : 0)) }
        return out
    }

    /// The order the C header documents, written independently in Swift (addingProduct is a fused multiply-add).
    func documentedOrder(_ k: Case, _ d: Data) -> [Float] {
        let g = k.g, m = k.multiplier, outC = g.inC * m
        var out = [Float](repeating: .nan, count: g.batch * g.outH * g.outW * outC)
        for n in 0..<g.batch { for oh in 0..<g.outH { for ow in 0..<g.outW { for oc in 0..<outC {
            var acc: Float = k.hasBias ? d.b[oc] : 0
            for kh in 0..<g.kernelH { for kw in 0..<g.kernelW {
                let ih = oh * g.strideH - g.padTop + kh * g.dilationH, iw = ow * g.strideW - g.padLeft + kw * g.dilationW
                guard ih >= 0, ih < g.inH, iw >= 0, iw < g.inW else { continue }
                acc = acc.addingProduct(d.x[((n * g.inH + ih) * g.inW + iw) * g.inC + oc / m], d.w[(kh * g.kernelW + kw) * outC + oc])
            } }
            let o = ((n * g.outH + oh) * g.outW + ow) * outC + oc
            if k.hasResidual { acc = acc + d.res[o] }
            switch k.activation {
            case .none: break
            case .relu: acc = 0 > acc ? 0 : acc
            case .relu6: acc = 0 > acc ? 0 : acc; acc = 6 < acc ? 6 : acc
            case let .leakyRelu(alpha): acc = acc >= 0 ? acc : alpha * acc
            }
            out[o] = acc
        } } } }
        return out
    }

    func assertBitIdentical(_ a: [Float], _ b: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, what, file: file, line: line)
        let differing = zip(a, b).filter { $0.bitPattern != $1.bitPattern }.count
        XCTAssertEqual(differing, 0, "\(what): \(differing) of \(a.count) values differ", file: file, line: line)
    }

    func testMatchesReference() throws {
        var r = Random(state: 11)
        for k in try cases() {
            let d = data(k, &r)
            let out = fast(k, d, threads: 2)
            let expected = reference(k, d)
            let scale = max(expected.map(abs).max() ?? 0, 1e-6)
            let error = zip(out, expected).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(error, 1e-5 * scale, "\(k): max error \(error), max |reference| \(scale)")
        }
    }

    func testFollowsTheDocumentedOrderBitForBit() throws {
        var r = Random(state: 12)
        for k in try cases() {
            let d = data(k, &r)
            assertBitIdentical(fast(k, d, threads: 2), documentedOrder(k, d), "\(k)")
        }
    }

    func testAVX2AndPortableBodiesAreBitIdentical() throws {
        if ck_has_avx2_fma() == 0 { print("DepthwiseCTests: no AVX2+FMA here; both runs use the portable body") }
        var r = Random(state: 13)
        let previous = ck_force_portable(0)
        defer { _ = ck_force_portable(previous) }
        for k in try cases() {
            let d = data(k, &r)
            _ = ck_force_portable(0)
            let vector = fast(k, d, threads: 2)
            _ = ck_force_portable(1)
            let portable = fast(k, d, threads: 2)
            assertBitIdentical(vector, portable, "\(k)")
        }
    }

    func testThreadCountDoesNotChangeBits() throws {
        var r = Random(state: 14)
        for k in try cases() {
            let d = data(k, &r)
            assertBitIdentical(fast(k, d, threads: 1), fast(k, d, threads: 2), "\(k)")
            assertBitIdentical(fast(k, d, threads: 1), fast(k, d, threads: 3), "\(k)")
        }
    }

    /// Every output is written, including windows that lie entirely in the padding.
    func testWindowsInsidePaddingGiveBiasAndActivation() throws {
        let g = try ConvGeometry.make(batch: 1, inH: 2, inW: 2, inC: 9, kernelH: 1, kernelW: 1,
                                      padding: .explicit(top: 2, bottom: 2, left: 2, right: 2))
        let b: [Float] = (0..<9).map { Float($0) - 4 }
        let d = Data(x: [Float](repeating: 1, count: 36), w: [Float](repeating: 2, count: 9), b: b, res: [])
        let k = Case(g: g, multiplier: 1, activation: .relu, hasBias: true, hasResidual: false)
        let out = fast(k, d, threads: 2)
        XCTAssertEqual(out.count, 6 * 6 * 9)
        XCTAssertEqual(Array(out[0..<9]), b.map { max($0, 0) })
        XCTAssertEqual(Array(out[(2 * 6 + 2) * 9..<(2 * 6 + 3) * 9]), b.map { max($0 + 2, 0) })
    }
}
