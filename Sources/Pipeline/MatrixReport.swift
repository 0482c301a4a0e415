import BuildCore
import FileIO
import Foundation
import PTQ

/// One row per matrix cell of the last build: what `vaiq-build report` prints and writes.
public struct ReportRow: Codable, Equatable, Sendable {
    public let cell: String
    public let model: String
    public let strategy: String
    public let target: String
    public let weightBit: Int
    public let activationBit: Int
    /// The evaluation set's metric (top1 or top5): what `floatAccuracy` and `quantizedAccuracy` show.
    public let metric: String?
    public let floatAccuracy: Double?
    public let quantizedAccuracy: Double?
    public let floatTop1: Double?
    public let quantizedTop1: Double?
    public let quantizedTop5: Double?
    public let sqnrDB: Double?
    public let evalModelBytes: Int?
    public let deployModelBytes: Int?
    /// Stage kind -> seconds it took when it last ran, and whether the last build ran or reused it.
    public let stageSeconds: [String: Double]
    public let stageOutcome: [String: String]
}

/// Collects the report from what the stages declared: each cell's job names the paths of its
/// metrics, models and deploy model, and its stages; a stray file under `build/` is never read.
public enum MatrixReport {
    public static func rows(_ pipeline: Pipeline) -> [ReportRow] {
        let log = BuildLog.load(pipeline.root)
        let byID = Dictionary(uniqueKeysWithValues: pipeline.stages.map { ($0.id, $0) })
        return pipeline.manifest.cells.compactMap { cell -> ReportRow? in
            guard let job = pipeline.jobs[cell.name] else { return nil }
            let chain = job.chain
            func declared(_ kind: String, _ output: String) -> String? {
                chain.outputs.first { byID[$0.stage]?.kind == kind && $0.output == output }.map { FileIO.resolve($0.path, relativeTo: pipeline.root) }
            }
            let metrics = declared(EvaluateStage.kind, EvaluateStage.metrics)
                .flatMap { try? FileIO.read($0) }.flatMap { try? JSONDecoder().decode(EvaluationMetrics.self, from: Data($0)) }
            let metric = cell.evaluation.flatMap { pipeline.manifest.evaluations[$0]?.metric }
            var seconds: [String: Double] = [:], outcome: [String: String] = [:]
            for stage in chain.stages {
                guard let entry = log.stages[stage.id.rawValue] else { continue }
                let kind = byID[stage.id]?.kind ?? stage.kind
                seconds[kind] = entry.seconds
                outcome[kind] = entry.outcome
            }
            let top5 = metric == "top5"
            return ReportRow(cell: cell.name, model: cell.model, strategy: cell.strategyName, target: cell.target,
                             weightBit: job.strategy.weightBit, activationBit: job.strategy.activationBit, metric: metric,
                             floatAccuracy: metrics.map { top5 ? $0.floatTop5 : $0.floatTop1 },
                             quantizedAccuracy: metrics.map { top5 ? $0.quantizedTop5 : $0.quantizedTop1 },
                             floatTop1: metrics?.floatTop1, quantizedTop1: metrics?.quantizedTop1, quantizedTop5: metrics?.quantizedTop5,
                             sqnrDB: metrics?.sqnrDB, evalModelBytes: declared(QuantizeStage.kind, QuantizeStage.evalModel).flatMap(FileIO.size),
                             deployModelBytes: declared(DeployStage.kind, DeployStage.deployModel).flatMap(FileIO.size),
                             stageSeconds: seconds, stageOutcome: outcome)
        }
    }
}
