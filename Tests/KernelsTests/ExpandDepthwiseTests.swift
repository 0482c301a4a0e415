import CKernels
@testable import Kernels
import XCTest

/// `Fast.expandDepthwise` (a 1x1/1 conv with packed weights and the depthwise conv after it, with the expanded rows
/// kept in a band buffer) is bit-identical to `packedProduct` followed by `depthwiseConv2d`:
/// odd sizes, strides 1/2, SAME/VALID/explicit padding, dilation 2, 3x3 and 5x5 windows, batch 1
/// and 3, with and without biases and residual, every activation, band buffers from one output
/// row to whole images (wide rows force several bands and carried-over rows), at 1 and 2 threads,
/// AVX2 and portable bodies.
final class ExpandDepthwiseTests: XCTestCase {
    typealias Random = FastKernelTests.Random
    static let activations: [Activation] = [.none, .relu, .relu6, .leakyRelu(alpha: 0.2)]

    func separate(_ x: [Float], inC: Int, _ w1: [Float], _ b1: [Float]?, _ a1: Activation, _ w2: [Float], _ b2: [Float]?,
                  _ res: [Float]?, _ a2: Activation, _ g: ConvGeometry) throws -> [Float] {
        var mid = [Float](repeating: 0, count: g.batch * g.inH * g.inW * g.inC)
        Fast.packedProduct(input: x, packed: Fast.packWeights(w1, k: inC, n: g.inC), m: g.batch * g.inH * g.inW, k: inC, n: g.inC,
                           bias: b1, residual: nil, activation: a1, output: &mid, threads: 2)
        var out = [Float](repeating: 0, count: g.batch * g.outH * g.outW * g.inC)
        Fast.depthwiseConv2d(input: mid, filter: w2, multiplier: 1, bias: b2, residual: res, activation: a2, geometry: g,
                             output: &out, threads: 2)
        return out
    }

    func fused(_ x: [Float], inC: Int, _ w1: [Float], _ b1: [Float]?, _ a1: Activation, _ w2: [Float], _ b2: [Float]?,
               _ res: [Float]?, _ a2: Activation, _ g: ConvGeometry, threads: Int) -> [Float] {
        var out = [Float](repeating: .nan, count: g.batch * g.outH * g.outW * g.inC)
        Fast.expandDepthwise(input: x, inC: inC, packedExpandFilter: Fast.packWeights(w1, k: inC, n: g.inC), expandBias: b1, expandActivation: a1, depthwiseFilter: w2,
                             depthwiseBias: b2, residual: res, activation: a2, geometry: g, output: &out, threads: threads)
        return out
    }

    func testBitIdenticalToTheTwoSeparateCalls() throws {
        var r = Random(state: 11)
        let paddings: [Padding] = [.same, .valid, .explicit(top: 1, bottom: 1, left: 1, right: 1), .explicit(top: 0, bottom: 1, left: 0, right: 1)]
        var checked = 0
        for trial in 0..<48 {
            let k = [3, 3, 5][trial % 3], stride = 1 + trial % 2, dilation = trial % 5 == 4 ? 2 : 1
            // Wide rows of many channels make the band hold only a few rows (several bands per image).
            let (h, w, mid) = trial % 4 == 0 ? (r.int(9...17), r.int(40...70), r.int(300...520)) : (r.int(5...19), r.int(3...23), r.int(1...40))
            let inC = [1, 3, 16, 24, 160, 300][r.int(0...5)]
            guard let g = try? ConvGeometry.make(batch: [1, 3][trial % 2], inH: h, inW: w, inC: mid, kernelH: k, kernelW: k,
                                                 strideH: stride, strideW: stride, dilationH: dilation, dilationW: dilation,
                                                 padding: paddings[trial % paddings.count]) else { continue }
            let e = try ConvGeometry.make(batch: g.batch, inH: h, inW: w, inC: inC, kernelH: 1, kernelW: 1, padding: .valid)
            XCTAssertTrue(Fast.canFuseExpandDepthwise(expand: e, depthwise: g, multiplier: 1))
            let x = r.floats(g.batch * h * w * inC), w1 = r.floats(inC * mid), w2 = r.floats(k * k * mid)
            let b1 = trial % 3 == 0 ? nil : r.floats(mid), b2 = trial % 4 == 1 ? nil : r.floats(mid)
            let res = trial % 2 == 0 ? r.floats(g.batch * g.outH * g.outW * mid) : nil
            let a1 = Self.activations[trial % 4], a2 = Self.activations[(trial / 4) % 4]
            let expected = try separate(x, inC: inC, w1, b1, a1, w2, b2, res, a2, g)
            let what = "trial \(trial): \(g.batch)x\(h)x\(w) \(inC)->\(mid) k\(k) s\(stride) d\(dilation) pad \(g.padTop),\(g.padLeft)"
            XCTAssertEqual(fused(x, inC: inC, w1, b1, a1, w2, b2, res, a2, g, threads: 2), expected, what)
            XCTAssertEqual(fused(x, inC: inC, w1, b1, a1, w2, b2, res, a2, g, threads: 1), expected, what + " (1 thread)")
            let previous = ck_force_portable(1)
            XCTAssertEqual(fused(x, inC: inC, w1, b1, a1, w2, b2, res, a2, g, threads: 2), expected, what + " (portable)")
            _ = ck_force_portable(previous)
            checked += 1
        }
        XCTAssertGreaterThan(checked, 40)
    }

    func testOnlyOneByOneStrideOneConvsWithMultiplierOneFuse() throws {
        let d = try ConvGeometry.make(batch: 1, inH: 8, inW: 8, inC: 32, kernelH: 3, kernelW: 3, padding: .same)
        let e = try ConvGeometry.make(batch: 1, inH: 8, inW: 8, inC: 16, kernelH: 1, kernelW: 1, padding: .valid)
        XCTAssertTrue(Fast.canFuseExpandDepthwise(expand: e, depthwise: d, multiplier: 1))
        XCTAssertFalse(Fast.canFuseExpandDepthwise(expand: e, depthwise: d, multiplier: 2))
        let long = try ConvGeometry.make(batch: 1, inH: 8, inW: 8, inC: 600, kernelH: 1, kernelW: 1, padding: .valid)
        XCTAssertTrue(Fast.canFuseExpandDepthwise(expand: long, depthwise: d, multiplier: 1), "any reduction (packed product)")
        let strided = try ConvGeometry.make(batch: 1, inH: 15, inW: 15, inC: 16, kernelH: 1, kernelW: 1, strideH: 2, strideW: 2, padding: .valid)
        XCTAssertFalse(Fast.canFuseExpandDepthwise(expand: strided, depthwise: d, multiplier: 1))
    }
}
