import Foundation
import GraphIR
import Kernels
import Quantizer
import Runtime
import TFProto
import TensorFlowIO
import Tensors

/// What fast finetuning and bias correction do (vai_q_tensorflow2's `include_fast_ft`,
/// `fast_ft_epochs`, `include_bias_corr`). One default for every model: Adam, one step per
/// calibration batch, at most `epochs` epochs, learning rates relative to each tensor's grid step
/// (0.1 step for weights and biases: scale-free, where vai_q_tensorflow2's absolute 1e-5 and 1e-3
/// depend on the model's weight scale); an epoch that does not lower the layer's loss is undone and
/// halves the rates, the third such epoch ends the layer. Chosen on examples/digits (logits SQNR
/// 25.2 dB against 24.7 dB with vai_q_tensorflow2's rates and its stop at the first setback).
public struct FinetuneOptions: Sendable, Equatable, Codable {
    public var fastFinetune = false
    public var biasCorrection = false
    public var epochs = 10
    /// Adam's learning rates as fractions of the weights' and the bias's grid steps (2^-position).
    public var weightRate: Float = 0.1
    public var biasRate: Float = 0.1
    /// Epochs that may fail to improve a layer (each undone, halving the rates) before it ends.
    public var setbacks = 2
    /// Weights are tuned only where the training rows (calibration rows x output positions) are at
    /// least this many times the layer's fan-in (weights per output channel): below it, each
    /// channel's least-squares problem is under-determined and Adam fits the calibration set's noise
    /// (a classifier's dense layer: 80 rows against 1280 inputs). Such a layer gets bias correction only.
    public var rowsPerInput = 4

    public init(fastFinetune: Bool = false, biasCorrection: Bool = false, epochs: Int = 10) {
        self.fastFinetune = fastFinetune
        self.biasCorrection = biasCorrection
        self.epochs = epochs
    }

    public var any: Bool { fastFinetune || biasCorrection }
}

/// One layer's outcome: the mean squared error of its quantized output against the float model's
/// on the calibration data, before and after, and the mean pre-activation error's magnitude
/// (mean over channels of |mean error|) before and after.
public struct LayerFinetune: Sendable, Equatable, Codable {
    public var layer: String
    public var lossBefore: Double
    public var lossAfter: Double
    public var meanErrorBefore: Double
    public var meanErrorAfter: Double
    public var epochs: Int
    public var biasCorrected: Bool
    /// The rows fast finetuning trains on (calibration rows x output positions, validation batches
    /// excluded) and the weights per output channel: weights are tuned only when the rows are at
    /// least `FinetuneOptions.rowsPerInput` times the fan-in.
    public var trainingRows: Int
    public var fanIn: Int
}

/// Layer-wise fast finetuning (AdaQuant) and empirical bias correction of a power-of-two plan.
///
/// For each conv-like layer (Conv2D, DepthwiseConv2dNative, MatMul with constant weights and a
/// quantized output) in graph order: its input is what the quantized model, with every earlier
/// layer already finetuned, feeds it on the calibration data (the eval model's FixNeurons at the
/// plan's positions); its target is the float model's output of the same layer. Then:
///
/// - bias correction adds to the bias, per output channel, the mean difference between the float
///   layer's pre-activation output and the quantized one (kept only if the layer's loss does not
///   grow);
/// - fast finetuning runs Adam on the float weights and bias to minimize the mean squared error
///   between the layer's quantized output (weights, bias and output through their FixNeurons at
///   their positions, straight-through; the weights' position chosen again from the current weights
///   by the strategy's method, as the final quantize will; the activation's and the output quantizer's clipping
///   stop the gradient) and the target, one step per calibration batch; after each epoch the loss
///   is measured on every fifth batch (held out from training) and on all, and an epoch that does
///   not improve the held-out loss, or leaves the loss on all batches above what it was before, is
///   undone (see `FinetuneOptions`): the layer ends with the best weights seen, its loss never grows.
///
/// Deterministic: fixed batch order, kernels whose sums do not depend on the thread budget.
public enum FastFinetuner {
    public struct Failure: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// A layer to tune: its group and how to compute it.
    struct Layer {
        enum Kind {
            case conv(Convolution), depthwise(Convolution), dense
            var isDense: Bool { if case .dense = self { true } else { false } }
            var isDepthwise: Bool { if case .depthwise = self { true } else { false } }
            /// Output channels of a filter of this kind (HWIO, HWCM for depthwise, IO for dense).
            func channels(_ weightShape: [Int]) -> Int { isDepthwise ? weightShape[2] * weightShape[3] : weightShape.last! }
        }
        let group: NodeGroup
        let kind: Kind
        /// The node whose value is the layer's output before its activation (the bias add, else the compute node).
        let preActivation: String
        let activation: Activation
        let weight: (bits: Int, position: Int, mode: QuantizeMode, method: PositionMethod)
        let bias: (bits: Int, position: Int)?
        let output: (bits: Int, position: Int)
    }

