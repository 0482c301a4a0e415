import GraphIR
import Kernels

/// Runs one planned step: reads its input slots, allocates its output, calls the kernel.
enum Executor {
    static func execute(_ step: Step, plan: Plan, values: [[Float]?], threads: Int) -> [Float] {
        let shape = plan.shapes[step.output]
        let count = shape.reduce(1, *)
        if case .alias = step.kernel { return values[step.inputs[0]]! }
        let inputs = step.inputs.map { values[$0]! }
        guard count > 0 else { return [] }
        return [Float](unsafeUninitializedCapacity: count) { out, initialized in
            let o = out.baseAddress!
            withPointers(inputs) { p in
                let bias: UnsafePointer<Float>? = p.count > 2 ? p[2] : nil
                let residual: UnsafePointer<Float>? = p.count > 3 ? p[3] : nil
                switch step.kernel {
                case let .conv2d(g, outC, activation, _, _):
                    Fast.packedConv2d(input: p[0], packed: p[1], bias: bias, residual: residual, activation: activation, geometry: g,
                                      outC: outC, output: o, threads: threads)
                case let .winograd(g, outC, activation, _, _):
                    Fast.winogradConv2d(input: p[0], transformedFilter: p[1], bias: bias, residual: residual, activation: activation,
                                        geometry: g, outC: outC, output: o, threads: threads)
                case let .depthwise(g, multiplier, activation, _, _):
                    Fast.depthwiseConv2d(input: p[0], filter: p[1], multiplier: multiplier, bias: bias, residual: residual,
                                         activation: activation, geometry: g, output: o, threads: threads)
                case let .expandDepthwise(g, inC, expandActivation, expandBias, activation, hasBias, hasResidual):
                    var k = 2
                    let b1: UnsafePointer<Float>? = expandBias ? p[k] : nil
                    if expandBias { k += 1 }
                    let w2 = p[k]
                    k += 1
                    let b2: UnsafePointer<Float>? = hasBias ? p[k] : nil
                    if hasBias { k += 1 }
                    Fast.expandDepthwise(input: p[0], inC: inC, packedExpandFilter: p[1], expandBias: b1, expandActivation: expandActivation,
                                         depthwiseFilter: w2, depthwiseBias: b2, residual: hasResidual ? p[k] : nil,
                                         activation: activation, geometry: g, output: o, threads: threads)
                case let .conv2dTranspose(g, outC, inC, activation, _, _):
                    Fast.conv2dTranspose(input: p[0], filter: p[1], bias: bias, residual: residual, activation: activation, geometry: g,
                                         outC: outC, inC: inC, output: o, threads: threads)
                case let .matmul(m, k, n, ta, tb, activation, _, _):
                    Fast.matmul(a: p[0], b: p[1], m: m, k: k, n: n, transposeA: ta, transposeB: tb, bias: bias, residual: residual,
                                activation: activation, output: o, threads: threads)
                case let .binary(op, aShape, bShape, outShape):
                    Fast.binary(op, a: p[0], aShape: aShape, b: p[1], bShape: bShape, output: o, outShape: outShape)
                case let .unary(op, n):
                    Fast.unary(op, input: p[0], count: n, output: o)
                case let .batchNorm(n, channels, epsilon):
                    Fast.batchNorm(input: p[0], count: n, channels: channels, scale: p[1], offset: p[2], mean: p[3],
                                   variance: p[4], epsilon: epsilon, output: o)
                case let .maxPool(g, padValue):
                    Fast.maxPool(input: p[0], geometry: g, padValue: padValue, output: o, threads: threads)
                case let .avgPool(g):
                    Fast.avgPool(input: p[0], geometry: g, output: o, threads: threads)
                case let .reduce(op, inShape, axes):
                    switch op {
                    case .sum: Fast.reduceSum(input: p[0], shape: inShape, axes: axes, output: o)
                    case .max: Fast.reduceMax(input: p[0], shape: inShape, axes: axes, output: o)
                    default: Fast.reduceMean(input: p[0], shape: inShape, axes: axes, output: o)
                    }
                case let .pad(inShape, paddings, value):
                    Fast.pad(input: p[0], shape: inShape, paddings: paddings, value: value, output: o)
                case let .concat(shapes, axis):
                    Fast.concat(inputs: Array(zip(p, shapes)), axis: axis, output: o)
                case let .softmax(rows, cols):
                    Fast.softmax(input: p[0], rows: rows, cols: cols, output: o)
                case let .resize(mode, n, ih, iw, c, oh, ow, align, half):
                    if mode == .bilinear {
                        Fast.resizeBilinear(input: p[0], batch: n, inH: ih, inW: iw, channels: c, outH: oh, outW: ow,
                                            alignCorners: align, halfPixelCenters: half, output: o)
                    } else {
                        Fast.resizeNearest(input: p[0], batch: n, inH: ih, inW: iw, channels: c, outH: oh, outW: ow,
                                           alignCorners: align, halfPixelCenters: half, output: o)
                    }
                case let .transpose(inShape, perm):
                    Fast.transpose(input: p[0], shape: inShape, perm: perm, output: o)
                case let .stridedSlice(inShape, slice):
                    gather(p[0], inShape, slice, o)
                case let .spaceBatch(toBatch, inShape, block, pads):
                    spaceBatch(p[0], o, toBatch: toBatch, inShape, block, pads)
                case let .depthToSpace(inShape, block):
                    let (n, h, w, c) = (inShape[0], inShape[1], inShape[2], inShape[3] / (block * block))
                    for b in 0..<n { for y in 0..<h { for x in 0..<w { for i in 0..<block { for j in 0..<block {
                        let src = p[0] + ((b * h + y) * w + x) * inShape[3] + (i * block + j) * c
                        (o + ((b * h * block + y * block + i) * w * block + x * block + j) * c).initialize(from: src, count: c)
                    } } } } }
                case let .fakeQuant(r):
                    let channels = r.scale.count
                    for k in 0..<count { o[k] = r.quantize(p[0][k], channel: channels == 1 ? 0 : k % channels) }
                case let .fixNeuron(q, position):
                    q.quantize(p[0], count: count, position: position, into: o, threads: threads)
                case .alias:
                    break
                }
            }
            initialized = count
        }
    }

