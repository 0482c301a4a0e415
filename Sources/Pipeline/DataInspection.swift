import BuildCore
import FileIO
import Foundation
import GraphIR
import Manifest
import PTQ
import Runtime
import TFProto
import TensorFlowIO
import Tensors

/// What a calibration or evaluation set feeds a model, as the build prepares it: per input the
/// array's shape, per-channel statistics and a few pixel values, and warnings when the data
/// looks prepared for another model — the model agrees better with the channels reversed, or
/// the values are unnormalized for a graph that does not normalize them itself.
public struct DataInspection: Sendable {
    public struct Channel: Sendable {
        public let mean: Double
        public let std: Double
        public let min: Float
        public let max: Float
    }

    public struct Sample: Sendable {
        /// "top-left", "center", "bottom-right"
        public let place: String
        public let values: [Float]
    }

    public struct Input: Sendable {
        public let node: String
        /// Where the rows come from: the `.npy` path, or the images' folder and preprocessing.
        public let source: String
        public let shape: [Int]
        public let channels: [Channel]
        /// Pixels of the first row (image inputs of rank 4).
        public let firstRow: String?
        public let samples: [Sample]
    }

    /// How a model answers the set as declared and with the channels reversed.
    public struct ChannelCheck: Sendable {
        public let model: String
        public let rows: Int
        public let confidence: (declared: Double, reversed: Double)
        public let accuracy: (declared: Double, reversed: Double)?
    }

    public let set: String
    public let section: String
    public var inputs: [Input] = []
    public var checks: [ChannelCheck] = []
    public var warnings: [String] = []
}