    /// The layers of `plan` that can be tuned, in graph order.
    static func layers(_ graph: Tensorflow_GraphDef, plan: QuantizePlan, imported: Graph) -> [Layer] {
        let edit = GraphEdit(graph, path: "")
        func tensor(_ node: String, _ kind: TensorKind) -> QuantTensor? { plan.tensors.first { $0.node == node && $0.kind == kind } }
        let order = Dictionary(uniqueKeysWithValues: graph.node.enumerated().map { ($1.name, $0) })
        return plan.groups.sorted { (order[$0.compute] ?? 0) < (order[$1.compute] ?? 0) }.compactMap { group -> Layer? in
            guard let i = imported.index(of: group.compute), let w = tensor(group.weight, .weight), let wp = w.position,
                  let out = tensor(group.output, .activation), let op = out.position, let weight = edit.constant(group.weight) else { return nil }
            let kind: Layer.Kind
            switch imported[i].op {
            case .conv2d(let c): kind = .conv(c)
            case .depthwiseConv2d(let c): kind = .depthwise(c)
            case .matmul(false, false): kind = .dense
            default: return nil
            }
            // The forward pass reads one weight tensor of rank 4 (conv) or 2 (dense) and one bias
            // value per output channel; a layer of any other shape (a broadcast bias, ...) stays as it is.
            guard weight.shape.count == (kind.isDense ? 2 : 4) else { return nil }
            let channels = kind.channels(weight.shape)
            var bias: (Int, Int)? = nil
            if let b = group.bias {
                guard let t = tensor(b, .bias), let p = t.position, edit.constant(b)?.shape.reduce(1, *) == channels else { return nil }
                bias = (t.bitWidth, p)
            }
            // The layer's activation, when its output is one (else the output is the pre-activation value).
            var activation = Activation.none
            var pre = group.output
            if let node = edit[group.output], let input = edit.inputs(of: node).first, TFOp.convolutionActivationOps.contains(node.tfOp) {
                pre = input
                switch node.tfOp {
                case .relu?: activation = .relu
                case .relu6?: activation = .relu6
                default: activation = .leakyRelu(alpha: node.attr["alpha"].map { $0.f } ?? 0.2)
                }
            }
            return Layer(group: group, kind: kind, preActivation: pre, activation: activation, weight: (w.bitWidth, wp, w.mode, w.method),
                         bias: bias, output: (out.bitWidth, op))
        }
    }

