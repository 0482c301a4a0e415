/// Encodes a stage's typed parameter struct as the `ParameterValue` map that enters its action
/// key, so the struct's `Codable` shape *is* the key: a field the struct does not hold cannot
/// change it, and `nil` optionals are left out (a field that does not apply is not hashed).
/// Property names become snake_case (`weightBit` -> `weight_bit`, `foldBN` -> `fold_bn`,
/// `replaceRelu6` -> `replace_relu6`): the manifests' and vai_q's names, which explain lines show.
///
/// Supported: structs and enums with `Codable` conformances made of strings, integers, doubles,
/// booleans, arrays and string-keyed dictionaries. Anything else (nested unkeyed containers of
/// containers, super encoders) is a programming error and traps.
public enum ParameterEncoder {
    public static func encode<T: Encodable>(_ value: T) -> [String: ParameterValue] {
        guard case .map(let map) = encodeValue(value) else {
            preconditionFailure("stage parameters must encode as a keyed container: \(T.self)")
        }
        return map
    }

    /// Any encodable value as one `ParameterValue`.
    public static func encodeValue<T: Encodable>(_ value: T) -> ParameterValue {
        let box = Box()
        do { try value.encode(to: Writer(box: box, path: [], rawKeys: value is any StringKeyedDictionary)) } catch {
            preconditionFailure("\(T.self): \(error)")
        }
        return box.value ?? .map([:])
    }

    /// The value under construction; containers write into it through `path`.
    final class Box {
        var value: ParameterValue?

        func set(_ new: ParameterValue, at path: [Key]) { value = Self.updating(value, path[...], with: new) }

        private static func updating(_ current: ParameterValue?, _ path: ArraySlice<Key>, with new: ParameterValue) -> ParameterValue {
            guard let first = path.first else { return new }
            switch first {
            case .name(let name):
                guard case .map(var map)? = current ?? .map([:]) else { preconditionFailure("parameter path mixes kinds") }
                map[name] = updating(map[name], path.dropFirst(), with: new)
                return .map(map)
            case .index(let i):
                guard case .list(var list)? = current ?? .list([]) else { preconditionFailure("parameter path mixes kinds") }
                if i == list.count { list.append(updating(nil, path.dropFirst(), with: new)) }
                else { list[i] = updating(list[i], path.dropFirst(), with: new) }
                return .list(list)
            }
        }

        /// The value at `path`, if there is one.
        func node(at path: [Key]) -> ParameterValue? {
            var node = value
            for key in path {
                switch (key, node) {
                case (.name(let n), .map(let m)?): node = m[n]
                case (.index(let i), .list(let l)?): node = i < l.count ? l[i] : nil
                default: return nil
                }
            }
            return node
        }

        func count(at path: [Key]) -> Int {
            if case .list(let l)? = node(at: path) { return l.count }
            return 0
        }
    }

    enum Key { case name(String), index(Int) }

    /// `weightBit` -> `weight_bit`, `simulateDPU` -> `simulate_dpu`, `doCLE` -> `do_cle`: an
    /// underscore before an uppercase letter that follows a lowercase letter or digit, or that
    /// starts a word after an acronym (`DPUTarget` -> `dpu_target`). Already snake_case names and
    /// dictionary keys (node names) are left alone: only struct property names pass through here.
    static func snakeCase(_ name: String) -> String {
        let chars = Array(name)
        var out = ""
        for (i, c) in chars.enumerated() {
            if c.isUppercase, i > 0 {
                let previous = chars[i - 1]
                let nextIsLower = i + 1 < chars.count && chars[i + 1].isLowercase
                if previous.isLowercase || previous.isNumber || (previous.isUppercase && nextIsLower) { out += "_" }
            }
            out += c.lowercased()
        }
        return out
    }

    struct CodingKeyValue: CodingKey {
        var stringValue: String
        var intValue: Int?
        init(stringValue: String) { self.stringValue = stringValue }
        init(intValue: Int) {
            stringValue = String(intValue)
            self.intValue = intValue
        }
    }

    struct Writer: Encoder {
        let box: Box
        let path: [Key]
        /// A dictionary's keys are data (node names), not property names: kept as they are.
        var rawKeys = false
        var codingPath: [any CodingKey] { [] }
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        func container<K: CodingKey>(keyedBy type: K.Type) -> KeyedEncodingContainer<K> {
            box.ensure(.map([:]), at: path)
            return KeyedEncodingContainer(Keyed<K>(box: box, path: path, rawKeys: rawKeys))
        }

        func unkeyedContainer() -> any UnkeyedEncodingContainer {
            box.ensure(.list([]), at: path)
            return Unkeyed(box: box, path: path)
        }

        func singleValueContainer() -> any SingleValueEncodingContainer { Single(box: box, path: path) }
    }

    struct Keyed<K: CodingKey>: KeyedEncodingContainerProtocol {
        let box: Box
        let path: [Key]
        let rawKeys: Bool
        var codingPath: [any CodingKey] { [] }

