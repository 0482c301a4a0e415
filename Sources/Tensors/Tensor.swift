/// A dense, row-major tensor on the host. Values are kept as little-endian bytes, the layout
/// TensorFlow uses in `tensor_content`, checkpoints and `.npy` files, so I/O never converts.
public struct Tensor: Sendable, Equatable {
    public let dtype: DType
    public let shape: [Int]
    public let bytes: [UInt8]

    public enum Failure: Error, CustomStringConvertible, Equatable {
        case sizeMismatch(dtype: DType, shape: [Int], expectedBytes: Int, actualBytes: Int)
        case negativeDimension(shape: [Int])
        case tooLarge(shape: [Int])

        public var description: String {
            switch self {
            case let .sizeMismatch(dtype, shape, expected, actual):
                "a \(dtype) tensor of shape \(shape) needs \(expected) bytes, got \(actual)"
            case let .negativeDimension(shape):
                "shape \(shape) has a negative dimension"
            case let .tooLarge(shape):
                "shape \(shape) has more elements than this machine can hold"
            }
        }
    }

    public init(dtype: DType, shape: [Int], bytes: [UInt8]) throws(Failure) {
        guard shape.allSatisfy({ $0 >= 0 }) else { throw .negativeDimension(shape: shape) }
        guard let expected = Tensor.byteCount(shape, dtype) else { throw .tooLarge(shape: shape) }
        guard expected == bytes.count else {
            throw .sizeMismatch(dtype: dtype, shape: shape, expectedBytes: expected, actualBytes: bytes.count)
        }
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// A tensor of `values`, laid out row-major in `shape`.
    public init<T: TensorScalar>(_ values: [T], shape: [Int]) {
        precondition(values.count == Tensor.elementCount(shape), "\(values.count) values for shape \(shape)")
        self.dtype = T.dtype
        self.shape = shape
        self.bytes = values.withUnsafeBytes { Array($0) }
    }

    public var elementCount: Int { Tensor.elementCount(shape) }
    public var rank: Int { shape.count }

    public static func elementCount(_ shape: [Int]) -> Int { shape.reduce(1, *) }

    /// The bytes a tensor of `shape` needs, or nil when that overflows or exceeds 2^40 (a
    /// corrupt file's shape must fail cleanly, not trap or exhaust memory).
    public static func byteCount(_ shape: [Int], _ dtype: DType) -> Int? {
        var n = dtype.byteSize
        for d in shape {
            guard d >= 0 else { return nil }
            let (m, overflow) = n.multipliedReportingOverflow(by: d)
            guard !overflow, m <= 1 << 40 else { return nil }
            n = m
        }
        return n
    }

    /// The values as `T`; `T` must be this tensor's dtype (bfloat16/float16 have no Swift scalar here).
    public func scalars<T: TensorScalar>(as type: T.Type = T.self) -> [T] {
        precondition(T.dtype == dtype, "reading a \(dtype) tensor as \(T.dtype)")
        guard elementCount > 0 else { return [] }   // see RandomAccessFile.read: no shared-singleton write
        return [T](unsafeUninitializedCapacity: elementCount) { buf, count in
            bytes.withUnsafeBytes { raw in
                UnsafeMutableRawBufferPointer(buf).copyMemory(from: raw)
            }
            count = elementCount
        }
    }

    /// The values converted to Float, for any dtype (half and bfloat16 included).
    public func floatValues() -> [Float] {
        switch dtype {
        case .float32: return scalars(as: Float.self)
        case .float64: return scalars(as: Double.self).map { Float($0) }
        case .float16: return scalars16().map { Float(Float16(bitPattern: $0)) }
        case .bfloat16: return scalars16().map { Float(bitPattern: UInt32($0) << 16) }
        case .int8: return scalars(as: Int8.self).map { Float($0) }
        case .int16: return scalars(as: Int16.self).map { Float($0) }
        case .int32: return scalars(as: Int32.self).map { Float($0) }
        case .int64: return scalars(as: Int64.self).map { Float($0) }
        case .uint8: return scalars(as: UInt8.self).map { Float($0) }
        case .uint16: return scalars(as: UInt16.self).map { Float($0) }
        case .uint32: return scalars(as: UInt32.self).map { Float($0) }
        case .uint64: return scalars(as: UInt64.self).map { Float($0) }
        case .bool: return bytes.map { $0 != 0 ? 1 : 0 }
        }
    }

    private func scalars16() -> [UInt16] {
        guard elementCount > 0 else { return [] }
        return [UInt16](unsafeUninitializedCapacity: elementCount) { buf, count in
            bytes.withUnsafeBytes { UnsafeMutableRawBufferPointer(buf).copyMemory(from: $0) }
            count = elementCount
        }
    }
}