    /// The finetuned float graph (weights and biases changed; positions are for the caller to
    /// choose again) and each tuned layer's outcome.
    ///
    /// Layer-major: the float model and the quantized model (the eval model at the plan's
    /// positions) each run once over the calibration batches, a segment at a time. A layer's
    /// segment starts from the values already known (the model's inputs and the outputs of the
    /// layers before it, the quantized model's computed with their tuned weights) and ends at what
    /// the layer reads (quantized) and computes (float); a known value is dropped after the last
    /// segment that reads it. So the cost is about two inferences plus the tuning itself, where
    /// running each layer's prefix from the inputs cost one inference per layer.
    public static func run(_ graph: Tensorflow_GraphDef, plan: QuantizePlan, batches: [[String: Tensor]], narrowActivations: Bool,
                           options: FinetuneOptions, threads: Int, path: String,
                           progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }) throws -> (graph: Tensorflow_GraphDef, layers: [LayerFinetune]) {
        guard options.any, !batches.isEmpty else { return (graph, []) }
        let eval = PostTrainingQuantizer.evalModel(graph, plan: plan, narrowActivations: narrowActivations)
        let evalInputs = Dictionary(eval.node.map { ($0.name, $0.input.first.map { TensorName($0).node }) }, uniquingKeysWith: { a, _ in a })
        let importedFloat = try GraphImporter.importGraph(graph, outputs: [], path: path).graph
        // Each layer with what it reads in the quantized model (its compute node's data input there).
        let layers = Self.layers(graph, plan: plan, imported: importedFloat).compactMap { layer -> (Layer, String)? in
            guard let feed = evalInputs[layer.group.compute] ?? nil else { return nil }
            return (layer, feed)
        }
        guard !layers.isEmpty else { return (graph, []) }
        let outputs = layers.map(\.0.group.output)
        let float = try Sweep(importedFloat, reads: layers.map { [$0.0.preActivation, $0.0.group.output] }, cuts: outputs,
                              batches: batches, narrow: false, threads: threads, path: path)
        let quantized = try Sweep(try GraphImporter.importGraph(eval, outputs: [], path: path).graph, reads: layers.map { [$0.1] },
                                  cuts: outputs, batches: batches, narrow: narrowActivations, threads: threads, path: path)
        var current = GraphEdit(graph, path: path)
        var report: [LayerFinetune] = []
        for (index, (layer, feed)) in layers.enumerated() {
            let inputs = try quantized.values(of: [feed], layer: index).map { $0[0] }
            let (targets, shapes) = try { () throws -> ([LayerTarget], [[Int]]) in
                let computed = try float.values(of: [layer.preActivation, layer.group.output], layer: index)
                float.finish(layer: index, output: computed.map { $0[1] })
                // The float output is the activation of the float pre-activation value: only the latter is kept.
                return (computed.map { LayerTarget(pre: $0[0].values) }, computed.map { $0[0].shape })
            }()
            let w = current.constant(layer.group.weight)!
            let b = layer.group.bias.flatMap { current.constant($0) }
            var state = LayerState(layer: layer, weights: w.floatValues(), weightShape: w.shape, bias: b?.floatValues(),
                                   narrow: narrowActivations, threads: threads, path: path)
            var pres: [[Float]] = []
            let outcome = try state.tune(inputs: inputs, targets: targets, options: options, pres: &pres)
            current.setConstant(layer.group.weight, state.weights, shape: w.shape)
            if let name = layer.group.bias, let bias = state.bias, let b { current.setConstant(name, bias, shape: b.shape) }
            // The quantized model's value of the layer's output node with the tuned parameters (its
            // FixNeuron, in the segments that read it, quantizes it as the eval model does).
            if quantized.isRead(output: index) {
                quantized.finish(layer: index, output: zip(pres, shapes).map { pre, shape in
                    LayerBatch(shape: shape, values: state.floatOutput(LayerTarget(pre: pre)))
                })
            }
            report.append(outcome)
            progress(index + 1, layers.count)
        }
        return (current.graphDef, report)
    }

    /// One model run over the calibration batches a segment at a time (see `run`): layer `i`'s
    /// segment computes the nodes `reads[i]` from the model's inputs and the outputs `cuts[j]`
    /// (j < i) that earlier layers made known.
    final class Sweep {
        let graph: Graph
        let refs: [String: ValueRef]
        let batches: [[String: Tensor]]
        let options: PlanOptions
        let threads: Int
        let path: String
        let cuts: [String]
        /// For each layer, the known values its segment reads; for each cut, the last layer reading it.
        let feeds: [[String]]
        let lastRead: [String: Int]
        /// Values as floats, one array per batch (a Tensor is made per batch only to feed a run).
        var known: [String: [LayerBatch]] = [:]

        /// `graph`: the whole model, imported (from its sinks).
        init(_ graph: Graph, reads: [[String]], cuts: [String], batches: [[String: Tensor]], narrow: Bool,
             threads: Int, path: String) throws {
            let names = Array(Set(reads.joined()).union(cuts)).sorted()
            var refs: [String: ValueRef] = [:]
            for name in names {
                guard let i = graph.index(of: name) else {
                    throw Failure(message: "\(path): node '\(name)' has no value of its own in the imported graph")
                }
                refs[name] = ValueRef(i)
            }
            self.graph = graph
            self.refs = refs
            self.batches = batches
            self.options = PlanOptions(preserve: Set(names), narrowActivations: narrow)
            self.threads = threads
            self.path = path
            self.cuts = cuts
            var feeds: [[String]] = []
            var lastRead: [String: Int] = [:]
            let cutIndex = cuts.map { refs[$0]!.node }
            for (i, names) in reads.enumerated() {
                let stops = Set(cutIndex[..<i])
                let reached = graph.ancestors(of: names.map { refs[$0]!.node }, stoppingAt: stops)
                let read = reached.filter { stops.contains($0) }.map { graph[$0].name }
                for name in read { lastRead[name] = i }
                feeds.append(read)
            }
            self.feeds = feeds
            self.lastRead = lastRead
        }

        /// Whether a later layer's segment reads layer `i`'s output.
        func isRead(output i: Int) -> Bool { (lastRead[cuts[i]] ?? -1) > i }

        /// The values of `names` (layer `layer`'s reads) on every batch.
        func values(of names: [String], layer: Int) throws -> [[LayerBatch]] {
            let runtime = Runtime(graph: graph, outputs: names.map { ($0, refs[$0]!) }, options: options)
            let inputs = Set(graph.ancestors(of: names.map { refs[$0]!.node }, stoppingAt: Set(feeds[layer].compactMap { graph.index(of: $0) }))
                .map { graph[$0].name })
            let result = try batches.indices.map { b in
                var feed = batches[b].filter { inputs.contains($0.key) }
                for name in feeds[layer] { feed[name] = Tensor(known[name]![b].values, shape: known[name]![b].shape) }
                do {
                    return try runtime.run(feed, threads: threads).map { LayerBatch(shape: $0.tensor.shape, values: $0.tensor.floatValues()) }
                } catch {
                    throw Failure(message: "\(path): \(error)")
                }
            }
            for name in feeds[layer] where lastRead[name] == layer { known[name] = nil }
            return result
        }

        /// Layer `i`'s output on every batch, kept while a later segment reads it.
        func finish(layer i: Int, output: [LayerBatch]) {
            if isRead(output: i) { known[cuts[i]] = output }
        }
    }
}

