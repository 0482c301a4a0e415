import TFProto
import Tensors

/// Conversions between TensorFlow's `TensorProto` and host `Tensor`s.
///
/// A TensorProto holds its values either as raw little-endian bytes (`tensor_content`) or in the
/// typed repeated field for its dtype. In the typed form TensorFlow accepts fewer values than
/// elements: none means all zeros, and otherwise the last value is repeated to fill the shape
/// (this is how `tf.constant(1.0, shape=[3, 4])` is stored). We decode exactly that way.
public enum TensorProtoCodec {
    /// Decodes `proto`; `context` (usually the node name) prefixes every error.
    public static func decode(_ proto: Tensorflow_TensorProto, context: String) throws(TensorFlowIOError) -> Tensor {
        guard let dtype = proto.dtype.hostDType else {
            throw .unsupportedDType(context: context, dtype: proto.dtype.tfName)
        }
        guard let dims = proto.tensorShape.dims, dims.allSatisfy({ $0 >= 0 }) else {
            throw .malformedTensor(context: context, reason: "shape is not fully known")
        }
        guard Tensor.byteCount(dims, dtype) != nil else {
            throw .malformedTensor(context: context, reason: "shape \(dims) is too large")
        }
        let count = Tensor.elementCount(dims)
        let bytes: [UInt8]
        if !proto.tensorContent.isEmpty {
            bytes = [UInt8](proto.tensorContent)
        } else {
            bytes = try typedBytes(proto, dtype: dtype, count: count, context: context)
        }
        do {
            return try Tensor(dtype: dtype, shape: dims, bytes: bytes)
        } catch {
            throw .malformedTensor(context: context, reason: "tensor_content: \(error)")
        }
    }

    /// Encodes `tensor` with `tensor_content` (compact and exact for every numeric dtype).
    public static func encode(_ tensor: Tensor) -> Tensorflow_TensorProto {
        var proto = Tensorflow_TensorProto()
        proto.dtype = Tensorflow_DataType(tensor.dtype)
        proto.tensorShape = Tensorflow_TensorShapeProto(dims: tensor.shape)
        proto.tensorContent = .init(tensor.bytes)
        return proto
    }

    private static func typedBytes(_ p: Tensorflow_TensorProto, dtype: DType, count: Int,
                                   context: String) throws(TensorFlowIOError) -> [UInt8] {
        switch dtype {
        case .float32: return try fill(p.floatVal, count, context)
        case .float64: return try fill(p.doubleVal, count, context)
        case .int32: return try fill(p.intVal, count, context)
        case .int16: return try fill(p.intVal.map { Int16(truncatingIfNeeded: $0) }, count, context)
        case .int8: return try fill(p.intVal.map { Int8(truncatingIfNeeded: $0) }, count, context)
        case .uint8: return try fill(p.intVal.map { UInt8(truncatingIfNeeded: $0) }, count, context)
        case .uint16: return try fill(p.intVal.map { UInt16(truncatingIfNeeded: $0) }, count, context)
        case .int64: return try fill(p.int64Val, count, context)
        case .uint32: return try fill(p.uint32Val, count, context)
        case .uint64: return try fill(p.uint64Val, count, context)
        case .bool: return try fill(p.boolVal.map { UInt8($0 ? 1 : 0) }, count, context)
        case .float16, .bfloat16: return try fill(p.halfVal.map { UInt16(truncatingIfNeeded: $0) }, count, context)
        }
    }

    /// Lays out `values` as `count` elements, repeating the last value (or zero) as TensorFlow does.
    /// The most bytes a constant's last value may be repeated to fill (TensorFlow repeats it over
    /// the shape when fewer values are given): a file of a few bytes must not make us allocate gigabytes.
    public static let maxRepeatedBytes = 256 << 20

    private static func fill<T>(_ values: [T], _ count: Int, _ context: String) throws(TensorFlowIOError) -> [UInt8] {
        guard values.count <= count else {
            throw .malformedTensor(context: context, reason: "\(values.count) values for a shape of \(count) elements")
        }
        let size = MemoryLayout<T>.stride
        if values.count < count, count * size > maxRepeatedBytes {
            throw .malformedTensor(context: context, reason: "\(values.count) value(s) repeated over \(count) elements would fill \(count * size) bytes, "
                                   + "more than the \(maxRepeatedBytes >> 20) MB a repeated value may fill (store the values, tensor_content)")
        }
        var out = [UInt8](repeating: 0, count: count * size)
        guard let last = values.last else { return out }
        out.withUnsafeMutableBytes { raw in
            values.withUnsafeBytes { raw.copyMemory(from: $0) }
            for i in values.count..<count { raw.storeBytes(of: last, toByteOffset: i * size, as: T.self) }
        }
        return out
    }
}
