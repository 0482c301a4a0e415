import GraphIR
import Kernels
import Quantizer
import Tensors

/// GraphIR node -> kernel call, with shapes checked and (for conv/matmul) the fusion of the chain
/// that follows: batch norm or a per-channel Mul folded into the weights, BiasAdd or a per-channel
/// Add into the bias, and Relu/Relu6/LeakyRelu as the epilogue.
extension Planner {
    mutating func lower(_ i: Int, _ ins: [Info], preserved: Set<String>) throws(RuntimeError) {
        let node = graph[i]
        func fail(_ reason: String) -> RuntimeError { RuntimeError(node: node, reason) }
        func shapeError(_ error: Folding.Failure) -> RuntimeError { RuntimeError(node: node, error.reason) }

        switch node.op {
        case let .conv2d(c), let .depthwiseConv2d(c), let .conv2dTranspose(c):
            try lowerConvolution(i, c, ins, preserved: preserved)
        case let .matmul(ta, tb):
            try lowerMatmul(i, ta, tb, ins, preserved: preserved)
        case .biasAdd:
            let x = try operand(node, 0, ins), b = try operand(node, 1, ins)
            guard b.shape.count == 1, x.shape.last == b.shape[0] else { throw fail("bias of shape \(b.shape) does not fit input \(x.shape)") }
            emit(node, i, .binary(.add, aShape: x.shape, bShape: b.shape, outShape: x.shape), inputs: [x.slot, b.slot], shape: x.shape)
        case let .binary(op):
            let a = try operand(node, 0, ins), b = try operand(node, 1, ins)
            let shape: [Int]
            do { shape = try Shapes.broadcast(a.shape, b.shape) } catch { throw shapeError(error) }
            guard let kernelOp = Self.binaryKernel[op] else { throw fail("\(op) on run-time values is not supported") }
            emit(node, i, .binary(kernelOp, aShape: a.shape, bShape: b.shape, outShape: shape), inputs: [a.slot, b.slot], shape: shape)
        case let .unary(op):
            let x = try operand(node, 0, ins)
            guard let kernelOp = Self.unaryKernel(op) else { throw fail("\(op.name) on run-time values is not supported") }
            emit(node, i, .unary(kernelOp, count: Tensor.elementCount(x.shape)), inputs: [x.slot], shape: x.shape)
        case let .batchNorm(epsilon):
            let x = try operand(node, 0, ins)
            var slots = [x.slot]
            for k in 1...4 {
                let p = try operand(node, k, ins)
                guard p.shape == [x.shape.last ?? -1] else { throw fail("batch-norm parameter \(k) of shape \(p.shape) does not fit input \(x.shape)") }
                slots.append(p.slot)
            }
            emit(node, i, .batchNorm(count: Tensor.elementCount(x.shape), channels: x.shape.last!, epsilon: epsilon), inputs: slots, shape: x.shape)
        case let .pool(kind, w):
            var x = try operand(node, 0, ins)
            guard x.shape.count == 4 else { throw fail("pooling needs an NHWC input, got shape \(x.shape)") }
            var window = Convolution(strideH: w.strideH, strideW: w.strideW, padding: w.padding)
            // Pad -> MaxPool (Keras ResNet's ZeroPadding2D + MaxPooling2D): the padded cells take
            // part in the max as the pad value, so any constant pad folds exactly.
            var padValue: Float? = nil
            if kind == .max, let folded = foldPad(into: i, window, preserved: preserved, anyValue: true) {
                (x, window, padValue) = (folded.0, folded.1, folded.value)
            }
            let g = try geometry(node, x.shape, kernelH: w.sizeH, kernelW: w.sizeW, window)
            let shape = [x.shape[0], g.outH, g.outW, x.shape[3]]
            emit(node, i, kind == .max ? .maxPool(g, padValue: padValue) : .avgPool(g), inputs: [x.slot], shape: shape)
        case let .reduce(op, keepDims):
            let x = try operand(node, 0, ins)
            let rank = x.shape.count
            let axes = Set(try constantInput(node, 1, ins, "axes").ints.map { $0 < 0 ? $0 + rank : $0 }).sorted()
            guard axes.allSatisfy({ (0..<rank).contains($0) }) else { throw fail("reduction axes out of range for shape \(x.shape)") }
            guard [.mean, .sum, .max].contains(op) else { throw fail("reduce_\(op) on run-time values is not supported") }
            let shape = x.shape.enumerated().compactMap { axes.contains($0.offset) ? (keepDims ? 1 : nil) : $0.element }
            emit(node, i, .reduce(op, shape: x.shape, axes: axes), inputs: [x.slot], shape: shape)
        case .pad:
            let x = try operand(node, 0, ins)
            let p = try constantInput(node, 1, ins, "paddings").ints
            guard p.count == 2 * x.shape.count, p.allSatisfy({ $0 >= 0 }) else { throw fail("paddings \(p) do not fit input \(x.shape)") }
            let value = ins.count > 2 ? try constantInput(node, 2, ins, "constant value").values.first ?? 0 : 0
            let pairs = (0..<x.shape.count).map { (before: p[2 * $0], after: p[2 * $0 + 1]) }
            let shape = x.shape.indices.map { x.shape[$0] + pairs[$0].before + pairs[$0].after }
            emit(node, i, .pad(shape: x.shape, paddings: pairs, value: Float(value)), inputs: [x.slot], shape: shape)
        case .concat:
            let axisValue = try constantInput(node, ins.count - 1, ins, "axis").ints.first ?? 0
            var parts: [(slot: Int, shape: [Int])] = []
            for k in 0..<(ins.count - 1) { parts.append(try operand(node, k, ins)) }
            let rank = parts[0].shape.count
            let axis = axisValue < 0 ? axisValue + rank : axisValue
            guard (0..<rank).contains(axis), parts.allSatisfy({ p in
                p.shape.count == rank && p.shape.indices.allSatisfy { $0 == axis || p.shape[$0] == parts[0].shape[$0] }
            }) else { throw fail("cannot concatenate shapes \(parts.map(\.shape)) along axis \(axisValue)") }
            var shape = parts[0].shape
            shape[axis] = parts.map { $0.shape[axis] }.reduce(0, +)
            emit(node, i, .concat(shapes: parts.map(\.shape), axis: axis), inputs: parts.map(\.slot), shape: shape)
        case .reshape, .squeeze, .expandDims, .identity, .cast(.float32):
            let x = try operand(node, 0, ins)
            let shape: [Int]
            do {
                switch node.op {
                case .reshape: shape = try Shapes.reshape(x.shape, to: try constantInput(node, 1, ins, "shape").ints)
                case let .squeeze(axes): shape = try Shapes.squeeze(x.shape, axes: axes)
                case .expandDims: shape = try Shapes.expandDims(x.shape, axis: try constantInput(node, 1, ins, "axis").ints.first ?? 0)
                default: shape = x.shape
                }
            } catch let error as Folding.Failure { throw shapeError(error) } catch { throw error as! RuntimeError }
            emit(node, i, .alias, inputs: [x.slot], shape: shape)
        case .softmax:
            let x = try operand(node, 0, ins)
            let cols = x.shape.last ?? 1
            emit(node, i, .softmax(rows: Tensor.elementCount(x.shape) / max(cols, 1), cols: cols), inputs: [x.slot], shape: x.shape)
        case let .resize(mode, align, half):
            let x = try operand(node, 0, ins)
            let size = try constantInput(node, 1, ins, "size").ints
            guard x.shape.count == 4, size.count == 2, size.allSatisfy({ $0 > 0 }) else { throw fail("cannot resize \(x.shape) to \(size)") }
            let shape = [x.shape[0], size[0], size[1], x.shape[3]]
            emit(node, i, .resize(mode, batch: x.shape[0], inH: x.shape[1], inW: x.shape[2], channels: x.shape[3], outH: size[0],
                                  outW: size[1], alignCorners: align, halfPixelCenters: half), inputs: [x.slot], shape: shape)
        case .transpose:
            let x = try operand(node, 0, ins)
            let perm = try constantInput(node, 1, ins, "permutation").ints
            let shape: [Int]
            do { shape = try Shapes.transpose(x.shape, perm: perm) } catch { throw shapeError(error) }
            emit(node, i, .transpose(shape: x.shape, perm: perm), inputs: [x.slot], shape: shape)
        case let .stridedSlice(masks):
            let x = try operand(node, 0, ins)
            let plan: StridedSlicePlan
            do {
                plan = try StridedSlicePlan(shape: x.shape, begin: constantInput(node, 1, ins, "begin").ints,
                                            end: constantInput(node, 2, ins, "end").ints,
                                            strides: constantInput(node, 3, ins, "strides").ints, masks: masks)
            } catch let error as Folding.Failure { throw shapeError(error) } catch { throw error as! RuntimeError }
            emit(node, i, .stridedSlice(shape: x.shape, plan: plan), inputs: [x.slot], shape: plan.outputShape)
        case .slice:
            let x = try operand(node, 0, ins)
            let begin = try constantInput(node, 1, ins, "begin").ints
            var size = try constantInput(node, 2, ins, "size").ints
            guard begin.count == x.shape.count, size.count == x.shape.count else { throw fail("slice bounds do not fit shape \(x.shape)") }
            for d in size.indices where size[d] == -1 { size[d] = x.shape[d] - begin[d] }
            let plan: StridedSlicePlan
            do {
                plan = try StridedSlicePlan(shape: x.shape, begin: begin, end: zip(begin, size).map(+), strides: begin.map { _ in 1 },
                                            masks: StridedSliceMasks())
            } catch { throw shapeError(error) }
            emit(node, i, .stridedSlice(shape: x.shape, plan: plan), inputs: [x.slot], shape: plan.outputShape)
        case let .fakeQuant(bits, narrow):
            let x = try operand(node, 0, ins)
            let lo = try constantInput(node, 1, ins, "min").values.map { Float($0) }
            let hi = try constantInput(node, 2, ins, "max").values.map { Float($0) }
            guard lo.count == hi.count, lo.count == 1 || lo.count == x.shape.last else {
                throw fail("min/max of \(lo.count)/\(hi.count) values do not fit input \(x.shape)")
            }
            emit(node, i, .fakeQuant(FakeQuantRanges(min: lo, max: hi, bits: bits, narrow: narrow)), inputs: [x.slot], shape: x.shape)
        case let .fixNeuron(bits, position, mode):
            let x = try operand(node, 0, ins)
            let q = Pof2Quantizer(bitWidth: bits, mode: QuantizeMode(rawValue: mode) ?? .activation,
                                  narrowActivations: options.narrowActivations)
            emit(node, i, .fixNeuron(q, position: position), inputs: [x.slot], shape: x.shape)
        case let .depthToSpace(b):
            let x = try operand(node, 0, ins)
            guard x.shape.count == 4, x.shape[3] % (b * b) == 0 else { throw fail("depth \(x.shape) is not divisible by block \(b)x\(b)") }
            emit(node, i, .depthToSpace(shape: x.shape, block: b), inputs: [x.slot],
                 shape: [x.shape[0], x.shape[1] * b, x.shape[2] * b, x.shape[3] / (b * b)])
        case .spaceToBatch, .batchToSpace:
            let x = try operand(node, 0, ins)
            let block = try constantInput(node, 1, ins, "block shape").ints
            let pads = try constantInput(node, 2, ins, node.op == .spaceToBatch ? "paddings" : "crops").ints
            guard x.shape.count == 4, block.count == 2, block.allSatisfy({ $0 > 0 }), pads.count == 4, pads.allSatisfy({ $0 >= 0 }) else {
                throw fail("block \(block) and paddings/crops \(pads) over input \(x.shape) are not supported (expected NHWC with 2 spatial blocks)")
            }
            let shape: [Int]
            if node.op == .spaceToBatch {
                let h = x.shape[1] + pads[0] + pads[1], w = x.shape[2] + pads[2] + pads[3]
                guard h % block[0] == 0, w % block[1] == 0 else { throw fail("padded size \(h)x\(w) is not a multiple of block \(block)") }
                shape = [x.shape[0] * block[0] * block[1], h / block[0], w / block[1], x.shape[3]]
            } else {
                let h = x.shape[1] * block[0] - pads[0] - pads[1], w = x.shape[2] * block[1] - pads[2] - pads[3]
                guard x.shape[0] % (block[0] * block[1]) == 0, h > 0, w > 0 else { throw fail("cannot undo block \(block) with crops \(pads) on \(x.shape)") }
                shape = [x.shape[0] / (block[0] * block[1]), h, w, x.shape[3]]
            }
            emit(node, i, .spaceBatch(toBatch: node.op == .spaceToBatch, shape: x.shape, block: block, pads: pads), inputs: [x.slot], shape: shape)
        default:
            throw fail("\(node.op.name) on run-time values is not supported")
        }
    }