/// One calibration batch of a layer's input, converted to floats once.
struct LayerBatch {
    let shape: [Int]
    let values: [Float]
}

/// The float model's pre-activation output of a layer on one batch (its output is that value's
/// activation, computed where it is needed rather than held for every batch).
struct LayerTarget {
    let pre: [Float]
}

/// One layer being tuned: its float parameters, Adam's moments, and the forward and backward passes.
struct LayerState {
    let layer: FastFinetuner.Layer
    var weights: [Float]
    let weightShape: [Int]
    var bias: [Float]?
    let narrow: Bool
    let threads: Int
    let path: String

    var channels: Int { layer.kind.channels(weightShape) }
    var multiplier: Int { layer.kind.isDepthwise ? weightShape[3] : 1 }
    /// Weights per output channel.
    var fanIn: Int { weights.count / channels }

    /// The weights' position as the final quantize will choose it from the current weights (the
    /// strategy's method; the shift rules may still move it, as they may the plan's).
    func weightPosition() -> Int {
        Pof2Quantizer(bitWidth: layer.weight.bits, mode: layer.weight.mode).position(weights, method: layer.weight.method)
    }

    func quantizedWeights() -> [Float] {
        Pof2Quantizer(bitWidth: layer.weight.bits, mode: layer.weight.mode).quantize(weights, position: weightPosition())
    }

    func quantizedBias() -> [Float]? {
        guard let bias, let q = layer.bias else { return nil }
        return Pof2Quantizer(bitWidth: q.bits, mode: .weight).quantize(bias, position: q.position)
    }