extension Pipeline {
    /// Inspects a set (`NAME`, `calibration/NAME` or `evaluation/NAME`): builds what it needs
    /// (the prepare stages of its image inputs, the frozen graph of every model a build feeds it
    /// to) in `cache`, then measures.
    public func inspectData(_ name: String, cache: BuildCache, threads: Int, rows: Int = 64) throws(Failure) -> DataInspection {
        let (section, set, inputs, labels, location) = try dataSet(name)
        var stages: [StageID: any Stage] = Dictionary(uniqueKeysWithValues: self.stages.map { ($0.id, $0) })
        let limit = section == "calibration" ? manifest.calibrations[set].map { $0.batchSize * $0.calibIter } : nil
        let sources = Self.inputs(inputs, section: section, set: set, limit: limit, labels: labels, stages: &stages)
        // The models a build feeds this set to, and their float graphs.
        let users = jobs.values.filter { section == "calibration" ? $0.calibration.name == set : $0.evaluation?.data.name == set }
        var models: [String: QuantizeJob] = [:]
        for job in users.sorted(by: { $0.name < $1.name }) where models[job.model.name] == nil { models[job.model.name] = job }
        var needed: [StageID] = []
        for input in sources.values { if case .output(let id, _) = input { needed.append(id) } }
        if case .folders? = labels, case .output(let id, _)? = sources.values.first(where: { if case .output = $0 { true } else { false } }) {
            needed.append(id)
        }
        for job in models.values { if case .output(let id, _) = job.model.graph { needed.append(id) } }
        let report: BuildReport
        do {
            let session = try BuildSession(root: root, stages: stages.keys.sorted().map { stages[$0]! }, cache: cache)
            report = try session.build([BuildTarget(name: "inspect-data", stages: Array(Set(needed)).sorted(), outputs: [])],
                                       options: BuildOptions(jobs: threads)).report
        } catch { throw Failure(description: "\(error)") }
        if let failed = report.outcomes.sorted(by: { $0.key < $1.key }).first(where: { if case .failed = $0.value { true } else { false } }),
           case .failed(let message) = failed.value {
            throw Failure(description: report.errors[failed.key] ?? message)
        }
        func path(_ input: StageInput) throws(Failure) -> String {
            switch input {
            case .file(let file): return FileIO.resolve(file, relativeTo: root)
            case .output(let id, let output):
                guard let digest = report.outputs[id]?[output] else { throw Failure(description: "\(id) did not produce \(output)") }
                return cache.objectPath(digest)
            }
        }
        var result = DataInspection(set: set, section: section)
        var arrays: [String: Tensor] = [:]
        // Each model's float graph, read once for both checks.
        var graphs: [String: Tensorflow_GraphDef] = [:]
        func floatGraph(_ model: String, _ job: QuantizeJob) throws -> Tensorflow_GraphDef {
            if let known = graphs[model] { return known }
            let read = try GraphDefIO.read(try path(job.model.graph))
            graphs[model] = read
            return read
        }
        do {
            for node in sources.keys.sorted() {
                let file = try path(sources[node]!)
                let tensor = try NPY.decode(try FileIO.read(file), name: file)
                arrays[node] = tensor
                let description: String
                switch inputs[node]! {
                case .array(let p): description = p
                case .images(let images):
                    description = "\(images.files.count) images under \(images.directory)"
                        + (images.glob.isEmpty ? "" : " (\(images.glob))") + ", " + Self.describe(images.preprocess)
                }
                result.inputs.append(Self.measure(node: node, source: description, tensor))
                // Unnormalized values into a graph that does not scale its input itself.
                let stats = result.inputs.last!.channels
                if let high = stats.map(\.max).max(), high > 2.5, Self.declaresNoNormalization(inputs[node]!) {
                    for (model, job) in models.sorted(by: { $0.key < $1.key }) {
                        let graph = try floatGraph(model, job)
                        if !Self.normalizesInput(graph, node: node) {
                            result.warnings.append("\(section) '\(set)', input '\(node)': values reach \(Self.number(Double(high))) and no normalization "
                                                   + "is declared, but model '\(model)' feeds '\(node)' straight into "
                                                   + "\(Self.consumers(graph, node: node).joined(separator: ", ")): most models expect normalized input "
                                                   + "(preprocess: preset tf, caffe or torch, or mean/std) — check how the model was trained (\(location))")
                        }
                    }
                }
            }
            // The other sets the same cells read should be prepared alike: calibrating on one
            // preprocessing and measuring on another measures neither.
            var compared: Set<String> = []
            for job in users.sorted(by: { $0.name < $1.name }) {
                let other: (String, String, [String: InputSource])? = section == "calibration"
                    ? job.evaluation.flatMap { e in manifest.evaluations[e.data.name].map { ("evaluation", $0.name, $0.inputs) } }
                    : manifest.calibrations[job.calibration.name].map { ("calibration", $0.name, $0.inputs) }
                guard let (otherSection, otherName, otherInputs) = other else { continue }
                for node in inputs.keys.sorted() {
                    guard case .images(let mine)? = inputs[node], case .images(let theirs)? = otherInputs[node],
                          Self.describe(mine.preprocess) != Self.describe(theirs.preprocess),
                          compared.insert("\(otherSection)/\(otherName)/\(node)").inserted else { continue }
                    let line = "\(section) '\(set)' and \(otherSection) '\(otherName)' (both read by \(job.name)) preprocess input '\(node)' "
                        + "differently: \(Self.describe(mine.preprocess)) (\(mine.preprocess.location)) vs \(Self.describe(theirs.preprocess)) "
                        + "(\(theirs.preprocess.location))"
                    result.warnings.append(line)
                }
            }
            // Channel order: the model's answers on the rows as declared and reversed.
            let reversible = arrays.filter { $0.value.shape.count == 4 && $0.value.shape[3] == 3 }
            if !reversible.isEmpty {
                var labelValues: [Int]? = nil
                if let labels {
                    let file: String
                    switch labels {
                    case .file(let p): file = FileIO.resolve(p, relativeTo: root)
                    case .folders:
                        let id = sources.values.compactMap { if case .output(let id, _) = $0 { id } else { nil } }.first!
                        file = try path(.output(id, PrepareStage.labels))
                    }
                    labelValues = try NPY.decode(try FileIO.read(file), name: file).floatValues().map { Int($0) }
                }
                for (model, job) in models.sorted(by: { $0.key < $1.key }) {
                    guard Set(job.model.inputNodes) == Set(arrays.keys) else { continue }
                    let graph = try floatGraph(model, job)
                    let output = job.evaluation?.output ?? job.model.outputNodes[0]
                    let check = try Self.channelCheck(graph, model: model, output: output, arrays: arrays, reversed: Set(reversible.keys),
                                                      labels: labelValues, rows: rows, threads: threads)
                    result.checks.append(check)
                    let declaredOrder = inputs.values.compactMap { if case .images(let i) = $0 { i.preprocess } else { nil } }.first
                    let order = declaredOrder.map { $0.preset == "caffe" ? "bgr (preset caffe)" : $0.channelOrder } ?? "as stored"
                    let better: Bool
                    if let accuracy = check.accuracy {
                        better = accuracy.reversed >= accuracy.declared + 0.10
                    } else {
                        better = check.confidence.reversed >= check.confidence.declared + 0.10
                    }
                    if better {
                        var line = "\(section) '\(set)': model '\(model)' agrees better with the channels reversed"
                        if let accuracy = check.accuracy {
                            line += ": top-1 \(Self.percent(accuracy.declared)) as declared (\(order)) vs \(Self.percent(accuracy.reversed)) reversed"
                            line += ", mean top-1 probability \(Self.number(check.confidence.declared)) vs \(Self.number(check.confidence.reversed))"
                        } else {
                            line += ": mean top-1 probability \(Self.number(check.confidence.declared)) as declared (\(order)) vs "
                                + "\(Self.number(check.confidence.reversed)) reversed"
                        }
                        line += " on \(check.rows) rows — check channel_order (\(declaredOrder.map { "\($0.location)" } ?? "\(location)"))"
                        result.warnings.append(line)
                    }
                }
            }
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(description: "\(error)")
        }
        return result
    }