    static let binaryKernel: [GraphIR.BinaryOp: Kernels.BinaryOp] = [
        .add: .add, .sub: .sub, .mul: .mul, .div: .div, .maximum: .maximum, .minimum: .minimum, .squaredDifference: .squaredDifference,
    ]

    static func unaryKernel(_ op: GraphIR.UnaryOp) -> Kernels.UnaryOp? {
        switch op {
        case .relu: .relu
        case .relu6: .relu6
        case let .leakyRelu(alpha): .leakyRelu(alpha: alpha)
        case .sigmoid: .sigmoid
        case .tanh: .tanh
        case .exp: .exp
        case .neg: .neg
        case .sqrt: .sqrt
        case .rsqrt: .rsqrt
        case .square: .square
        case .abs: .abs
        case .hardSigmoid: .hardSigmoid
        case .hardSwish: .hardSwish
        case .swish: .swish
        case .floor, .ceil, .round: nil
        }
    }

    func geometry(_ node: Node, _ x: [Int], kernelH: Int, kernelW: Int, _ c: Convolution) throws(RuntimeError) -> ConvGeometry {
        do {
            return try ConvGeometry.make(batch: x[0], inH: x[1], inW: x[2], inC: x[3], kernelH: kernelH, kernelW: kernelW,
                                         strideH: c.strideH, strideW: c.strideW, dilationH: c.dilationH, dilationW: c.dilationW,
                                         padding: Kernels.Padding(c.padding))
        } catch {
            throw RuntimeError(node: node, "input \(x), window \(kernelH)x\(kernelW): \(error)")
        }
    }