    func geometry(_ x: [Int]) throws -> ConvGeometry {
        switch layer.kind {
        case .conv(let c), .depthwise(let c):
            guard x.count == 4 else { throw FastFinetuner.Failure(message: "\(path): layer '\(layer.group.compute)': input shape \(x), expected NHWC") }
            return try ConvGeometry.make(batch: x[0], inH: x[1], inW: x[2], inC: x[3], kernelH: weightShape[0], kernelW: weightShape[1],
                                         strideH: c.strideH, strideW: c.strideW, dilationH: c.dilationH, dilationW: c.dilationW,
                                         padding: Kernels.Padding(c.padding))
        case .dense:
            guard x.count == 2 else { throw FastFinetuner.Failure(message: "\(path): layer '\(layer.group.compute)': input shape \(x), expected [rows, features]") }
            return try ConvGeometry.make(batch: x[0], inH: 1, inW: 1, inC: x[1], kernelH: 1, kernelW: 1, strideH: 1, strideW: 1,
                                         dilationH: 1, dilationW: 1, padding: .valid)
        }
    }

    /// The layer's pre-activation output (conv + quantized bias) on one batch with quantized weights.
    func preActivation(_ x: LayerBatch, weights wq: [Float], bias bq: [Float]?) throws -> [Float] {
        let g = try geometry(x.shape)
        let input = x.values
        let rows = g.batch * g.outH * g.outW
        var out = [Float](repeating: 0, count: rows * channels)
        input.withUnsafeBufferPointer { xp in wq.withUnsafeBufferPointer { wp in out.withUnsafeMutableBufferPointer { op in
            let bp = bq?.withUnsafeBufferPointer { $0.baseAddress }
            // Conv and dense layers by the packed-weights product (the runtime's kernel for
            // quantized filters); packing per call costs a copy of the weights, small beside the product.
            switch layer.kind {
            case .conv:
                let packed = Fast.packWeights(wp.baseAddress!, k: g.kernelH * g.kernelW * g.inC, n: channels)
                Fast.packedConv2d(input: xp.baseAddress!, packed: packed, bias: bp, residual: nil, activation: .none, geometry: g,
                                  outC: channels, output: op.baseAddress!, threads: threads)
            case .depthwise:
                Fast.depthwiseConv2d(input: xp.baseAddress!, filter: wp.baseAddress!, multiplier: multiplier, bias: bp, activation: .none,
                                     geometry: g, output: op.baseAddress!, threads: threads)
            case .dense:
                let packed = Fast.packWeights(wp.baseAddress!, k: g.inC, n: channels)
                Fast.packedProduct(input: xp.baseAddress!, packed: packed, m: rows, k: g.inC, n: channels, bias: bp, residual: nil,
                                   activation: .none, output: op.baseAddress!, threads: threads)
            }
        } } }
        return out
    }

    /// The layer's quantized output from its pre-activation output.
    func output(_ pre: [Float]) -> [Float] {
        [Float](unsafeUninitializedCapacity: pre.count) { out, count in
            pre.withUnsafeBufferPointer { p in
                nonisolated(unsafe) let src = p.baseAddress!, dst = out.baseAddress!
                let n = p.count, chunk = 65_536
                parallelFor(tiles: (n + chunk - 1) / chunk, threads: threads) { k in
                    let start = k * chunk
                    quantizeOutput(src + start, count: Swift.min(chunk, n - start), into: dst + start)
                }
            }
            count = pre.count
        }
    }

    /// The layer's activation of `count` pre-activation values.
    func activate(_ pre: UnsafePointer<Float>, count n: Int, into out: UnsafeMutablePointer<Float>) {
        switch layer.activation {
        case .none: out.update(from: pre, count: n)
        case .relu: for i in 0..<n { out[i] = Activation.relu.apply(pre[i]) }
        case .relu6: for i in 0..<n { out[i] = Activation.relu6.apply(pre[i]) }
        case .leakyRelu(let alpha): for i in 0..<n { out[i] = Activation.leakyRelu(alpha: alpha).apply(pre[i]) }
        }
    }

    /// The float layer's output on one batch (the activation of its pre-activation value).
    func floatOutput(_ t: LayerTarget) -> [Float] {
        [Float](unsafeUninitializedCapacity: t.pre.count) { out, n in
            t.pre.withUnsafeBufferPointer { activate($0.baseAddress!, count: $0.count, into: out.baseAddress!) }
            n = t.pre.count
        }
    }

