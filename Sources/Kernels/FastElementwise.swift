import Foundation

/// Memory-bound kernels: one pass over contiguous data with the op chosen outside the loop.
/// Shapes that are rare in inference graphs (odd broadcasts, reductions over inner axes,
/// transposes, resizes) use the reference loops, which are exact and fast enough for them.
extension Fast {
    public static func binary(_ op: BinaryOp, a: UnsafePointer<Float>, aShape: [Int], b: UnsafePointer<Float>, bShape: [Int],
                              output: UnsafeMutablePointer<Float>, outShape: [Int]) {
        let count = outShape.reduce(1, *)
        if let period = Self.period(of: bShape, in: outShape), aShape == outShape {
            rows(op, a, b, output, count: count, period: period, swapped: false)
        } else if let period = Self.period(of: aShape, in: outShape), bShape == outShape {
            rows(op, b, a, output, count: count, period: period, swapped: true)
        } else {
            Reference.binary(op, a: a, aShape: aShape, b: b, bShape: bShape, output: output, outShape: outShape)
        }
    }

    /// When `shape` broadcast to `out` repeats with a period (leading dims 1, trailing dims equal),
    /// that period; nil otherwise.
    static func period(of shape: [Int], in out: [Int]) -> Int? {
        let padded = [Int](repeating: 1, count: out.count - shape.count) + shape
        var d = out.count
        while d > 0, padded[d - 1] == out[d - 1] { d -= 1 }
        guard padded[..<d].allSatisfy({ $0 == 1 }) else { return nil }
        return out[d...].reduce(1, *)
    }

    /// out[i] = x[i] op y[i % period] (or y op x when `swapped`).
    static func rows(_ op: BinaryOp, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                     count: Int, period: Int, swapped: Bool) {
        var start = 0
        while start < count {
            let px = x + start, po = out + start
            let n = min(period, count - start)
            switch (op, swapped) {
            case (.add, _): for i in 0..<n { po[i] = px[i] + y[i] }
            case (.mul, _): for i in 0..<n { po[i] = px[i] * y[i] }
            case (.sub, false): for i in 0..<n { po[i] = px[i] - y[i] }
            case (.sub, true): for i in 0..<n { po[i] = y[i] - px[i] }
            case (.div, false): for i in 0..<n { po[i] = px[i] / y[i] }
            case (.div, true): for i in 0..<n { po[i] = y[i] / px[i] }
            case (.maximum, _): for i in 0..<n { po[i] = max(px[i], y[i]) }
            case (.minimum, _): for i in 0..<n { po[i] = min(px[i], y[i]) }
            case (.squaredDifference, _): for i in 0..<n { let d = px[i] - y[i]; po[i] = d * d }
            }
            start += period
        }
    }

    public static func unary(_ op: UnaryOp, input: UnsafePointer<Float>, count: Int, output: UnsafeMutablePointer<Float>) {
        switch op {
        case .relu: for i in 0..<count { output[i] = max(input[i], 0) }
        case .relu6: for i in 0..<count { output[i] = min(max(input[i], 0), 6) }
        case let .leakyRelu(alpha): for i in 0..<count { let v = input[i]; output[i] = v >= 0 ? v : alpha * v }
        case .hardSigmoid: for i in 0..<count { output[i] = min(max(input[i] + 3, 0), 6) / 6 }
        case .hardSwish: for i in 0..<count { let v = input[i]; output[i] = v * (min(max(v + 3, 0), 6) / 6) }
        default: Reference.unary(op, input: input, count: count, output: output)
        }
    }

    /// TensorFlow's inference formula: y = x * (scale * rsqrt(var + eps)) + (offset - mean * that).
    public static func batchNorm(input: UnsafePointer<Float>, count: Int, channels: Int, scale: UnsafePointer<Float>,
                                 offset: UnsafePointer<Float>, mean: UnsafePointer<Float>, variance: UnsafePointer<Float>,
                                 epsilon: Float, output: UnsafeMutablePointer<Float>) {
        let mul = (0..<channels).map { scale[$0] / (variance[$0] + epsilon).squareRoot() }
        let add = (0..<channels).map { offset[$0] - mean[$0] * mul[$0] }
        mul.withUnsafeBufferPointer { m in
            add.withUnsafeBufferPointer { a in
                var start = 0
                while start < count {
                    for c in 0..<channels { output[start + c] = input[start + c] * m[c] + a[c] }
                    start += channels
                }
            }
        }
    }

    public static func reduceMean(input: UnsafePointer<Float>, shape: [Int], axes: [Int], output: UnsafeMutablePointer<Float>) {
        guard let (outer, inner, channels) = middleAxes(shape, axes) else {
            return Reference.reduceMean(input: input, shape: shape, axes: axes, output: output)
        }
        reduceMiddle(input, outer, inner, channels, output) { $0 / Double(inner) }
    }

    public static func reduceSum(input: UnsafePointer<Float>, shape: [Int], axes: [Int], output: UnsafeMutablePointer<Float>) {
        guard let (outer, inner, channels) = middleAxes(shape, axes) else {
            return Reference.reduceSum(input: input, shape: shape, axes: axes, output: output)
        }
        reduceMiddle(input, outer, inner, channels, output) { $0 }
    }