    // MARK: fused chains

    /// The follower of `i` that can be fused into it: its only consumer, reading it once, and `i`
    /// not needed on its own.
    func soleFollower(_ i: Int, preserved: Set<String>) -> Int? {
        guard options.fuse, !preserved.contains(graph[i].name), consumers[i].count == 1 else { return nil }
        let next = consumers[i][0]
        guard !fed.contains(next), graph[next].inputs.filter({ $0.node == i }).count == 1, graph[next].inputs.first?.node == i || isCommutative(next) else {
            return nil
        }
        return next
    }

    func isCommutative(_ i: Int) -> Bool {
        if case .binary(.add) = graph[i].op { return true }
        if case .binary(.mul) = graph[i].op { return true }
        return false
    }

    /// The value of a constant input of a node not planned yet: a Const node (importers emit a
    /// node's inputs after the nodes before it, so a follower's parameters come later in order).
    func constantOf(_ ref: ValueRef) -> Folding.Value? {
        if case let .constant(v)? = info[ref.node] { return v }
        return graph[ref.node].op.constantValue.map { Folding.Value($0) }
    }

    /// A per-channel constant operand of node `j` (the input that is not `from`), as `channels` floats.
    func channelVector(_ j: Int, from: Int, channels: Int) -> [Float]? {
        guard let other = graph[j].inputs.first(where: { $0.node != from }), let v = constantOf(other) else { return nil }
        guard v.dtype.isFloatingPoint, v.count == channels, v.shape.last == channels || v.shape.isEmpty && channels == 1,
              v.shape.dropLast().allSatisfy({ $0 == 1 }) else { return nil }
        return v.floats
    }