    /// The activation, then the output quantizer, of `count` pre-activation values.
    func quantizeOutput(_ pre: UnsafePointer<Float>, count n: Int, into out: UnsafeMutablePointer<Float>) {
        activate(pre, count: n, into: out)
        Pof2Quantizer(bitWidth: layer.output.bits, mode: .activation, narrowActivations: narrow)
            .quantize(UnsafePointer(out), count: n, position: layer.output.position, into: out)
    }

    /// A layer's error on the calibration data: the mean squared error of its quantized output
    /// against the float model's over all batches and over the validation batches (every fifth,
    /// which finetuning does not train on: with 100 calibration samples a layer's weights overfit),
    /// and the per-channel mean of the float minus the quantized pre-activation output.
    struct Error {
        var loss: Double
        var validation: Double
        var shift: [Double]
    }

    static func isValidation(_ batch: Int, of count: Int) -> Bool { count >= 5 && batch % 5 == 4 }

    /// One batch's sums: the squared error of the quantized output against the float output, and
    /// per channel the float minus the quantized pre-activation value. Rows are cut into fixed
    /// chunks (whatever the thread budget), each summing per channel in Double; the chunks' sums
    /// are added in chunk order, the channels' in channel order: the same bits at any -j.
    /// With `delta`, of `pre` plus `delta` per channel (the values are not kept).
    func errorSums(pre: [Float], target t: LayerTarget, delta: [Float]? = nil) -> (loss: Double, shift: [Double]) {
        let c = channels, rows = pre.count / c
        let rowsPerChunk = Swift.max(1, 16_384 / c), chunks = (rows + rowsPerChunk - 1) / rowsPerChunk
        var partial = [Double](repeating: 0, count: chunks * 2 * c)
        pre.withUnsafeBufferPointer { qp in t.pre.withUnsafeBufferPointer { fp in
            partial.withUnsafeMutableBufferPointer { sums in
                nonisolated(unsafe) let q = qp.baseAddress!, f = fp.baseAddress!, acc = sums.baseAddress!
                parallelFor(tiles: chunks, threads: threads) { k in
                    let r0 = k * rowsPerChunk, count = Swift.min(rowsPerChunk, rows - r0) * c, base = r0 * c
                    let y = UnsafeMutablePointer<Float>.allocate(capacity: 3 * count), o = y + count, shifted = o + count
                    defer { y.deallocate() }
                    var p = UnsafePointer(q + base)
                    if let delta {
                        for row in stride(from: 0, to: count, by: c) { for j in 0..<c { shifted[row + j] = p[row + j] + delta[j] } }
                        p = UnsafePointer(shifted)
                    }
                    quantizeOutput(p, count: count, into: y)
                    activate(f + base, count: count, into: o)
                    let loss = acc + k * 2 * c, shift = loss + c
                    for row in stride(from: 0, to: count, by: c) {
                        for j in 0..<c {
                            let d = Double(y[row + j]) - Double(o[row + j])
                            loss[j] += d * d
                            shift[j] += Double(f[base + row + j]) - Double(p[row + j])
                        }
                    }
                }
            }
        } }
        var loss = 0.0, shift = [Double](repeating: 0, count: c)
        for k in 0..<chunks {
            for j in 0..<c {
                loss += partial[k * 2 * c + j]
                shift[j] += partial[k * 2 * c + c + j]
            }
        }
        return (loss, shift)
    }

    /// The layer's quantized pre-activation output on every batch with the current parameters.
    func preActivations(_ inputs: [LayerBatch]) throws -> [[Float]] {
        let wq = quantizedWeights(), bq = quantizedBias()
        return try inputs.map { try preActivation($0, weights: wq, bias: bq) }
    }