    /// Pointers to every input array for the duration of `body` (arrays are few: at most a concat's parts).
    static func withPointers<R>(_ arrays: [[Float]], _ body: ([UnsafePointer<Float>]) -> R) -> R {
        func nest(_ i: Int, _ acc: [UnsafePointer<Float>]) -> R {
            if i == arrays.count { return body(acc) }
            return arrays[i].withUnsafeBufferPointer { nest(i + 1, acc + [$0.baseAddress ?? UnsafePointer(bitPattern: 16)!]) }
        }
        return nest(0, [])
    }

    /// SpaceToBatchND: out[(i*bw + j)*N + n, y, x] = padded[n, y*bh + i, x*bw + j] (zero padding);
    /// BatchToSpaceND: the inverse, then the crops removed.
    static func spaceBatch(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, toBatch: Bool, _ shape: [Int],
                           _ block: [Int], _ pads: [Int]) {
        let (bh, bw, c) = (block[0], block[1], shape[3])
        if toBatch {
            let (n, h, w) = (shape[0], shape[1], shape[2])
            let oh = (h + pads[0] + pads[1]) / bh, ow = (w + pads[2] + pads[3]) / bw
            var o = out
            for i in 0..<bh { for j in 0..<bw { for b in 0..<n { for y in 0..<oh { for xx in 0..<ow {
                let sy = y * bh + i - pads[0], sx = xx * bw + j - pads[2]
                if sy >= 0, sy < h, sx >= 0, sx < w {
                    o.initialize(from: x + ((b * h + sy) * w + sx) * c, count: c)
                } else {
                    o.initialize(repeating: 0, count: c)
                }
                o += c
            } } } } }
        } else {
            let (batch, h, w) = (shape[0], shape[1], shape[2])
            let n = batch / (bh * bw)
            let fullH = h * bh, fullW = w * bw
            let outH = fullH - pads[0] - pads[1], outW = fullW - pads[2] - pads[3]
            for b in 0..<batch { for y in 0..<h { for xx in 0..<w {
                let i = (b / n) / bw, j = (b / n) % bw, image = b % n
                let ty = y * bh + i - pads[0], tx = xx * bw + j - pads[2]
                guard ty >= 0, ty < outH, tx >= 0, tx < outW else { continue }
                (out + ((image * outH + ty) * outW + tx) * c).initialize(from: x + ((b * h + y) * w + xx) * c, count: c)
            } } }
        }
    }

    /// A strided slice of a run-time value (e.g. `x[:, 1:5, ::2, :]`).
    static func gather(_ x: UnsafePointer<Float>, _ shape: [Int], _ plan: StridedSlicePlan, _ out: UnsafeMutablePointer<Float>) {
        let strides = Shapes.strides(shape)
        var o = 0
        func walk(_ d: Int, _ offset: Int) {
            if d == shape.count { out[o] = x[offset]; o += 1; return }
            var i = plan.begin[d]
            for _ in 0..<plan.sizes[d] {
                walk(d + 1, offset + i * strides[d])
                i += plan.strides[d]
            }
        }
        if !plan.sizes.contains(0) { walk(0, 0) }
    }
}