    /// The set's section, name, inputs, labels and definition place.
    private func dataSet(_ name: String) throws(Failure)
        -> (String, String, [String: InputSource], LabelSource?, SourceLocation) {
        var section: String? = nil
        var set = name
        for prefix in ["calibration", "evaluation"] where name.hasPrefix(prefix + "/") {
            section = prefix
            set = String(name.dropFirst(prefix.count + 1))
        }
        let calibration = section != "evaluation" ? manifest.calibrations[set] : nil
        let evaluation = section != "calibration" ? manifest.evaluations[set] : nil
        if let calibration, let evaluation {
            throw Failure(description: "'\(name)' is a calibration set (\(calibration.location)) and an evaluation set (\(evaluation.location)); "
                          + "name one as calibration/\(set) or evaluation/\(set)")
        }
        if let calibration { return ("calibration", set, calibration.inputs, nil, calibration.location) }
        if let evaluation { return ("evaluation", set, evaluation.inputs, evaluation.labels, evaluation.location) }
        let known = manifest.calibrations.keys.map { "calibration/\($0)" } + manifest.evaluations.keys.map { "evaluation/\($0)" }
        throw Failure(description: "no calibration or evaluation set '\(name)'"
                      + (known.isEmpty ? "; the manifests define none" : "; sets: " + known.sorted().joined(separator: ", ")))
    }

    static func describe(_ p: PreprocessSpec) -> String {
        var parts: [String] = []
        if let n = p.resizeShorter { parts.append("resize_shorter \(n)") }
        if let s = p.resize { parts.append("resize \(s[0])x\(s[1])") }
        if let c = p.centerCrop { parts.append("center_crop \(c[0])x\(c[1])") }
        if let preset = p.preset { parts.append("preset \(preset)") } else {
            parts.append(p.channelOrder)
            if !p.mean.isEmpty { parts.append("mean \(p.mean.map { number($0) }.joined(separator: "/"))") }
            if !p.std.isEmpty { parts.append("std \(p.std.map { number($0) }.joined(separator: "/"))") }
            if let s = p.scale { parts.append("scale \(number(s))") }
        }
        return parts.joined(separator: ", ")
    }

    static func declaresNoNormalization(_ source: InputSource) -> Bool {
        switch source {
        case .array: true
        case .images(let images): images.preprocess.preset == nil && images.preprocess.mean.isEmpty && images.preprocess.std.isEmpty
            && images.preprocess.scale == nil
        }
    }

    /// The ops reading `node` (through Identity), by op name.
    static func consumers(_ graph: Tensorflow_GraphDef, node: String) -> [String] {
        var names: Set<String> = [node]
        var ops: [String] = []
        var changed = true
        while changed {
            changed = false
            for n in graph.node where !names.contains(n.name) && n.input.contains(where: { names.contains(String($0.split(separator: ":")[0])) }) {
                if n.tfOp == .identity { names.insert(n.name); changed = true } else if !ops.contains(n.op) { ops.append(n.op) }
            }
        }
        return ops.sorted()
    }

    /// Whether the graph scales its input itself (a Keras Rescaling or Normalization layer: the
    /// input's first consumer is arithmetic, not a convolution or a matrix product).
    public static func normalizesInput(_ graph: Tensorflow_GraphDef, node: String) -> Bool {
        let arithmetic: Set<TFOp> = [.mul, .sub, .realDiv, .div, .add, .addV2, .cast, .maximum, .minimum, .biasAdd]
        let ops = consumers(graph, node: node)
        return !ops.isEmpty && ops.allSatisfy { TFOp(rawValue: $0).map(arithmetic.contains) ?? false }
    }