    /// What fusion absorbed after a conv/matmul: per-output-channel scale and bias folded into the
    /// weights, an optional residual value added before the activation, and the activation.
    struct Chain {
        var last: Int
        var scale: [Float]? = nil
        var bias: [Float]? = nil
        var residual: Int? = nil
        var activation: Activation = .none
    }

    /// Absorbs batch norm / per-channel Mul / BiasAdd / per-channel Add / a residual Add of an
    /// already computed value of the same shape / activation after node `i`.
    mutating func fusedChain(after i: Int, channels: Int, outShape: [Int], preserved: Set<String>) -> Chain {
        var chain = Chain(last: i)
        while let next = soleFollower(chain.last, preserved: preserved) {
            let node = graph[next]
            let last = chain.last
            switch node.op {
            case let .batchNorm(epsilon) where node.inputs.first?.node == last && chain.residual == nil:
                let params = node.inputs.dropFirst().map { ref -> [Float]? in
                    guard let v = constantOf(ref), v.count == channels else { return nil }
                    return v.floats
                }
                guard params.count == 4, let g = params[0], let beta = params[1], let mean = params[2], let variance = params[3] else {
                    return chain
                }
                // y = (x - mean) * g / sqrt(var + eps) + beta, composed onto the current scale and bias.
                let multiplier = (0..<channels).map { g[$0] / (variance[$0] + epsilon).squareRoot() }
                chain.scale = (0..<channels).map { (chain.scale?[$0] ?? 1) * multiplier[$0] }
                chain.bias = (0..<channels).map { ((chain.bias?[$0] ?? 0) - mean[$0]) * multiplier[$0] + beta[$0] }
            case .binary(.mul) where chain.residual == nil:
                guard let v = channelVector(next, from: last, channels: channels) else { return chain }
                chain.scale = (0..<channels).map { (chain.scale?[$0] ?? 1) * v[$0] }
                chain.bias = chain.bias.map { b in (0..<channels).map { b[$0] * v[$0] } }
            case .biasAdd where node.inputs.first?.node == last && chain.residual == nil, .binary(.add) where chain.residual == nil:
                if let v = channelVector(next, from: last, channels: channels) {
                    chain.bias = (0..<channels).map { (chain.bias?[$0] ?? 0) + v[$0] }
                } else if case .binary(.add) = node.op, let other = node.inputs.first(where: { $0.node != last }),
                          case let .value(slot, shape)? = info[other.node], shape == outShape {
                    chain.residual = slot
                } else {
                    return chain
                }
            case .unary(.relu), .unary(.relu6), .unary(.leakyRelu):
                absorbed.insert(next)
                chain.last = next
                chain.activation = switch node.op {
                case .unary(.relu): .relu
                case .unary(.relu6): .relu6
                case let .unary(.leakyRelu(alpha)): .leakyRelu(alpha: alpha)
                default: .none
                }
                return chain
            default:
                return chain
            }
            absorbed.insert(next)
            chain.last = next
        }
        return chain
    }

