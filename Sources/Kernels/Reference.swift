import Foundation

/// Scalar kernels written straight from TensorFlow's definitions: the specification the fast
/// kernels are tested against. Accumulation in Double; no tiling, no tricks. `threads` is
/// accepted for signature parity and ignored.
public enum Reference {
    static func value(_ acc: Double, _ bias: UnsafePointer<Float>?, _ c: Int, _ activation: Activation) -> Float {
        activation.apply(Float(acc + Double(bias?[c] ?? 0)))
    }

    public static func conv2d(input: UnsafePointer<Float>, filter: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                              activation: Activation, geometry g: ConvGeometry, outC: Int,
                              output: UnsafeMutablePointer<Float>, threads: Int = 1) {
        for n in 0..<g.batch { for oh in 0..<g.outH { for ow in 0..<g.outW { for oc in 0..<outC {
            var acc = 0.0
            for kh in 0..<g.kernelH { for kw in 0..<g.kernelW {
                let ih = oh * g.strideH - g.padTop + kh * g.dilationH
                let iw = ow * g.strideW - g.padLeft + kw * g.dilationW
                guard ih >= 0, ih < g.inH, iw >= 0, iw < g.inW else { continue }
                for ic in 0..<g.inC {
                    acc += Double(input[((n * g.inH + ih) * g.inW + iw) * g.inC + ic]) * Double(filter[((kh * g.kernelW + kw) * g.inC + ic) * outC + oc])
                }
            } }
            output[((n * g.outH + oh) * g.outW + ow) * outC + oc] = value(acc, bias, oc, activation)
        } } } }
    }

    public static func depthwiseConv2d(input: UnsafePointer<Float>, filter: UnsafePointer<Float>, multiplier: Int,
                                       bias: UnsafePointer<Float>?, activation: Activation, geometry g: ConvGeometry,
                                       output: UnsafeMutablePointer<Float>, threads: Int = 1) {
        let outC = g.inC * multiplier
        for n in 0..<g.batch { for oh in 0..<g.outH { for ow in 0..<g.outW { for c in 0..<g.inC { for m in 0..<multiplier {
            var acc = 0.0
            for kh in 0..<g.kernelH { for kw in 0..<g.kernelW {
                let ih = oh * g.strideH - g.padTop + kh * g.dilationH
                let iw = ow * g.strideW - g.padLeft + kw * g.dilationW
                guard ih >= 0, ih < g.inH, iw >= 0, iw < g.inW else { continue }
                acc += Double(input[((n * g.inH + ih) * g.inW + iw) * g.inC + c]) * Double(filter[((kh * g.kernelW + kw) * g.inC + c) * multiplier + m])
            } }
            let oc = c * multiplier + m
            output[((n * g.outH + oh) * g.outW + ow) * outC + oc] = value(acc, bias, oc, activation)
        } } } } }
    }

    /// The gradient of conv2d with respect to its input (TensorFlow's Conv2DBackpropInput).
    /// `geometry` is that forward conv's: its input (`inH` x `inW`) is this op's output of `outC`
    /// channels, its output (`outH` x `outW`) is this op's input of `inC` channels.
    public static func conv2dTranspose(input: UnsafePointer<Float>, filter: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                                       activation: Activation, geometry g: ConvGeometry, outC: Int, inC: Int,
                                       output: UnsafeMutablePointer<Float>, threads: Int = 1) {
        var acc = [Double](repeating: 0, count: g.batch * g.inH * g.inW * outC)
        for n in 0..<g.batch { for ih in 0..<g.outH { for iw in 0..<g.outW { for kh in 0..<g.kernelH { for kw in 0..<g.kernelW {
            let oh = ih * g.strideH - g.padTop + kh * g.dilationH
            let ow = iw * g.strideW - g.padLeft + kw * g.dilationW
            guard oh >= 0, oh < g.inH, ow >= 0, ow < g.inW else { continue }
            for oc in 0..<outC { for ic in 0..<inC {
                acc[((n * g.inH + oh) * g.inW + ow) * outC + oc] +=
                    Double(input[((n * g.outH + ih) * g.outW + iw) * inC + ic]) * Double(filter[((kh * g.kernelW + kw) * outC + oc) * inC + ic])
            } }
        } } } } }
        for i in acc.indices { output[i] = value(acc[i], bias, i % outC, activation) }
    }

