import Manifest

/// One thing a strategy asks of a target: an object (`weight`, `bias`, `activation`) in a scheme
/// (`pof2s`, `fs`, or `float` when it stays unquantized), at a bit width (nil for `float`), and
/// the strategy field that asks for it.
public struct ObjectDemand: Sendable, Equatable {
    public let object: String
    public let scheme: String
    public let bits: Int?
    public let field: String
    /// The field that chose the scheme (nil: the same as `field`).
    public var schemeField: String? = nil
    /// Set for `nodes_bit`: the node may be a layer's weights or an activation.
    public var eitherObject = false
}

extension QuantizeStrategy {
    /// Every (object, scheme, bit width) the strategy quantizes to, with the field that sets it:
    /// the defaults, each `layers:` override and each `nodes_bit` value.
    public var objectDemands: [ObjectDemand] {
        if scheme.isFloatScale {
            return [ObjectDemand(object: "weight", scheme: weightScheme.rawValue, bits: weightBit, field: "weight_bit",
                                 schemeField: weightQuantizer.scheme == nil ? "quantize_scheme" : "weight"),
                    ObjectDemand(object: "bias", scheme: "float", bits: nil, field: "quantize_scheme"),
                    ObjectDemand(object: "activation", scheme: "fs", bits: activationBit, field: "activation_bit", schemeField: "quantize_scheme")]
        }
        var out = [ObjectDemand(object: "weight", scheme: "pof2s", bits: weightBit, field: "weight_bit"),
                   biasBit == 0 ? ObjectDemand(object: "bias", scheme: "pof2s", bits: weightBit, field: "weight_bit")
                                : ObjectDemand(object: "bias", scheme: "pof2s", bits: biasBit, field: "bias_bit"),
                   ObjectDemand(object: "activation", scheme: "pof2s", bits: activationBit, field: "activation_bit")]
        for (op, l) in layers.sorted(by: { $0.key < $1.key }) {
            if let b = l.weightBit { out.append(ObjectDemand(object: "weight", scheme: "pof2s", bits: b, field: "layers: \(op): weight")) }
            if let b = l.biasBit { out.append(ObjectDemand(object: "bias", scheme: "pof2s", bits: b, field: "layers: \(op): bias")) }
            if let b = l.activationBit { out.append(ObjectDemand(object: "activation", scheme: "pof2s", bits: b, field: "layers: \(op): activation")) }
        }
        for (node, b) in nodesBit.sorted(by: { $0.key < $1.key }) {
            var d = ObjectDemand(object: "weight", scheme: "pof2s", bits: b, field: "nodes_bit: \(node)")
            d.eitherObject = true
            out.append(d)
        }
        return out
    }
}

extension DPUTarget {
    /// Why the target cannot run `strategy` (nil: it can): the first demand it does not accept.
    /// `place(field)` says where a top-level strategy field was written.
    public func refusal(of strategy: QuantizeStrategy, place: (String) -> String) -> String? {
        for demand in strategy.objectDemands {
            let objects = demand.eitherObject ? ["weight", "activation"] : [demand.object]
            let accepted = objects.compactMap { accepts[$0] }
            guard !accepted.isEmpty else { continue }
            func origin(_ name: String) -> String {
                "\(name) at \(place(name.split(separator: ":").first.map(String.init) ?? name))"
            }
            let noun = demand.eitherObject ? "weights or activations" : demand.object == "bias" ? "biases" : "\(demand.object)s"
            if !accepted.contains(where: { $0.schemes.contains(demand.scheme) }) {
                let origin = origin(demand.schemeField ?? demand.field)
                let runs = Array(Set(accepted.flatMap(\.schemes))).sorted().joined(separator: " or ")
                let why = demand.scheme == "float" ? "leaves \(noun) float" : "quantizes \(noun) with scheme \(demand.scheme)"
                return "target '\(name)' runs \(noun) of scheme \(runs) only; the strategy \(why) (\(origin))"
                    + (demand.scheme == "fs" || demand.scheme == "float" ? "; float scales need a target with floating-point support, such as cpu" : "")
            }
            if let bits = demand.bits, !accepted.contains(where: { $0.bitWidths.contains(bits) }) {
                let origin = origin(demand.field)
                let widths = Array(Set(accepted.flatMap(\.bitWidths))).sorted()
                return "target '\(name)' runs \(widths.count == 1 ? "\(widths[0])-bit" : "bit widths \(Self.ranges(widths))") \(noun) only; "
                    + "the strategy quantizes \(noun) to \(bits) bits (\(origin))"
                    + (demand.scheme == "pof2s" ? "; the target dpu-sim simulates power-of-two quantization at any width" : "")
            }
        }
        return nil
    }

    /// `[2, 3, 4, 8]` as "2-4, 8".
    static func ranges(_ values: [Int]) -> String {
        var parts: [String] = []
        var i = 0
        while i < values.count {
            var j = i
            while j + 1 < values.count && values[j + 1] == values[j] + 1 { j += 1 }
            parts.append(i == j ? "\(values[i])" : "\(values[i])-\(values[j])")
            i = j + 1
        }
        return parts.joined(separator: ", ")
    }
}