    static func measure(node: String, source: String, _ tensor: Tensor) -> DataInspection.Input {
        let values = tensor.floatValues()
        let channels = tensor.shape.count == 4 ? tensor.shape[3] : 1
        var stats: [DataInspection.Channel] = []
        for c in 0..<channels {
            var sum = 0.0, squares = 0.0, lo = Float.infinity, hi = -Float.infinity, count = 0
            var i = c
            while i < values.count {
                let v = values[i]
                sum += Double(v)
                squares += Double(v) * Double(v)
                lo = Swift.min(lo, v)
                hi = Swift.max(hi, v)
                count += 1
                i += channels
            }
            let mean = count > 0 ? sum / Double(count) : 0
            stats.append(.init(mean: mean, std: count > 0 ? (Swift.max(0, squares / Double(count) - mean * mean)).squareRoot() : 0, min: lo, max: hi))
        }
        var samples: [DataInspection.Sample] = []
        if tensor.shape.count == 4, tensor.shape[0] > 0 {
            let h = tensor.shape[1], w = tensor.shape[2]
            for (place, y, x) in [("top-left", 0, 0), ("center", h / 2, w / 2), ("bottom-right", h - 1, w - 1)] {
                let start = (y * w + x) * channels
                samples.append(.init(place: "\(place) (\(y),\(x))", values: Array(values[start..<start + channels])))
            }
        }
        return .init(node: node, source: source, shape: tensor.shape, channels: stats, firstRow: nil, samples: samples)
    }

    /// Runs the float graph on up to `rows` rows as declared and with the channels of `reversed`
    /// inputs reversed; the mean top-1 probability (softmax of the output unless it already is a
    /// distribution) and, with labels, the top-1 accuracy of each.
    static func channelCheck(_ graph: Tensorflow_GraphDef, model: String, output: String, arrays: [String: Tensor], reversed: Set<String>,
                             labels: [Int]?, rows: Int, threads: Int) throws -> DataInspection.ChannelCheck {
        // Rows spread over the set (sorted image sets hold one class after another).
        let total = arrays.values.map { $0.shape[0] }.min() ?? 0
        let n = Swift.min(rows, total)
        let picks = (0..<n).map { $0 * total / Swift.max(n, 1) }
        let imported = try GraphImporter.importGraph(graph, outputs: [output], path: "model '\(model)'")
        let runtime = Runtime(graph: imported.graph, outputs: [(output, imported.outputs[0])])
        func run(_ reverse: Bool) throws -> (confidence: Double, accuracy: Double?) {
            var feeds: [String: Tensor] = [:]
            for (node, tensor) in arrays {
                let all = tensor.floatValues(), width = tensor.shape.dropFirst().reduce(1, *)
                var values: [Float] = []
                values.reserveCapacity(n * width)
                for r in picks { values += all[r * width..<(r + 1) * width] }
                if reverse && reversed.contains(node) {
                    var i = 0
                    while i + 2 < values.count { values.swapAt(i, i + 2); i += 3 }
                }
                feeds[node] = Tensor(values, shape: [n] + tensor.shape.dropFirst())
            }
            let out = try runtime.run(feeds, threads: threads)[0].tensor
            let v = out.floatValues()
            let k = n > 0 ? v.count / n : 0
            var confidence = 0.0, correct = 0
            for r in 0..<n {
                let row = Array(v[r * k..<(r + 1) * k])
                let isDistribution = row.allSatisfy { $0 >= 0 } && abs(row.reduce(0, +) - 1) < 1e-3
                let top = row.indices.max { row[$0] < row[$1] } ?? 0
                if isDistribution { confidence += Double(row[top]) } else {
                    let m = row[top]
                    let sum = row.reduce(0.0) { $0 + exp(Double($1 - m)) }
                    confidence += 1 / sum
                }
                if let labels, picks[r] < labels.count, labels[picks[r]] == top { correct += 1 }
            }
            return (n > 0 ? confidence / Double(n) : 0, labels.map { _ in n > 0 ? Double(correct) / Double(n) : 0 })
        }
        let declared = try run(false), swapped = try run(true)
        return .init(model: model, rows: n, confidence: (declared.confidence, swapped.confidence),
                     accuracy: declared.accuracy.map { ($0, swapped.accuracy!) })
    }

    static func number(_ v: Double) -> String {
        String(format: "%.4g", v)
    }

    static func percent(_ v: Double) -> String { String(format: "%.1f%%", v * 100) }
}