    mutating func lowerConvolution(_ i: Int, _ c: Convolution, _ ins: [Info], preserved: Set<String>) throws(RuntimeError) {
        let node = graph[i]
        var x = try operand(node, 0, ins)
        var c = c
        guard x.shape.count == 4 else { throw RuntimeError(node: node, "expects an NHWC input, got shape \(x.shape)") }
        if let folded = foldPad(into: i, c, preserved: preserved).map({ ($0.0, $0.1) }) {
            (x, c) = folded
        }
        let filter = try constantInput(node, 1, ins, "filter")
        guard filter.shape.count == 4 else { throw RuntimeError(node: node, "filter shape \(filter.shape) is not 4-D") }
        let f = filter.shape
        var weights = filter.floats
        let channels: Int
        let geometry: ConvGeometry
        let outShape: [Int]
        /// Output channel of flat filter index `k`.
        let channelOf: (Int) -> Int
        switch node.op {
        case .conv2d:
            guard f[2] == x.shape[3] else { throw RuntimeError(node: node, "filter \(f) expects \(f[2]) input channels, input \(x.shape) has \(x.shape[3])") }
            channels = f[3]
            geometry = try self.geometry(node, x.shape, kernelH: f[0], kernelW: f[1], c)
            outShape = [x.shape[0], geometry.outH, geometry.outW, channels]
            channelOf = { $0 % channels }
        case .depthwiseConv2d:
            guard f[2] == x.shape[3] else { throw RuntimeError(node: node, "filter \(f) expects \(f[2]) input channels, input \(x.shape) has \(x.shape[3])") }
            channels = f[2] * f[3]
            geometry = try self.geometry(node, x.shape, kernelH: f[0], kernelW: f[1], c)
            outShape = [x.shape[0], geometry.outH, geometry.outW, channels]
            channelOf = { $0 % channels }
        default:
            let target = try constantInput(node, 2, ins, "output shape").ints
            guard target.count == 4, f[3] == x.shape[3], target[3] == f[2] else {
                throw RuntimeError(node: node, "output shape \(target), filter \(f) and input \(x.shape) do not fit together")
            }
            channels = f[2]
            let forward = [x.shape[0], target[1], target[2], target[3]]
            geometry = try self.geometry(node, forward, kernelH: f[0], kernelW: f[1], c)
            guard geometry.outH == x.shape[1], geometry.outW == x.shape[2] else {
                throw RuntimeError(node: node, "a \(target[1])x\(target[2]) output convolved gives \(geometry.outH)x\(geometry.outW), but the input is \(x.shape[1])x\(x.shape[2])")
            }
            outShape = forward
            let inC = f[3]
            channelOf = { ($0 / inC) % channels }
        }
        let chain = fusedChain(after: i, channels: channels, outShape: outShape, preserved: preserved)
        if let scale = chain.scale { for k in weights.indices { weights[k] *= scale[channelOf(k)] } }
        let winograd = options.winograd && node.op.isConv2D && Fast.usesWinograd(geometry, outC: channels)
            && !isQuantizedWeight(node.inputs[1])
        let packed = node.op.isConv2D && !winograd  // every other Conv2D: Fast.packedConv2d
        let filterSlot = if options.shapesOnly {
            constantSlot([], shape: f)
        } else if winograd {
            constantSlot(weights.withUnsafeBufferPointer { Fast.winogradPackedFilter($0.baseAddress!, inC: f[2], outC: channels) },
                         shape: [36 * Fast.packedCount(k: f[2], n: channels)])
        } else if packed {
            constantSlot(weights.withUnsafeBufferPointer { Fast.packWeights($0.baseAddress!, k: f[0] * f[1] * f[2], n: channels) },
                         shape: [Fast.packedCount(k: f[0] * f[1] * f[2], n: channels)])
        } else {
            chain.scale == nil ? floatSlot(node.inputs[1], filter) : constantSlot(weights, shape: f)
        }
        var inputs = [x.slot, filterSlot]
        let hasBias = chain.bias != nil || chain.residual != nil
        inputs.append(constantSlot(chain.bias ?? [Float](repeating: 0, count: channels), shape: [channels]))
        if !hasBias { inputs.removeLast() }
        if let residual = chain.residual { inputs.append(residual) }
        let kernel: Kernel = switch node.op {
        case .conv2d where winograd:
            .winograd(geometry, outC: channels, activation: chain.activation, hasBias: hasBias, residual: chain.residual != nil)
        case .conv2d: .conv2d(geometry, outC: channels, activation: chain.activation, hasBias: hasBias, residual: chain.residual != nil)
        case .depthwiseConv2d: .depthwise(geometry, multiplier: f[3], activation: chain.activation, hasBias: hasBias, residual: chain.residual != nil)
        default: .conv2dTranspose(geometry, outC: channels, inC: f[3], activation: chain.activation, hasBias: hasBias, residual: chain.residual != nil)
        }
        emit(graph[chain.last], chain.last, kernel, inputs: inputs, shape: outShape)
        for j in absorbedChain(from: i, to: chain.last) { info[j] = info[chain.last] }
    }