    public static func reduceMax(input: UnsafePointer<Float>, shape: [Int], axes: [Int], output: UnsafeMutablePointer<Float>) {
        Reference.reduceMax(input: input, shape: shape, axes: axes, output: output)
    }

    /// (outer, reduced, trailing) sizes when `axes` are consecutive and not the last axis (e.g. a
    /// spatial mean over NHWC's [1, 2]).
    static func middleAxes(_ shape: [Int], _ axes: [Int]) -> (Int, Int, Int)? {
        guard let first = axes.first, let last = axes.last, axes == Array(first...last), last < shape.count - 1 else { return nil }
        return (shape[..<first].reduce(1, *), shape[first...last].reduce(1, *), shape[(last + 1)...].reduce(1, *))
    }

    static func reduceMiddle(_ input: UnsafePointer<Float>, _ outer: Int, _ inner: Int, _ channels: Int,
                             _ output: UnsafeMutablePointer<Float>, _ finish: (Double) -> Double) {
        var acc = [Double](repeating: 0, count: channels)
        for o in 0..<outer {
            for c in 0..<channels { acc[c] = 0 }
            var p = input + o * inner * channels
            for _ in 0..<inner {
                for c in 0..<channels { acc[c] += Double(p[c]) }
                p += channels
            }
            for c in 0..<channels { output[o * channels + c] = Float(finish(acc[c])) }
        }
    }

    public static func pad(input: UnsafePointer<Float>, shape: [Int], paddings: [(before: Int, after: Int)], value: Float,
                           output: UnsafeMutablePointer<Float>) {
        // Fill with `value`, then copy contiguous runs: the trailing axes without padding are
        // merged into one run (an NHWC spatial pad copies whole W x C rows).
        let outShape = shape.indices.map { shape[$0] + paddings[$0].before + paddings[$0].after }
        output.initialize(repeating: value, count: outShape.reduce(1, *))
        guard !shape.isEmpty, shape.reduce(1, *) > 0 else { return }
        var k = shape.count - 1
        while k > 0, paddings[k].before == 0, paddings[k].after == 0 { k -= 1 }
        let inner = shape[(k + 1)...].reduce(1, *)
        let run = shape[k] * inner
        var outStrides = [Int](repeating: 1, count: shape.count)
        for d in shape.indices.dropLast().reversed() { outStrides[d] = outStrides[d + 1] * outShape[d + 1] }
        let runs = shape[..<k].reduce(1, *)
        for r in 0..<runs {
            var rem = r, dst = paddings[k].before * outStrides[k]
            for d in (0..<k).reversed() {
                dst += (rem % shape[d] + paddings[d].before) * outStrides[d]
                rem /= shape[d]
            }
            (output + dst).update(from: input + r * run, count: run)
        }
    }

    public static func concat(inputs: [(UnsafePointer<Float>, [Int])], axis: Int, output: UnsafeMutablePointer<Float>) {
        let outer = inputs[0].1[..<axis].reduce(1, *)
        var o = output
        for i in 0..<outer {
            for (p, shape) in inputs {
                let chunk = shape[axis...].reduce(1, *)
                o.initialize(from: p + i * chunk, count: chunk)
                o += chunk
            }
        }
    }

    public static func softmax(input: UnsafePointer<Float>, rows: Int, cols: Int, output: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let x = input + r * cols, y = output + r * cols
            var m = -Float.infinity
            for c in 0..<cols { m = Swift.max(m, x[c]) }
            var s: Float = 0
            for c in 0..<cols { y[c] = Foundation.exp(x[c] - m); s += y[c] }
            let inv = 1 / s
            for c in 0..<cols { y[c] *= inv }
        }
    }

    public static func resizeBilinear(input: UnsafePointer<Float>, batch: Int, inH: Int, inW: Int, channels: Int, outH: Int, outW: Int,
                                      alignCorners: Bool, halfPixelCenters: Bool, output: UnsafeMutablePointer<Float>) {
        Reference.resizeBilinear(input: input, batch: batch, inH: inH, inW: inW, channels: channels, outH: outH, outW: outW,
                                 alignCorners: alignCorners, halfPixelCenters: halfPixelCenters, output: output)
    }

    public static func resizeNearest(input: UnsafePointer<Float>, batch: Int, inH: Int, inW: Int, channels: Int, outH: Int, outW: Int,
                                     alignCorners: Bool, halfPixelCenters: Bool, output: UnsafeMutablePointer<Float>) {
        Reference.resizeNearest(input: input, batch: batch, inH: inH, inW: inW, channels: channels, outH: outH, outW: outW,
                                alignCorners: alignCorners, halfPixelCenters: halfPixelCenters, output: output)
    }

    public static func transpose(input: UnsafePointer<Float>, shape: [Int], perm: [Int], output: UnsafeMutablePointer<Float>) {
        Reference.transpose(input: input, shape: shape, perm: perm, output: output)
    }
}