    func evaluate(_ pres: [[Float]], targets: [LayerTarget], delta: [Float]? = nil) throws -> Error {
        var loss = 0.0, count = 0, held = 0.0, heldCount = 0
        var shift = [Double](repeating: 0, count: channels)
        var rows = 0
        for (b, (pre, t)) in zip(pres, targets).enumerated() {
            guard t.pre.count == pre.count else {
                throw FastFinetuner.Failure(message: "\(path): layer '\(layer.group.compute)': computed \(pre.count) values, the float model \(t.pre.count)")
            }
            let sums = errorSums(pre: pre, target: t, delta: delta)
            loss += sums.loss
            count += pre.count
            if Self.isValidation(b, of: pres.count) || pres.count < 5 {
                held += sums.loss
                heldCount += pre.count
            }
            for j in 0..<channels { shift[j] += sums.shift[j] }
            rows += pre.count / channels
        }
        return Error(loss: loss / Double(max(count, 1)), validation: held / Double(max(heldCount, 1)),
                     shift: shift.map { $0 / Double(max(rows, 1)) })
    }

    /// Bias correction, then fast finetuning, as `options` asks; `pres` ends as the layer's
    /// quantized pre-activation output with the parameters it keeps (what the next layers read).
    mutating func tune(inputs: [LayerBatch], targets: [LayerTarget], options: FinetuneOptions,
                       pres: inout [[Float]]) throws -> LayerFinetune {
        pres = try preActivations(inputs)
        let before = try evaluate(pres, targets: targets)
        var best = before
        var corrected = false
        if options.biasCorrection, let b = bias, let bqBefore = quantizedBias() {
            bias = zip(b, before.shift).map { Float(Double($0) + $1) }
            // The product is linear in the bias: the new output is the old plus the change of the
            // quantized bias per channel, to float rounding (no second pass over the data).
            let delta = zip(quantizedBias()!, bqBefore).map { $0 - $1 }
            let after = try evaluate(pres, targets: targets, delta: delta)
            if after.loss <= before.loss {
                best = after
                corrected = true
                let c = channels
                for b in pres.indices {
                    pres[b].withUnsafeMutableBufferPointer { p in
                        for row in stride(from: 0, to: p.count, by: c) { for j in 0..<c { p[row + j] += delta[j] } }
                    }
                }
            } else {
                bias = b
            }
        }
        var epochs = 0
        let trainingRows = try inputs.enumerated().filter { !Self.isValidation($0.offset, of: inputs.count) }.map {
            let g = try geometry($0.element.shape)
            return g.batch * g.outH * g.outW
        }.reduce(0, +)
        if options.fastFinetune, trainingRows >= options.rowsPerInput * fanIn {
            var adam = Adam(weights: weights.count, bias: bias?.count ?? 0)
            var bestParameters = (weights, bias)
            var changed = false
            var rate: Float = 1, setbacks = 0
            for _ in 0..<options.epochs {
                for (b, (x, t)) in zip(inputs, targets).enumerated() where !Self.isValidation(b, of: inputs.count) {
                    try step(x, target: floatOutput(t), adam: &adam, options: options, rate: rate)
                }
                epochs += 1
                let now = try evaluate(try preActivations(inputs), targets: targets)
                // Better on the held-out batches, and never worse than before on all of them.
                if now.validation < best.validation && now.loss <= before.loss {
                    best = now
                    bestParameters = (weights, bias)
                    changed = true
                    continue
                }
                (weights, bias) = bestParameters
                setbacks += 1
                if setbacks > options.setbacks { break }
                rate /= 2
                adam = Adam(weights: weights.count, bias: bias?.count ?? 0)
            }
            if changed { pres = try preActivations(inputs) }
        }
        func magnitude(_ shift: [Double]) -> Double { shift.map(Swift.abs).reduce(0, +) / Double(max(shift.count, 1)) }
        return LayerFinetune(layer: layer.group.compute, lossBefore: before.loss, lossAfter: best.loss,
                             meanErrorBefore: magnitude(before.shift), meanErrorAfter: magnitude(best.shift), epochs: epochs,
                             biasCorrected: corrected, trainingRows: trainingRows, fanIn: fanIn)
    }