    mutating func lowerMatmul(_ i: Int, _ ta: Bool, _ tb: Bool, _ ins: [Info], preserved: Set<String>) throws(RuntimeError) {
        let node = graph[i]
        let a = try operand(node, 0, ins)
        guard a.shape.count == 2 else { throw RuntimeError(node: node, "expects a 2-D input, got shape \(a.shape)") }
        let m = ta ? a.shape[1] : a.shape[0], k = ta ? a.shape[0] : a.shape[1]
        if case let .constant(bv) = ins[1], bv.shape.count == 2 {
            let n = tb ? bv.shape[0] : bv.shape[1]
            guard (tb ? bv.shape[1] : bv.shape[0]) == k else { throw RuntimeError(node: node, "cannot multiply \(a.shape) by \(bv.shape)") }
            let chain = fusedChain(after: i, channels: n, outShape: [m, n], preserved: preserved)
            var weights = bv.floats
            if let scale = chain.scale { for idx in weights.indices { weights[idx] *= scale[tb ? idx / k : idx % n] } }
            let bSlot = chain.scale == nil ? floatSlot(node.inputs[1], bv) : constantSlot(weights, shape: bv.shape)
            var inputs = [a.slot, bSlot]
            let hasBias = chain.bias != nil || chain.residual != nil
            if hasBias { inputs.append(constantSlot(chain.bias ?? [Float](repeating: 0, count: n), shape: [n])) }
            if let residual = chain.residual { inputs.append(residual) }
            emit(graph[chain.last], chain.last, .matmul(m: m, k: k, n: n, transposeA: ta, transposeB: tb, activation: chain.activation,
                                                        hasBias: hasBias, residual: chain.residual != nil), inputs: inputs, shape: [m, n])
            for j in absorbedChain(from: i, to: chain.last) { info[j] = info[chain.last] }
            return
        }
        let b = try operand(node, 1, ins)
        guard b.shape.count == 2, (tb ? b.shape[1] : b.shape[0]) == k else { throw RuntimeError(node: node, "cannot multiply \(a.shape) by \(b.shape)") }
        let n = tb ? b.shape[0] : b.shape[1]
        emit(node, i, .matmul(m: m, k: k, n: n, transposeA: ta, transposeB: tb, activation: .none, hasBias: false, residual: false),
             inputs: [a.slot, b.slot], shape: [m, n])
    }