    public static func matmul(a: UnsafePointer<Float>, b: UnsafePointer<Float>, m: Int, k: Int, n: Int,
                              transposeA: Bool, transposeB: Bool, bias: UnsafePointer<Float>?, activation: Activation,
                              output: UnsafeMutablePointer<Float>, threads: Int = 1) {
        for i in 0..<m { for j in 0..<n {
            var acc = 0.0
            for p in 0..<k {
                acc += Double(transposeA ? a[p * m + i] : a[i * k + p]) * Double(transposeB ? b[j * k + p] : b[p * n + j])
            }
            output[i * n + j] = value(acc, bias, j, activation)
        } }
    }

    /// Max over the window positions inside the input (padding never wins).
    public static func maxPool(input: UnsafePointer<Float>, geometry g: ConvGeometry, output: UnsafeMutablePointer<Float>, threads: Int = 1) {
        pool(input, g, output) { values in values.max() ?? 0 }
    }

    /// Mean over the window positions inside the input (TensorFlow does not count padding).
    public static func avgPool(input: UnsafePointer<Float>, geometry g: ConvGeometry, output: UnsafeMutablePointer<Float>, threads: Int = 1) {
        pool(input, g, output) { values in Float(values.reduce(0.0) { $0 + Double($1) } / Double(max(values.count, 1))) }
    }

    static func pool(_ input: UnsafePointer<Float>, _ g: ConvGeometry, _ output: UnsafeMutablePointer<Float>, _ combine: ([Float]) -> Float) {
        for n in 0..<g.batch { for oh in 0..<g.outH { for ow in 0..<g.outW { for c in 0..<g.inC {
            var values: [Float] = []
            for kh in 0..<g.kernelH { for kw in 0..<g.kernelW {
                let ih = oh * g.strideH - g.padTop + kh, iw = ow * g.strideW - g.padLeft + kw
                if ih >= 0, ih < g.inH, iw >= 0, iw < g.inW { values.append(input[((n * g.inH + ih) * g.inW + iw) * g.inC + c]) }
            } }
            output[((n * g.outH + oh) * g.outW + ow) * g.inC + c] = combine(values)
        } } } }
    }

    public static func batchNorm(input: UnsafePointer<Float>, count: Int, channels: Int, scale: UnsafePointer<Float>,
                                 offset: UnsafePointer<Float>, mean: UnsafePointer<Float>, variance: UnsafePointer<Float>,
                                 epsilon: Float, output: UnsafeMutablePointer<Float>) {
        for i in 0..<count {
            let c = i % channels
            let x = Double(input[i]), v = Double(variance[c]) + Double(epsilon)
            output[i] = Float((x - Double(mean[c])) * Double(scale[c]) / v.squareRoot() + Double(offset[c]))
        }
    }

    public static func binary(_ op: BinaryOp, a: UnsafePointer<Float>, aShape: [Int], b: UnsafePointer<Float>, bShape: [Int],
                              output: UnsafeMutablePointer<Float>, outShape: [Int]) {
        let ai = indexer(aShape, outShape), bi = indexer(bShape, outShape)
        for i in 0..<outShape.reduce(1, *) { output[i] = apply(op, a[ai(i)], b[bi(i)]) }
    }

    @inline(__always)
    static func apply(_ op: BinaryOp, _ x: Float, _ y: Float) -> Float {
        switch op {
        case .add: x + y
        case .sub: x - y
        case .mul: x * y
        case .div: x / y
        case .maximum: Swift.max(x, y)
        case .minimum: Swift.min(x, y)
        case .squaredDifference: (x - y) * (x - y)
        }
    }

    /// Flat index in a tensor of `shape` broadcast to `out`.
    static func indexer(_ shape: [Int], _ out: [Int]) -> (Int) -> Int {
        let padded = [Int](repeating: 1, count: out.count - shape.count) + shape
        var strides = [Int](repeating: 0, count: out.count), s = 1
        for d in out.indices.reversed() { strides[d] = padded[d] == 1 ? 0 : s; s *= padded[d] }
        return { i in
            var rem = i, o = 0
            for d in out.indices.reversed() {
                o += (rem % out[d]) * strides[d]
                rem /= out[d]
            }
            return o
        }
    }

