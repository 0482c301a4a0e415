import Foundation
import TensorFlowIO

/// The vendor's output file names, so existing scripts keep working.
///
/// A model given as a frozen graph produces `quantize_eval_model.pb` and `deploy_model.pb`; a model
/// built from a checkpoint produces `quantize_eval_model_<suffix>.pb` and `deploy_model_<suffix>.pb`
/// with suffix `<step>_<YYYYMMDDhhmmss>`: the step from the checkpoint's name and its save time
/// (UTC) as the training directory's state file records it. Never the wall clock: the same inputs
/// give the same names. A state file without save times (TF1's V1 Saver writes none) gives `<step>`.
public enum OutputNames {
    public static func suffix(for checkpoint: CheckpointLocation) -> String? {
        guard let step = checkpoint.step else { return nil }
        guard let seconds = checkpoint.timestamp else { return String(step) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMddHHmmss"
        return "\(step)_\(formatter.string(from: Date(timeIntervalSince1970: seconds)))"
    }

    public static func quantizeEvalModel(suffix: String?) -> String { name("quantize_eval_model", suffix) }
    public static func deployModel(suffix: String?) -> String { name("deploy_model", suffix) }
    /// The evaluation graph: variables (not frozen) with FixNeurons, as vai_q's QAT flow names it.
    public static func evalGraph(suffix: String?) -> String { name("quantize_eval_graph", suffix) }
    /// The stock-TensorFlow twin of the eval model (vaiq-build's own addition).
    public static func stockModel(suffix: String?) -> String { name("quantize_eval_model_tf", suffix) }
    public static let quantInfo = "quant_info.json"
    public static let metrics = "metrics.json"

    private static func name(_ base: String, _ suffix: String?) -> String {
        suffix.map { "\(base)_\($0).pb" } ?? "\(base).pb"
    }
}
