import Foundation
import TFProto
import Tensors

extension Tensorflow_DataType {
    /// The host dtype for this TensorFlow dtype (reference types map to their value type).
    public var hostDType: DType? {
        switch baseType {
        case .dtFloat: .float32
        case .dtDouble: .float64
        case .dtHalf: .float16
        case .dtBfloat16: .bfloat16
        case .dtInt8: .int8
        case .dtInt16: .int16
        case .dtInt32: .int32
        case .dtInt64: .int64
        case .dtUint8: .uint8
        case .dtUint16: .uint16
        case .dtUint32: .uint32
        case .dtUint64: .uint64
        case .dtBool: .bool
        default: nil
        }
    }

    /// `DT_FLOAT_REF` -> `DT_FLOAT`; value types are returned unchanged.
    public var baseType: Tensorflow_DataType {
        rawValue > 100 ? (Tensorflow_DataType(rawValue: rawValue - 100) ?? self) : self
    }

    /// TensorFlow's own name, e.g. `DT_FLOAT` (used in messages so users recognize it).
    /// Taken from the text format, the one public place SwiftProtobuf exposes enum names.
    public var tfName: String {
        var attr = Tensorflow_AttrValue()
        attr.type = self
        let text = attr.textFormatString()
        guard let colon = text.firstIndex(of: ":") else { return "DT_\(rawValue)" }
        return text[text.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public init(_ dtype: DType) {
        switch dtype {
        case .float32: self = .dtFloat
        case .float64: self = .dtDouble
        case .float16: self = .dtHalf
        case .bfloat16: self = .dtBfloat16
        case .int8: self = .dtInt8
        case .int16: self = .dtInt16
        case .int32: self = .dtInt32
        case .int64: self = .dtInt64
        case .uint8: self = .dtUint8
        case .uint16: self = .dtUint16
        case .uint32: self = .dtUint32
        case .uint64: self = .dtUint64
        case .bool: self = .dtBool
        }
    }
}

extension Tensorflow_TensorShapeProto {
    /// The dimensions, -1 for unknown ones; nil when the rank itself is unknown.
    public var dims: [Int]? { unknownRank ? nil : dim.map { Int($0.size) } }

    public init(dims: [Int]) {
        self.init()
        dim = dims.map { d in
            var dim = Tensorflow_TensorShapeProto.Dim()
            dim.size = Int64(d)
            return dim
        }
    }
}