    public static func unary(_ op: UnaryOp, input: UnsafePointer<Float>, count: Int, output: UnsafeMutablePointer<Float>) {
        for i in 0..<count { output[i] = apply(op, input[i]) }
    }

    @inline(__always)
    static func apply(_ op: UnaryOp, _ x: Float) -> Float {
        switch op {
        case .relu: Swift.max(x, 0)
        case .relu6: Swift.min(Swift.max(x, 0), 6)
        case let .leakyRelu(alpha): x >= 0 ? x : alpha * x
        case .sigmoid: sigmoid(x)
        case .tanh: Foundation.tanh(x)
        case .exp: Foundation.exp(x)
        case .neg: -x
        case .sqrt: x.squareRoot()
        case .rsqrt: 1 / x.squareRoot()
        case .square: x * x
        case .abs: Swift.abs(x)
        case .hardSigmoid: Swift.min(Swift.max(x + 3, 0), 6) / 6
        case .hardSwish: x * (Swift.min(Swift.max(x + 3, 0), 6) / 6)
        case .swish: x * sigmoid(x)
        }
    }

    /// 1 / (1 + e^-x), computed so that neither tail overflows.
    @inline(__always)
    static func sigmoid(_ x: Float) -> Float {
        if x >= 0 { return 1 / (1 + Foundation.exp(-x)) }
        let e = Foundation.exp(x)
        return e / (1 + e)
    }

    public static func reduceMean(input: UnsafePointer<Float>, shape: [Int], axes: [Int], output: UnsafeMutablePointer<Float>) {
        reduce(input, shape, axes, output, initial: 0, combine: +) { $0 / Double($1) }
    }

    public static func reduceSum(input: UnsafePointer<Float>, shape: [Int], axes: [Int], output: UnsafeMutablePointer<Float>) {
        reduce(input, shape, axes, output, initial: 0, combine: +) { s, _ in s }
    }

    public static func reduceMax(input: UnsafePointer<Float>, shape: [Int], axes: [Int], output: UnsafeMutablePointer<Float>) {
        reduce(input, shape, axes, output, initial: -.infinity, combine: { Swift.max($0, $1) }) { s, _ in s }
    }

    static func reduce(_ input: UnsafePointer<Float>, _ shape: [Int], _ axes: [Int], _ output: UnsafeMutablePointer<Float>,
                       initial: Double, combine: (Double, Double) -> Double, finish: (Double, Int) -> Double) {
        let reduced = Set(axes)
        let kept = shape.indices.filter { !reduced.contains($0) }
        let outCount = kept.map { shape[$0] }.reduce(1, *)
        let groupSize = axes.map { shape[$0] }.reduce(1, *)
        var acc = [Double](repeating: initial, count: outCount)
        let total = shape.reduce(1, *)
        for i in 0..<total {
            var rem = i, o = 0, scale = 1
            var coords = [Int](repeating: 0, count: shape.count)
            for d in shape.indices.reversed() { coords[d] = rem % shape[d]; rem /= shape[d] }
            for d in kept.reversed() { o += coords[d] * scale; scale *= shape[d] }
            acc[o] = combine(acc[o], Double(input[i]))
        }
        for o in 0..<outCount { output[o] = Float(finish(acc[o], groupSize)) }
    }

    public static func pad(input: UnsafePointer<Float>, shape: [Int], paddings: [(before: Int, after: Int)], value: Float,
                           output: UnsafeMutablePointer<Float>) {
        let outShape = shape.indices.map { shape[$0] + paddings[$0].before + paddings[$0].after }
        let total = outShape.reduce(1, *)
        for o in 0..<total {
            var rem = o, src = 0, stride = 1, inside = true
            for d in outShape.indices.reversed() {
                let c = rem % outShape[d] - paddings[d].before
                rem /= outShape[d]
                if c < 0 || c >= shape[d] { inside = false }
                src += c * stride
                stride *= shape[d]
            }
            output[o] = inside ? input[src] : value
        }
    }

    public static func concat(inputs: [(UnsafePointer<Float>, [Int])], axis: Int, output: UnsafeMutablePointer<Float>) {
        let outer = inputs[0].1[..<axis].reduce(1, *)
        var o = 0
        for i in 0..<outer {
            for (p, shape) in inputs {
                let chunk = shape[axis...].reduce(1, *)
                for j in 0..<chunk { output[o] = p[i * chunk + j]; o += 1 }
            }
        }
    }

