import BuildCore
import FileIO
import PTQ
import TFProto
import TensorFlowIO
import Tensors

extension Pipeline {
    /// `vaiq-build report --layers CELL`: the cell's built `quantize_eval_model.pb` and
    /// `quant_info.json` run against their float twin on the cell's evaluation set (at most
    /// `rows` rows, in batches of at most 8 so that every activation of a batch fits in memory).
    /// A cell with bias correction or fast finetuning is measured against the float model before
    /// tuning (the optimized graph in `cache`), as its metrics.json is.
    public func layerAnalysis(cell: String, sweep: Int, rows: Int, threads: Int, cache: BuildCache) throws(Failure) -> LayerAnalysis {
        guard let job = jobs[cell] else {
            throw Failure(description: "no matrix cell named '\(cell)'; `vaiq-build targets` lists them")
        }
        guard !job.strategy.scheme.isFloatScale else {
            throw Failure(description: "cell '\(cell)': the layer report reads FixNeurons; \(job.strategy.scheme.rawValue) models have none")
        }
        guard let evaluation = job.evaluation else {
            throw Failure(description: "cell '\(cell)' has no evaluation set: the layer report runs the model on one (add `evaluation:` to its build)")
        }
        let outputs = job.chain.outputs
        func built(_ output: String) throws(Failure) -> String {
            let path = FileIO.resolve(outputs.first { $0.output == output }!.path, relativeTo: root)
            guard FileIO.exists(path) else {
                throw Failure(description: "\(path) does not exist: build the cell first (`vaiq-build \(cell)`)")
            }
            return path
        }
        do {
            let modelPath = try built(QuantizeStage.evalModel), planPath = try built(QuantizeStage.quantInfo)
            let plan = try StageIO.decode(QuantizePlan.self, planPath)
            let batchSize = max(1, min(8, evaluation.data.batchSize))
            // A file is read where it is; a prepare stage's array from the cache (its last record).
            func path(_ input: StageInput) throws(Failure) -> String {
                switch input {
                case .file(let file): return FileIO.resolve(file, relativeTo: root)
                case .output(let stage, let name):
                    guard let digest = cache.lastRecord(of: stage)?.outputs[name], cache.hasObject(digest),
                          let path = try? cache.verifiedObjectPath(digest) else {
                        throw Failure(description: "cell '\(cell)': the evaluation's prepared images (\(stage)) are not in the cache \(cache.root): build the cell first (`vaiq-build \(cell)`)")
                    }
                    return path
                }
            }
            var inputs: [String: String] = [:]
            for (node, input) in evaluation.data.inputs { inputs[StageIO.dataPrefix + node] = try path(input) }
            let batches = try StageIO.batches(inputs, batchSize: batchSize, iterations: (rows + batchSize - 1) / batchSize, allowPartial: true)
            let labelsPath = try path(evaluation.labels)
            let labels = try Evaluator.labels(try NPY.decode(try FileIO.read(labelsPath), name: labelsPath), path: labelsPath, rows: nil)
            let model = try Optimizer.cut(try GraphDefIO.read(modelPath), inputs: job.model.inputNodes, outputs: job.model.outputNodes,
                                          path: modelPath)
            // A tuned cell's eval model holds tuned weights and biases: its float reference takes
            // those of the optimized graph they were tuned from (optimize's last output in the cache).
            var original: Tensorflow_GraphDef? = nil
            if job.strategy.finetunes {
                guard let optimize = job.chain.stages.first(where: { $0 is OptimizeStage }),
                      let digest = cache.lastRecord(of: optimize.id)?.outputs[OptimizeStage.optimizedGraph],
                      cache.hasObject(digest) else {
                    throw Failure(description: "cell '\(cell)': its optimized graph is not in the cache \(cache.root): build the cell first (`vaiq-build \(cell)`)")
                }
                original = try GraphDefIO.read(try cache.verifiedObjectPath(digest))
            }
            return try LayerAnalyzer.analyze(evalModel: model, plan: plan, outputNodes: job.model.outputNodes, batches: batches,
                                             labels: labels, sweep: sweep, narrowActivations: job.target.narrowActivations,
                                             threads: threads, path: modelPath, originalConstants: original)
        } catch let error as Failure {
            throw error
        } catch {
            throw Failure(description: "\(error)")
        }
    }
}
