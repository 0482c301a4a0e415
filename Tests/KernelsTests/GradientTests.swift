@testable import Kernels
import XCTest

/// The filter gradients used by fast finetuning against the scalar reference (Double sums), on the
/// same random geometries as the forward kernels, and bit-identical at 1 and 2 threads; a large
/// batch crosses the fixed tiles of output rows whose partial gradients are added in order.
final class GradientTests: XCTestCase {
    typealias Random = FastKernelTests.Random

    func testConv2DFilterGradientMatchesReference() throws {
        var r = Random(state: 11)
        for trial in 0..<30 {
            var g = try FastKernelTests.randomGeometry(&r)
            if trial == 0 { g = try ConvGeometry.make(batch: 40, inH: 9, inW: 9, inC: 3, kernelH: 3, kernelW: 3, strideH: 1, strideW: 1,
                                                       dilationH: 1, dilationW: 1, padding: .same) }  // 3240 rows: two tiles
            let outC = r.int(1...9)
            let x = r.floats(g.batch * g.inH * g.inW * g.inC), dy = r.floats(g.batch * g.outH * g.outW * outC)
            let n = g.kernelH * g.kernelW * g.inC * outC
            var one = [Float](repeating: .nan, count: n), two = one, reference = one
            Fast.conv2dFilterGradient(input: x, outputGradient: dy, geometry: g, outC: outC, filterGradient: &one, threads: 1)
            Fast.conv2dFilterGradient(input: x, outputGradient: dy, geometry: g, outC: outC, filterGradient: &two, threads: 2)
            Reference.conv2dFilterGradient(input: x, outputGradient: dy, geometry: g, outC: outC, filterGradient: &reference)
            FastKernelTests.assertClose(one, reference, "conv2d filter gradient \(g) outC \(outC)")
            XCTAssertEqual(one.map(\.bitPattern), two.map(\.bitPattern), "threads")
        }
    }

    func testDepthwiseFilterGradientMatchesReference() throws {
        var r = Random(state: 12)
        for _ in 0..<30 {
            let g = try FastKernelTests.randomGeometry(&r)
            let multiplier = r.int(1...3)
            let x = r.floats(g.batch * g.inH * g.inW * g.inC), dy = r.floats(g.batch * g.outH * g.outW * g.inC * multiplier)
            let n = g.kernelH * g.kernelW * g.inC * multiplier
            var one = [Float](repeating: .nan, count: n), two = one, reference = one
            Fast.depthwiseFilterGradient(input: x, outputGradient: dy, multiplier: multiplier, geometry: g, filterGradient: &one, threads: 1)
            Fast.depthwiseFilterGradient(input: x, outputGradient: dy, multiplier: multiplier, geometry: g, filterGradient: &two, threads: 2)
            Reference.depthwiseFilterGradient(input: x, outputGradient: dy, multiplier: multiplier, geometry: g, filterGradient: &reference)
            FastKernelTests.assertClose(one, reference, "depthwise filter gradient \(g) multiplier \(multiplier)")
            XCTAssertEqual(one.map(\.bitPattern), two.map(\.bitPattern), "threads")
        }
    }
}