    public static func softmax(input: UnsafePointer<Float>, rows: Int, cols: Int, output: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let x = input + r * cols
            var m = -Float.infinity
            for c in 0..<cols { m = Swift.max(m, x[c]) }
            var s = 0.0
            for c in 0..<cols { s += Double(Foundation.exp(x[c] - m)) }
            for c in 0..<cols { output[r * cols + c] = Float(Double(Foundation.exp(x[c] - m)) / s) }
        }
    }

    /// TensorFlow 2's scale: (in - 1) / (out - 1) with aligned corners, in / out otherwise.
    static func resizeScale(_ input: Int, _ output: Int, _ alignCorners: Bool) -> Float {
        alignCorners && output > 1 ? Float(input - 1) / Float(output - 1) : Float(input) / Float(output)
    }

    public static func resizeBilinear(input: UnsafePointer<Float>, batch: Int, inH: Int, inW: Int, channels: Int, outH: Int, outW: Int,
                                      alignCorners: Bool, halfPixelCenters: Bool, output: UnsafeMutablePointer<Float>) {
        let sh = resizeScale(inH, outH, alignCorners), sw = resizeScale(inW, outW, alignCorners)
        func source(_ d: Int, _ scale: Float, _ size: Int) -> (Int, Int, Float) {
            let s = halfPixelCenters ? (Float(d) + 0.5) * scale - 0.5 : Float(d) * scale
            let low = Swift.max(Int(s.rounded(.down)), 0)
            let high = Swift.min(Int(s.rounded(.up)), size - 1)
            return (Swift.min(low, size - 1), high, s - s.rounded(.down))
        }
        for n in 0..<batch { for y in 0..<outH {
            let (y0, y1, dy) = source(y, sh, inH)
            for x in 0..<outW {
                let (x0, x1, dx) = source(x, sw, inW)
                for c in 0..<channels {
                    func at(_ yy: Int, _ xx: Int) -> Float { input[((n * inH + yy) * inW + xx) * channels + c] }
                    let top = at(y0, x0) + (at(y0, x1) - at(y0, x0)) * dx
                    let bottom = at(y1, x0) + (at(y1, x1) - at(y1, x0)) * dx
                    output[((n * outH + y) * outW + x) * channels + c] = top + (bottom - top) * dy
                }
            }
        } }
    }

    public static func resizeNearest(input: UnsafePointer<Float>, batch: Int, inH: Int, inW: Int, channels: Int, outH: Int, outW: Int,
                                     alignCorners: Bool, halfPixelCenters: Bool, output: UnsafeMutablePointer<Float>) {
        let sh = resizeScale(inH, outH, alignCorners), sw = resizeScale(inW, outW, alignCorners)
        func source(_ d: Int, _ scale: Float, _ size: Int) -> Int {
            let s: Float = halfPixelCenters ? ((Float(d) + 0.5) * scale).rounded(.down)
                : alignCorners ? (Float(d) * scale).rounded(.toNearestOrAwayFromZero) : (Float(d) * scale).rounded(.down)
            return Swift.max(0, Swift.min(Int(s), size - 1))
        }
        for n in 0..<batch { for y in 0..<outH { for x in 0..<outW { for c in 0..<channels {
            output[((n * outH + y) * outW + x) * channels + c] = input[((n * inH + source(y, sh, inH)) * inW + source(x, sw, inW)) * channels + c]
        } } } }
    }

    public static func transpose(input: UnsafePointer<Float>, shape: [Int], perm: [Int], output: UnsafeMutablePointer<Float>) {
        let outShape = perm.map { shape[$0] }
        var inStrides = [Int](repeating: 1, count: shape.count)
        for d in shape.indices.dropLast().reversed() { inStrides[d] = inStrides[d + 1] * shape[d + 1] }
        for o in 0..<outShape.reduce(1, *) {
            var rem = o, src = 0
            for d in outShape.indices.reversed() {
                src += (rem % outShape[d]) * inStrides[perm[d]]
                rem /= outShape[d]
            }
            output[o] = input[src]
        }
    }
}