    /// When the conv's input is a zero Pad of H and W that nothing else reads, drops the pad's
    /// step and returns its input with the padding made explicit in the convolution (Keras's
    /// ZeroPadding2D before a VALID stride-2 conv becomes one kernel call, no padded copy).
    /// `anyValue`: the consumer handles a non-zero pad value (returned as `value`).
    mutating func foldPad(into i: Int, _ c: Convolution, preserved: Set<String>,
                          anyValue: Bool = false) -> ((slot: Int, shape: [Int]), Convolution, value: Float)? {
        let padRef = graph[i].inputs[0]
        guard options.fuse, case .pad = graph[padRef.node].op, consumers[padRef.node] == [i], !preserved.contains(graph[padRef.node].name),
              case let .value(padSlot, _)? = info[padRef.node],
              let stepIndex = steps.lastIndex(where: { $0.output == padSlot }), case let .pad(shape, p, value) = steps[stepIndex].kernel,
              value == 0 || anyValue, p.count == 4, p[0].before == 0, p[0].after == 0, p[3].before == 0, p[3].after == 0
        else { return nil }
        var top = p[1].before, bottom = p[1].after, left = p[2].before, right = p[2].after
        switch c.padding {
        case .valid: break
        case let .explicit(t, b, l, r): top += t; bottom += b; left += l; right += r
        case .same: return nil
        }
        let input = steps[stepIndex].inputs[0]
        steps.remove(at: stepIndex)
        var folded = c
        folded.padding = .explicit(top: top, bottom: bottom, left: left, right: right)
        return ((input, shape), folded, value)
    }

    /// Whether a conv's filter comes from a FixNeuron or FakeQuant (through Identity nodes). Such
    /// convolutions stay direct: with power-of-two quantized weights and activations the float
    /// sums are exact integer arithmetic (what a DPU computes), which Winograd's fractional
    /// transforms would round.
    func isQuantizedWeight(_ ref: ValueRef) -> Bool {
        var node = graph[ref.node]
        while case .identity = node.op, let input = node.inputs.first { node = graph[input.node] }
        switch node.op {
        case .fixNeuron, .fakeQuant: return true
        default: return false
        }
    }

    /// Nodes from `i` (exclusive) to `last` (inclusive) along sole-consumer links.
    func absorbedChain(from i: Int, to last: Int) -> [Int] {
        var out: [Int] = []
        var cur = i
        while cur != last, let next = consumers[cur].first {
            out.append(next)
            cur = next
        }
        if last != i && out.last != last { out.append(last) }
        out.insert(i, at: 0)
        return out
    }
}

extension Op {
    var constantValue: Tensor? { if case let .constant(t) = self { t } else { nil } }
    var isConv2D: Bool { if case .conv2d = self { true } else { false } }
}

extension Kernels.Padding {
    /// A graph's padding as the kernels take it.
    public init(_ p: GraphIR.Padding) {
        switch p {
        case .same: self = .same
        case .valid: self = .valid
        case let .explicit(t, b, l, r): self = .explicit(top: t, bottom: b, left: l, right: r)
        }
    }
}