        private func at(_ key: K) -> [Key] { path + [.name(rawKeys ? key.stringValue : ParameterEncoder.snakeCase(key.stringValue))] }
        mutating func encodeNil(forKey key: K) throws {}
        mutating func encode(_ value: Bool, forKey key: K) throws { box.set(.bool(value), at: at(key)) }
        mutating func encode(_ value: String, forKey key: K) throws { box.set(.string(value), at: at(key)) }
        mutating func encode(_ value: Double, forKey key: K) throws { box.set(.double(value), at: at(key)) }
        mutating func encode(_ value: Float, forKey key: K) throws { box.set(.double(Double(value)), at: at(key)) }
        mutating func encode(_ value: Int, forKey key: K) throws { box.set(.int(value), at: at(key)) }
        mutating func encode<T: Encodable>(_ value: T, forKey key: K) throws {
            // An inline group's fields join this map, as if they were declared here.
            let path = value is any InlineParameters ? self.path : at(key)
            try value.encode(to: Writer(box: box, path: path, rawKeys: value is any StringKeyedDictionary))
        }
        mutating func nestedContainer<N: CodingKey>(keyedBy keyType: N.Type, forKey key: K) -> KeyedEncodingContainer<N> {
            Writer(box: box, path: at(key)).container(keyedBy: N.self)
        }
        mutating func nestedUnkeyedContainer(forKey key: K) -> any UnkeyedEncodingContainer {
            Writer(box: box, path: at(key)).unkeyedContainer()
        }
        mutating func superEncoder() -> any Encoder { preconditionFailure("super encoders are not supported") }
        mutating func superEncoder(forKey key: K) -> any Encoder { preconditionFailure("super encoders are not supported") }
    }

    struct Unkeyed: UnkeyedEncodingContainer {
        let box: Box
        let path: [Key]
        var codingPath: [any CodingKey] { [] }
        var count: Int { box.count(at: path) }

        private func next() -> [Key] { path + [.index(count)] }
        mutating func encodeNil() throws { preconditionFailure("nil inside a parameter list") }
        mutating func encode(_ value: Bool) throws { box.set(.bool(value), at: next()) }
        mutating func encode(_ value: String) throws { box.set(.string(value), at: next()) }
        mutating func encode(_ value: Double) throws { box.set(.double(value), at: next()) }
        mutating func encode(_ value: Float) throws { box.set(.double(Double(value)), at: next()) }
        mutating func encode(_ value: Int) throws { box.set(.int(value), at: next()) }
        mutating func encode<T: Encodable>(_ value: T) throws {
            try value.encode(to: Writer(box: box, path: next(), rawKeys: value is any StringKeyedDictionary))
        }
        mutating func nestedContainer<N: CodingKey>(keyedBy keyType: N.Type) -> KeyedEncodingContainer<N> {
            Writer(box: box, path: next()).container(keyedBy: N.self)
        }
        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer { Writer(box: box, path: next()).unkeyedContainer() }
        mutating func superEncoder() -> any Encoder { preconditionFailure("super encoders are not supported") }
    }

    struct Single: SingleValueEncodingContainer {
        let box: Box
        let path: [Key]
        var codingPath: [any CodingKey] { [] }
        mutating func encodeNil() throws { preconditionFailure("a nil parameter value") }
        mutating func encode(_ value: Bool) throws { box.set(.bool(value), at: path) }
        mutating func encode(_ value: String) throws { box.set(.string(value), at: path) }
        mutating func encode(_ value: Double) throws { box.set(.double(value), at: path) }
        mutating func encode(_ value: Float) throws { box.set(.double(Double(value)), at: path) }
        mutating func encode(_ value: Int) throws { box.set(.int(value), at: path) }
        mutating func encode<T: Encodable>(_ value: T) throws {
            try value.encode(to: Writer(box: box, path: path, rawKeys: value is any StringKeyedDictionary))
        }
    }
}

/// A group of settings several stage kinds share (a model's input/output range, the graph
/// rewrites): held as one property, encoded as if its fields were the holder's own, so the key
/// and explain lines read `input_nodes`, `do_cle`, ... and never the group's name. A field of the
/// group must not share a name with a field of its holder.
public protocol InlineParameters: Encodable {}

/// String-keyed dictionaries, whose keys the encoder keeps as written.
protocol StringKeyedDictionary {}
extension Dictionary: StringKeyedDictionary where Key == String {}

extension ParameterEncoder.Box {
    /// Creates an empty container at `path` unless one of that kind is already there (a keyed
    /// container is asked for once per `encode(to:)`, and a struct may be encoded in pieces).
    func ensure(_ empty: ParameterValue, at path: [ParameterEncoder.Key]) {
        switch (empty, node(at: path)) {
        case (.map, .map?), (.list, .list?): return
        default: set(empty, at: path)
        }
    }
}