    /// One Adam step on one batch: the gradient of the mean squared error of the quantized output,
    /// straight through the weight and bias quantizers, stopped where the activation or the output
    /// quantizer clips.
    mutating func step(_ x: LayerBatch, target t: [Float], adam: inout Adam, options: FinetuneOptions, rate: Float) throws {
        let wq = quantizedWeights(), bq = quantizedBias()
        let pre = try preActivation(x, weights: wq, bias: bq)
        let y = output(pre)
        let q = Pof2Quantizer(bitWidth: layer.output.bits, mode: .activation, narrowActivations: narrow)
        let step = Float(sign: .plus, exponent: -layer.output.position, significand: 1)
        let range = q.integerRange
        let lo = (range.lowerBound - 0.5) * step, hi = (range.upperBound + 0.5) * step
        let scale = 2 / Float(y.count)
        // d loss / d pre-activation: zero where the output quantizer clips, times the activation's slope.
        let activation = layer.activation
        let dPre = [Float](unsafeUninitializedCapacity: pre.count) { d, count in
            pre.withUnsafeBufferPointer { p in y.withUnsafeBufferPointer { yq in t.withUnsafeBufferPointer { tf in
                func fill(_ slope: (Float) -> Float) {
                    for i in 0..<p.count {
                        let a = activation.apply(p[i])
                        d[i] = a >= lo && a < hi ? slope(p[i]) * (scale * (yq[i] - tf[i])) : 0
                    }
                }
                switch activation {
                case .none: fill { _ in 1 }
                case .relu: fill { $0 > 0 ? 1 : 0 }
                case .relu6: fill { $0 > 0 && $0 < 6 ? 1 : 0 }
                case .leakyRelu(let alpha): fill { $0 >= 0 ? 1 : alpha }
                }
            } } }
            count = pre.count
        }
        var dw = [Float](repeating: 0, count: weights.count)
        let g = try geometry(x.shape)
        x.values.withUnsafeBufferPointer { xp in dPre.withUnsafeBufferPointer { dp in dw.withUnsafeMutableBufferPointer { wp in
            switch layer.kind {
            case .conv, .dense:
                Fast.conv2dFilterGradient(input: xp.baseAddress!, outputGradient: dp.baseAddress!, geometry: g, outC: channels,
                                          filterGradient: wp.baseAddress!, threads: threads)
            case .depthwise:
                Fast.depthwiseFilterGradient(input: xp.baseAddress!, outputGradient: dp.baseAddress!, multiplier: multiplier, geometry: g,
                                             filterGradient: wp.baseAddress!, threads: threads)
            }
        } } }
        adam.t += 1
        let weightStep = Float(sign: .plus, exponent: -weightPosition(), significand: 1)
        Adam.update(&weights, gradient: dw, m: &adam.mw, v: &adam.vw, t: adam.t, learningRate: options.weightRate * weightStep * rate)
        if var b = bias, let q = layer.bias {
            var db = [Float](repeating: 0, count: b.count)
            let c = channels
            dPre.withUnsafeBufferPointer { d in db.withUnsafeMutableBufferPointer { m in
                for row in stride(from: 0, to: d.count, by: c) { for j in 0..<c { m[j] += d[row + j] } }
            } }
            let biasStep = Float(sign: .plus, exponent: -q.position, significand: 1)
            Adam.update(&b, gradient: db, m: &adam.mb, v: &adam.vb, t: adam.t, learningRate: options.biasRate * biasStep * rate)
            bias = b
        }
    }
}

/// Adam's moments (Keras's defaults: beta1 0.9, beta2 0.999, epsilon 1e-7).
struct Adam {
    var mw: [Float], vw: [Float], mb: [Float], vb: [Float]
    var t = 0

    init(weights: Int, bias: Int) {
        mw = [Float](repeating: 0, count: weights)
        vw = mw
        mb = [Float](repeating: 0, count: bias)
        vb = mb
    }

    static func update(_ p: inout [Float], gradient g: [Float], m: inout [Float], v: inout [Float], t: Int, learningRate: Float) {
        let beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-7
        let c1 = 1 - Float(Foundation.pow(Double(beta1), Double(t))), c2 = 1 - Float(Foundation.pow(Double(beta2), Double(t)))
        for i in p.indices {
            m[i] = beta1 * m[i] + (1 - beta1) * g[i]
            v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i]
            p[i] -= learningRate * (m[i] / c1) / ((v[i] / c2).squareRoot() + epsilon)
        }
    }
}
