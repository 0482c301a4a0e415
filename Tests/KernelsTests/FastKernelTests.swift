@testable import Kernels
import XCTest

/// The fast kernels against the scalar reference on seeded random shapes (odd sizes, strides 1/2,
/// dilation, SAME/VALID/explicit padding, batch 1 and 3). Tolerance: max |fast - reference| <=
/// 1e-5 * max |reference| (float32 accumulation in a different order against Double).
final class FastKernelTests: XCTestCase {
    /// SplitMix64: reproducible values on every machine.
    struct Random {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(next() % UInt64(range.count)) }
        mutating func floats(_ n: Int) -> [Float] { (0..<n).map { _ in Float(Int(next() % 2001) - 1000) / 500 } }
    }

    static func assertClose(_ fast: [Float], _ reference: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(fast.count, reference.count, what, file: file, line: line)
        let scale = max(reference.map(abs).max() ?? 0, 1e-6)
        let error = zip(fast, reference).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(error, 1e-5 * scale, "\(what): max error \(error), max |reference| \(scale)", file: file, line: line)
    }

    typealias ConvKernel = (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>?, Activation, ConvGeometry, Int,
                            UnsafeMutablePointer<Float>, Int) -> Void

    static func randomGeometry(_ r: inout Random) throws -> ConvGeometry {
        let paddings: [Padding] = [.same, .valid, .explicit(top: 1, bottom: 0, left: 2, right: 1)]
        while true {  // draw until the window fits (VALID with a large dilated kernel may not)
            let k = r.int(1...4)
            if let g = try? ConvGeometry.make(batch: [1, 3][r.int(0...1)], inH: r.int(k * 2...13), inW: r.int(k * 2...12), inC: r.int(1...9),
                                              kernelH: k, kernelW: r.int(1...4), strideH: r.int(1...2), strideW: r.int(1...2),
                                              dilationH: r.int(1...2), dilationW: r.int(1...2), padding: paddings[r.int(0...2)]) {
                return g
            }
        }
    }

    func testConv2DMatchesReference() throws {
        var r = Random(state: 1)
        for trial in 0..<60 {
            let g = try Self.randomGeometry(&r)
            let outC = r.int(1...17)
            let x = r.floats(g.batch * g.inH * g.inW * g.inC), w = r.floats(g.kernelH * g.kernelW * g.inC * outC), b = r.floats(outC)
            let activation: Activation = [.none, .relu, .relu6, .leakyRelu(alpha: 0.1)][trial % 4]
            let n = g.batch * g.outH * g.outW * outC
            var fast = [Float](repeating: .nan, count: n), reference = fast
            Fast.conv2d(input: x, filter: w, bias: b, activation: activation, geometry: g, outC: outC, output: &fast, threads: 2)
            Reference.conv2d(input: x, filter: w, bias: b, activation: activation, geometry: g, outC: outC, output: &reference)
            Self.assertClose(fast, reference, "conv2d \(g) outC \(outC)")
        }
    }

    func testDepthwiseMatchesReference() throws {
        var r = Random(state: 2)
        for _ in 0..<60 {
            let g = try Self.randomGeometry(&r)
            let m = r.int(1...2)
            let outC = g.inC * m
            let x = r.floats(g.batch * g.inH * g.inW * g.inC), w = r.floats(g.kernelH * g.kernelW * outC), b = r.floats(outC)
            let n = g.batch * g.outH * g.outW * outC
            var fast = [Float](repeating: .nan, count: n), reference = fast
            Fast.depthwiseConv2d(input: x, filter: w, multiplier: m, bias: b, activation: .relu6, geometry: g, output: &fast, threads: 2)
            Reference.depthwiseConv2d(input: x, filter: w, multiplier: m, bias: b, activation: .relu6, geometry: g, output: &reference)
            Self.assertClose(fast, reference, "depthwise \(g) multiplier \(m)")
        }
        // Wide channels exercise the 8-lane path and its tail.
        let g = try ConvGeometry.make(batch: 2, inH: 7, inW: 6, inC: 21, kernelH: 3, kernelW: 3, strideH: 2, strideW: 1, padding: .same)
        let x = r.floats(2 * 7 * 6 * 21), w = r.floats(9 * 21)
        var fast = [Float](repeating: .nan, count: 2 * g.outH * g.outW * 21), reference = fast
        Fast.depthwiseConv2d(input: x, filter: w, multiplier: 1, bias: nil, activation: .none, geometry: g, output: &fast, threads: 1)
        Reference.depthwiseConv2d(input: x, filter: w, multiplier: 1, bias: nil, activation: .none, geometry: g, output: &reference)
        Self.assertClose(fast, reference, "depthwise 21 channels")
    }

    func testTransposedConvolutionMatchesReference() throws {
        var r = Random(state: 3)
        for _ in 0..<30 {
            let g = try Self.randomGeometry(&r)
            let outC = g.inC, inC = r.int(1...7)
            let x = r.floats(g.batch * g.outH * g.outW * inC), w = r.floats(g.kernelH * g.kernelW * outC * inC), b = r.floats(outC)
            let n = g.batch * g.inH * g.inW * outC
            var fast = [Float](repeating: .nan, count: n), reference = fast
            Fast.conv2dTranspose(input: x, filter: w, bias: b, activation: .none, geometry: g, outC: outC, inC: inC, output: &fast, threads: 2)
            Reference.conv2dTranspose(input: x, filter: w, bias: b, activation: .none, geometry: g, outC: outC, inC: inC, output: &reference)
            Self.assertClose(fast, reference, "conv2d_transpose \(g)")
        }
    }

    func testMatmulMatchesReferenceWithEveryTransposition() {
        var r = Random(state: 4)
        for trial in 0..<24 {
            let (m, k, n) = (r.int(1...300), r.int(1...40), r.int(1...150))
            let ta = trial % 2 == 1, tb = trial / 2 % 2 == 1
            let a = r.floats(m * k), b = r.floats(k * n), bias = r.floats(n)
            var fast = [Float](repeating: .nan, count: m * n), reference = fast
            Fast.matmul(a: a, b: b, m: m, k: k, n: n, transposeA: ta, transposeB: tb, bias: bias, activation: .relu, output: &fast, threads: 2)
            Reference.matmul(a: a, b: b, m: m, k: k, n: n, transposeA: ta, transposeB: tb, bias: bias, activation: .relu, output: &reference)
            Self.assertClose(fast, reference, "matmul \(m)x\(k)x\(n) ta \(ta) tb \(tb)")
        }
    }

    func testPoolingMatchesReference() throws {
        var r = Random(state: 5)
        for _ in 0..<40 {
            let k = r.int(1...3)
            let g = try ConvGeometry.make(batch: r.int(1...3), inH: r.int(k...11), inW: r.int(3...11), inC: r.int(1...6), kernelH: k,
                                          kernelW: r.int(1...3), strideH: r.int(1...2), strideW: r.int(1...2),
                                          padding: [.same, .valid][r.int(0...1)])
            let x = r.floats(g.batch * g.inH * g.inW * g.inC)
            let n = g.batch * g.outH * g.outW * g.inC
            var fast = [Float](repeating: .nan, count: n), reference = fast
            Fast.maxPool(input: x, geometry: g, output: &fast, threads: 2)
            Reference.maxPool(input: x, geometry: g, output: &reference)
            Self.assertClose(fast, reference, "max pool \(g)")
            Fast.avgPool(input: x, geometry: g, output: &fast, threads: 2)
            Reference.avgPool(input: x, geometry: g, output: &reference)
            Self.assertClose(fast, reference, "avg pool \(g)")
        }
    }

    func testElementwiseReductionsAndPadding() {
        var r = Random(state: 6)
        let shapes: [([Int], [Int])] = [([2, 3, 4, 5], [2, 3, 4, 5]), ([2, 3, 4, 5], [5]), ([2, 3, 4, 5], []), ([2, 3, 4, 5], [2, 1, 1, 5]),
                                        ([4, 5], [3, 4, 5]), ([1, 3, 1], [2, 1, 4])]
        for (aShape, bShape) in shapes {
            for op: BinaryOp in [.add, .sub, .mul, .div, .maximum, .minimum, .squaredDifference] {
                let out = broadcast(aShape, bShape)
                for (x, xs, y, ys) in [(r.floats(count(aShape)), aShape, r.floats(count(bShape)), bShape),
                                       (r.floats(count(bShape)), bShape, r.floats(count(aShape)), aShape)] {
                    var fast = [Float](repeating: .nan, count: count(out)), reference = fast
                    Fast.binary(op, a: x, aShape: xs, b: y, bShape: ys, output: &fast, outShape: out)
                    Reference.binary(op, a: x, aShape: xs, b: y, bShape: ys, output: &reference, outShape: out)
                    XCTAssertEqual(fast.map(\.bitPattern), reference.map(\.bitPattern), "\(op) \(xs) \(ys)")
                }
            }
        }
        let x = r.floats(2 * 5 * 6 * 3)
        for axes in [[1, 2], [3], [0], [1], [0, 1, 2, 3]] {
            let out = [2, 5, 6, 3].enumerated().filter { !axes.contains($0.offset) }.map(\.element)
            var fast = [Float](repeating: .nan, count: count(out)), reference = fast
            Fast.reduceMean(input: x, shape: [2, 5, 6, 3], axes: axes, output: &fast)
            Reference.reduceMean(input: x, shape: [2, 5, 6, 3], axes: axes, output: &reference)
            Self.assertClose(fast, reference, "mean over \(axes)")
        }
        for paddings in [[(0, 0), (1, 2), (2, 1), (0, 0)], [(1, 0), (0, 0), (0, 0), (2, 1)], [(0, 0), (0, 0), (0, 0), (0, 0)]] {
            let p = paddings.map { (before: $0.0, after: $0.1) }
            let out = [2, 5, 6, 3].enumerated().map { $0.element + p[$0.offset].before + p[$0.offset].after }
            var fast = [Float](repeating: .nan, count: count(out)), reference = fast
            Fast.pad(input: x, shape: [2, 5, 6, 3], paddings: p, value: -2, output: &fast)
            Reference.pad(input: x, shape: [2, 5, 6, 3], paddings: p, value: -2, output: &reference)
            XCTAssertEqual(fast, reference, "pad \(paddings)")
        }
    }

    func testResultsAreBitIdenticalAtAnyThreadCount() throws {
        var r = Random(state: 7)
        let g = try ConvGeometry.make(batch: 3, inH: 31, inW: 29, inC: 24, kernelH: 3, kernelW: 3, padding: .same)
        let x = r.floats(3 * 31 * 29 * 24), w = r.floats(9 * 24 * 40), dw = r.floats(9 * 24), bias = r.floats(40)
        var runs: [[Float]] = []
        for threads in [1, 2, 3] {
            var conv = [Float](repeating: 0, count: 3 * 31 * 29 * 40), depthwise = [Float](repeating: 0, count: 3 * 31 * 29 * 24)
            var product = [Float](repeating: 0, count: 299 * 40)
            Fast.conv2d(input: x, filter: w, bias: bias, activation: .relu, geometry: g, outC: 40, output: &conv, threads: threads)
            Fast.depthwiseConv2d(input: x, filter: dw, multiplier: 1, bias: nil, activation: .none, geometry: g, output: &depthwise, threads: threads)
            Fast.matmul(a: x, b: w, m: 299, k: 216, n: 40, transposeA: false, transposeB: false, bias: nil, activation: .none,
                        output: &product, threads: threads)
            runs.append(conv + depthwise + product)
        }
        XCTAssertTrue(runs[0].map(\.bitPattern) == runs[1].map(\.bitPattern), "1 vs 2 threads")
        XCTAssertTrue(runs[0].map(\.bitPattern) == runs[2].map(\.bitPattern), "1 vs 3 threads")
    }

    func testReferenceOnHandComputedCases() throws {
        // 3x3 input, 2x2 all-ones filter, SAME, stride 2: TF pads 1 at the bottom/right only.
        let g = try ConvGeometry.make(batch: 1, inH: 3, inW: 3, inC: 1, kernelH: 2, kernelW: 2, strideH: 2, strideW: 2, padding: .same)
        XCTAssertEqual([g.outH, g.outW, g.padTop, g.padLeft], [2, 2, 0, 0])
        var out = [Float](repeating: 0, count: 4)
        Reference.conv2d(input: [1, 2, 3, 4, 5, 6, 7, 8, 9], filter: [1, 1, 1, 1], bias: nil, activation: .none, geometry: g, outC: 1, output: &out)
        XCTAssertEqual(out, [12, 9, 15, 9])
        // AvgPool 3x3 stride 1 SAME on 3x3: the corner averages 4 values, the centre 9 (padding not counted).
        let p = try ConvGeometry.make(batch: 1, inH: 3, inW: 3, inC: 1, kernelH: 3, kernelW: 3, padding: .same)
        var avg = [Float](repeating: 0, count: 9)
        Reference.avgPool(input: [1, 2, 3, 4, 5, 6, 7, 8, 9], geometry: p, output: &avg)
        XCTAssertEqual(avg[0], 3)  // (1 + 2 + 4 + 5) / 4
        XCTAssertEqual(avg[4], 5)
        // Bilinear with aligned corners maps the ends exactly: 2 -> 3 gives 0, 0.5, 1.
        var up = [Float](repeating: 0, count: 3)
        Reference.resizeBilinear(input: [0, 1], batch: 1, inH: 1, inW: 2, channels: 1, outH: 1, outW: 3, alignCorners: true,
                                 halfPixelCenters: false, output: &up)
        XCTAssertEqual(up, [0, 0.5, 1])
        XCTAssertThrowsError(try ConvGeometry.make(batch: 1, inH: 2, inW: 2, inC: 1, kernelH: 3, kernelW: 3, padding: .valid)) {
            XCTAssertEqual("\($0)", "a window of 3 with dilation 1 does not fit an input of 2")
        }
    }

    private func count(_ shape: [Int]) -> Int { shape.reduce(1, *) }
    private func broadcast(_ a: [Int], _ b: [Int]) -> [Int] {
        let rank = max(a.count, b.count)
        let pa = [Int](repeating: 1, count: rank - a.count) + a, pb = [Int](repeating: 1, count: rank - b.count) + b
        return zip(pa, pb).map { max($0, $1) }
    }
}
