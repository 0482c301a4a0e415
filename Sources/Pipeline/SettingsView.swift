import BuildCore
import Manifest
import TensorFlowIO

/// One resolved field of a strategy or target as `vaiq-build show` prints it: its value, whether
/// it acts, and where the value was written.
public struct SettingLine: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable { case acting, notApplicable = "not applicable", documentation }
    public let field: String
    public let value: String
    public let status: Status
    public let reason: String?
    /// `file:line:column` of the value, nil for a default the definitions never set.
    public let origin: String?
}

/// The resolved settings of a strategy or target, each marked acting or not applicable.
public enum SettingsView {
    public static func strategy(_ spec: SettingsSpec) throws(Pipeline.Failure) -> [SettingLine] {
        let strategy: QuantizeStrategy
        do { strategy = try QuantizeStrategy(settings: spec.settings, origins: spec.origins) } catch {
            throw Pipeline.Failure(description: error.description)
        }
        var lines = StrategyField.all.map { field -> SettingLine in
            let inert = field.inert(strategy)
            return SettingLine(field: field.name, value: yamlText(field.value(of: strategy)), status: inert == nil ? .acting : .notApplicable,
                               reason: inert?.reason, origin: spec.origins[field.name]?.description)
        }
        if case .string(let text)? = spec.settings["description"] {
            lines.append(SettingLine(field: "description", value: text, status: .documentation, reason: nil, origin: spec.origins["description"]?.description))
        }
        return lines
    }

    public static func target(_ spec: SettingsSpec) throws(Pipeline.Failure) -> [SettingLine] {
        let target: DPUTarget
        do { target = try DPUTarget(name: spec.name, settings: spec.settings, origins: spec.origins, knownOps: TFOp.dpuOpNames) } catch {
            throw Pipeline.Failure(description: error.description)
        }
        func line(_ field: String, _ value: String, _ status: SettingLine.Status, _ reason: String?) -> SettingLine {
            SettingLine(field: field, value: value, status: status, reason: reason, origin: spec.origins[field]?.description)
        }
        return [
            line("arch_type", target.archType.rawValue, .acting,
                 target.narrowActivations ? "activations saturate at [-127, 127]" : "activations saturate at [-128, 127]"),
            line("deploy_format", "deploy_model", .acting, "power-of-two cells write deploy_model.pb"),
            line("supported_ops", "[" + target.supportedOps.joined(separator: ", ") + "]", .acting, "inspect --target marks the nodes the DPU runs"),
            line("accepts", "{" + ObjectBlock.objects.compactMap { object in
                target.accepts[object].map { "\(object): \($0.schemes.joined(separator: "|")) \(DPUTarget.ranges($0.bitWidths))" }
            }.joined(separator: ", ") + "}", .acting, "a build cell asking for another scheme or bit width is refused at load"),
            line("fingerprint", "\"\"", .notApplicable, "the compiler sets the fingerprint of the xmodel it writes"),
            line("description", target.description, .documentation, nil),
        ]
    }
}
