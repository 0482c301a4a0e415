/// NumPy's `.npy` format (versions 1.0, 2.0 and 3.0): a magic string, a little-endian header
/// length, a Python-literal header `{'descr': '<f4', 'fortran_order': False, 'shape': (8, 224, 224, 3), }`
/// padded to a multiple of 64 bytes, then the raw C-ordered values.
/// https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
public enum NPY {
    /// What is wrong with an `.npy` file; `name` is the file (or archive member) it came from.
    public struct Failure: Error, CustomStringConvertible, Equatable {
        public let name: String
        public let reason: String
        public var description: String { "\(name): \(reason)" }
    }

    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    /// Decodes a whole `.npy` file. Big-endian data is byte-swapped; Fortran order is refused.
    public static func decode(_ bytes: [UInt8], name: String) throws(Failure) -> Tensor {
        func fail(_ reason: String) -> Failure { Failure(name: name, reason: reason) }
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
            throw fail("not a NumPy .npy file (bad magic)")
        }
        let major = bytes[6]
        let headerStart: Int
        let headerLength: Int
        switch major {
        case 1:
            headerStart = 10
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        case 2, 3:
            guard bytes.count >= 12 else { throw fail("truncated header") }
            headerStart = 12
            headerLength = (8..<12).reduce(0) { $0 | Int(bytes[$1]) << (8 * ($1 - 8)) }
        default:
            throw fail("unsupported .npy version \(major).\(bytes[7])")
        }
        guard headerStart + headerLength <= bytes.count else {
            throw fail("truncated header (needs \(headerLength) bytes, file has \(bytes.count - headerStart))")
        }
        guard let header = String(validating: bytes[headerStart..<headerStart + headerLength], as: UTF8.self) else {
            throw fail("header is not text")
        }
        let fields: Header
        do { fields = try Header(parsing: header) } catch { throw fail("malformed header \(header.trimmed): \(error.reason)") }
        guard !fields.fortranOrder else {
            throw fail("Fortran-ordered arrays are not supported (save np.ascontiguousarray(a))")
        }
        guard let (dtype, bigEndian) = dtypeOf(descr: fields.descr) else {
            throw fail("unsupported dtype '\(fields.descr)' (expected a numeric or bool dtype such as '<f4')")
        }
        guard let expected = Tensor.byteCount(fields.shape, dtype) else {
            throw fail("shape \(fields.shape) is too large")
        }
        let dataStart = headerStart + headerLength
        let available = bytes.count - dataStart
        guard available == expected else {
            throw fail(available < expected
                ? "truncated: shape \(fields.shape) of \(dtype) needs \(expected) bytes of data, file has \(available)"
                : "\(available - expected) bytes of trailing data after shape \(fields.shape) of \(dtype)")
        }
        var data = Array(bytes[dataStart...])
        if bigEndian && dtype.byteSize > 1 { byteSwap(&data, width: dtype.byteSize) }
        do { return try Tensor(dtype: dtype, shape: fields.shape, bytes: data) } catch { throw fail(error.description) }
    }

    /// Encodes a tensor as a version 1.0 `.npy` file (2.0 only if the header needs it), byte for
    /// byte what `np.save` writes for a C-ordered array.
    public static func encode(_ tensor: Tensor) -> [UInt8] {
        let shape = tensor.shape.count == 1 ? "(\(tensor.shape[0]),)" : "(" + tensor.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr(of: tensor.dtype))', 'fortran_order': False, 'shape': \(shape), }"
        let v1 = 10 + header.utf8.count + 1 <= 65535 + 10
        let prefix = v1 ? 10 : 12
        let padding = (64 - (prefix + header.utf8.count + 1) % 64) % 64
        header += String(repeating: " ", count: padding) + "\n"
        let length = header.utf8.count
        var out = magic
        out += v1 ? [1, 0, UInt8(length & 0xFF), UInt8(length >> 8)]
                  : [2, 0] + (0..<4).map { UInt8((length >> (8 * $0)) & 0xFF) }
        out += Array(header.utf8)
        out += tensor.bytes
        return out
    }

    static func descr(of dtype: DType) -> String {
        switch dtype {
        case .float32: "<f4"
        case .float64: "<f8"
        case .float16: "<f2"
        case .bfloat16: "<V2"  // NumPy has no bfloat16; ml_dtypes stores it as 2-byte void
        case .int8: "|i1"
        case .int16: "<i2"
        case .int32: "<i4"
        case .int64: "<i8"
        case .uint8: "|u1"
        case .uint16: "<u2"
        case .uint32: "<u4"
        case .uint64: "<u8"
        case .bool: "|b1"
        }
    }

    static func dtypeOf(descr: String) -> (DType, bigEndian: Bool)? {
        guard descr.count >= 2 else { return nil }
        let order = descr.first!
        guard "<>|=".contains(order) else { return nil }
        let code = String(descr.dropFirst())
        let table: [String: DType] = [
            "f4": .float32, "f8": .float64, "f2": .float16, "i1": .int8, "i2": .int16, "i4": .int32, "i8": .int64,
            "u1": .uint8, "u2": .uint16, "u4": .uint32, "u8": .uint64, "b1": .bool,
        ]
        guard let dtype = table[code] else { return nil }
        return (dtype, order == ">")
    }

    static func byteSwap(_ data: inout [UInt8], width: Int) {
        var i = 0
        while i + width <= data.count {
            data[i..<i + width].reverse()
            i += width
        }
    }

    /// The three keys of an `.npy` header, read from its Python dict literal.
    struct Header {
        var descr = ""
        var fortranOrder = false
        var shape: [Int] = []

        struct ParseError: Error { let reason: String }

        init(parsing text: String) throws(ParseError) {
            var scanner = Scanner(Array(text.utf8))
            try scanner.expect("{")
            var seen = Set<String>()
            while true {
                scanner.skipSpace()
                if scanner.consume("}") { break }
                let key = try scanner.string()
                try scanner.expect(":")
                switch key {
                case "descr": descr = try scanner.string()
                case "fortran_order": fortranOrder = try scanner.bool()
                case "shape": shape = try scanner.tuple()
                default: throw ParseError(reason: "unexpected key '\(key)'")
                }
                seen.insert(key)
                scanner.skipSpace()
                if scanner.consume("}") { break }
                try scanner.expect(",")
            }
            for key in ["descr", "fortran_order", "shape"] where !seen.contains(key) {
                throw ParseError(reason: "missing key '\(key)'")
            }
        }
    }

    struct Scanner {
        let text: [UInt8]
        var at = 0
        init(_ text: [UInt8]) { self.text = text }

        mutating func skipSpace() { while at < text.count, text[at] == 0x20 || text[at] == 0x0A { at += 1 } }
        mutating func consume(_ c: Character) -> Bool {
            skipSpace()
            guard at < text.count, text[at] == c.asciiValue! else { return false }
            at += 1
            return true
        }
        mutating func expect(_ c: Character) throws(Header.ParseError) {
            guard consume(c) else { throw .init(reason: "expected '\(c)' at offset \(at)") }
        }
        mutating func string() throws(Header.ParseError) -> String {
            skipSpace()
            guard at < text.count, text[at] == 0x27 || text[at] == 0x22 else { throw .init(reason: "expected a string at offset \(at)") }
            let quote = text[at]
            at += 1
            let start = at
            while at < text.count, text[at] != quote { at += 1 }
            guard at < text.count else { throw .init(reason: "unterminated string") }
            defer { at += 1 }
            return String(decoding: text[start..<at], as: UTF8.self)
        }
        mutating func bool() throws(Header.ParseError) -> Bool {
            skipSpace()
            for (word, value) in [("True", true), ("False", false)] where text[at...].starts(with: word.utf8) {
                at += word.utf8.count
                return value
            }
            throw .init(reason: "expected True or False at offset \(at)")
        }
        mutating func tuple() throws(Header.ParseError) -> [Int] {
            try expect("(")
            var values: [Int] = []
            while true {
                if consume(")") { return values }
                skipSpace()
                let start = at
                while at < text.count, (0x30...0x39).contains(text[at]) { at += 1 }
                guard at > start, let value = Int(String(decoding: text[start..<at], as: UTF8.self)) else {
                    throw .init(reason: "expected a dimension at offset \(start)")
                }
                values.append(value)
                if consume(")") { return values }
                try expect(",")
            }
        }
    }
}

extension String {
    var trimmed: String {
        var s = Substring(self)
        while let c = s.last, c == " " || c == "\n" { s = s.dropLast() }
        return String(s)
    }
}
