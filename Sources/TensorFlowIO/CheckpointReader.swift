import CCRC32C
import FileIO
import TFProto
import Tensors

/// Reads a TF1 tensor-bundle checkpoint: `<prefix>.index` (a `SortedTable` mapping tensor names
/// to `BundleEntryProto`s, with a `BundleHeaderProto` under the empty key) and the data shards
/// `<prefix>.data-00000-of-0000N`, where each tensor's bytes are checked against their CRC32C.
public final class CheckpointReader: Sendable {
    public let prefix: String
    public let header: Tensorflow_BundleHeaderProto
    /// Tensor name -> where and what it is, for every plain (unsliced) tensor.
    public let entries: [String: Tensorflow_BundleEntryProto]
    private let shards: [String]

    public struct Info: Sendable, Equatable {
        public let name: String
        public let dtype: Tensorflow_DataType
        public let shape: [Int]
        public let byteSize: Int
    }

    public init(prefix: String) throws(TensorFlowIOError) {
        self.prefix = prefix
        let indexPath = prefix + ".index"
        let table: SortedTable
        do {
            table = try SortedTable(bytes: try FileIO.read(indexPath))
        } catch let error as SortedTable.Corruption {
            throw .corruptCheckpoint(path: indexPath, tensor: nil, reason: error.reason)
        } catch let error as FileIOError {
            throw .file(error)
        } catch {
            throw .corruptCheckpoint(path: indexPath, tensor: nil, reason: "\(error)")
        }
        var header: Tensorflow_BundleHeaderProto?
        var entries: [String: Tensorflow_BundleEntryProto] = [:]
        for (key, value) in table.entries {
            if key.isEmpty {
                header = try Self.decode(value, path: indexPath, tensor: "<header>")
                continue
            }
            // Keys of partitioned-variable slices start with a 0 byte; their full-tensor entry lists them.
            if key.first == 0 { continue }
            let name = String(decoding: key, as: UTF8.self)
            entries[name] = try Self.decode(value, path: indexPath, tensor: name)
        }
        guard let header else {
            throw .corruptCheckpoint(path: indexPath, tensor: nil, reason: "no bundle header (is this a TF1 V2 checkpoint?)")
        }
        guard header.endianness == .little else {
            throw .corruptCheckpoint(path: indexPath, tensor: nil, reason: "big-endian checkpoints are not supported")
        }
        guard header.numShards >= 1, header.numShards <= 100_000 else {
            throw .corruptCheckpoint(path: indexPath, tensor: nil, reason: "implausible shard count \(header.numShards)")
        }
        self.header = header
        self.entries = entries
        let n = Int(header.numShards)
        self.shards = (0..<n).map { CheckpointReader.shardPath(prefix: prefix, shard: $0, of: n) }
    }

    public static func shardPath(prefix: String, shard: Int, of count: Int) -> String {
        func five(_ v: Int) -> String { String(repeating: "0", count: max(0, 5 - String(v).count)) + String(v) }
        return "\(prefix).data-\(five(shard))-of-\(five(count))"
    }

    /// The data shard files this checkpoint needs.
    public var shardPaths: [String] { shards }

    /// Every tensor, sorted by name.
    public var tensorInfos: [Info] {
        entries.keys.sorted().map { name in
            let e = entries[name]!
            return Info(name: name, dtype: e.dtype, shape: e.shape.dims ?? [], byteSize: Int(e.size))
        }
    }

    /// Reads one tensor and verifies its checksum.
    public func tensor(named name: String) throws(TensorFlowIOError) -> Tensor {
        guard let entry = entries[name] else { throw .tensorNotFound(name: name, checkpoint: prefix + ".index") }
        guard let dtype = entry.dtype.hostDType else {
            throw .unsupportedDType(context: "\(prefix).index: tensor '\(name)'", dtype: entry.dtype.tfName)
        }
        let bytes = try verifiedBytes(name, entry)
        do {
            return try Tensor(dtype: dtype, shape: entry.shape.dims ?? [], bytes: bytes)
        } catch {
            throw .corruptCheckpoint(path: shards[Int(entry.shardID)], tensor: name, reason: "\(error)")
        }
    }

    /// The elements of a string tensor, e.g. a TF2 checkpoint's object graph. A bundle stores the
    /// varint64 length of each, a masked CRC32C of the lengths, then the bytes; the entry's CRC32C
    /// covers each length as 4 little-endian bytes (8 past 4 GiB; not its varint), the 4 checksum
    /// bytes, then the strings' bytes.
    public func strings(named name: String) throws(TensorFlowIOError) -> [[UInt8]] {
        guard let entry = entries[name] else { throw .tensorNotFound(name: name, checkpoint: prefix + ".index") }
        guard entry.dtype == .dtString else {
            throw .corruptCheckpoint(path: prefix + ".index", tensor: name, reason: "is \(entry.dtype.tfName), not a string tensor")
        }
        let count = (entry.shape.dims ?? []).reduce(1) { $0 &* max(0, $1) }
        let bytes = try verifiedBytes(name, entry, checked: false)
        let path = shards[Int(entry.shardID)]
        guard count >= 0, count <= bytes.count else { throw .corruptCheckpoint(path: path, tensor: name, reason: "\(count) strings in \(bytes.count) bytes") }
        var at = 0, lengths: [Int] = []
        for _ in 0..<count {
            var value = 0, shift = 0
            while true {
                guard at < bytes.count, shift < 63 else { throw .corruptCheckpoint(path: path, tensor: name, reason: "truncated string lengths") }
                let byte = bytes[at]
                at += 1
                value |= Int(byte & 0x7F) << shift
                if byte < 0x80 { break }
                shift += 7
            }
            lengths.append(value)
        }
        guard at + 4 <= bytes.count else { throw .corruptCheckpoint(path: path, tensor: name, reason: "truncated string lengths") }
        var crc: UInt32 = 0
        for length in lengths {
            if length <= Int(UInt32.max) {
                var little = UInt32(length).littleEndian
                crc = withUnsafeBytes(of: &little) { vaiq_crc32c_extend(crc, $0.baseAddress, 4) }
            } else {
                var little = UInt64(length).littleEndian
                crc = withUnsafeBytes(of: &little) { vaiq_crc32c_extend(crc, $0.baseAddress, 8) }
            }
        }
        crc = bytes.withUnsafeBytes { vaiq_crc32c_extend(crc, $0.baseAddress! + at, 4) }
        at += 4
        let stringsStart = at
        var out: [[UInt8]] = []
        for length in lengths {
            guard length >= 0, at <= bytes.count, length <= bytes.count - at else {
                throw .corruptCheckpoint(path: path, tensor: name, reason: "string of \(length) bytes past the end of its data")
            }
            out.append(Array(bytes[at..<(at + length)]))
            at += length
        }
        crc = bytes.withUnsafeBytes { vaiq_crc32c_extend(crc, $0.baseAddress! + stringsStart, at - stringsStart) }
        guard crc == vaiq_crc32c_unmask(entry.crc32C) else {
            throw .corruptCheckpoint(path: path, tensor: name, reason: "CRC32C mismatch (the data is corrupt)")
        }
        return out
    }

    /// The entry's bytes from its shard, checked against its CRC32C.
    /// (`checked: false`: the caller checks the CRC32C itself, as string tensors compute it differently.)
    private func verifiedBytes(_ name: String, _ entry: Tensorflow_BundleEntryProto, checked: Bool = true) throws(TensorFlowIOError) -> [UInt8] {
        guard entry.slices.isEmpty else {
            throw .corruptCheckpoint(path: prefix + ".index", tensor: name,
                                     reason: "stored as partitioned slices, which are not supported")
        }
        let shard = Int(entry.shardID)
        guard shard >= 0, shard < shards.count else {
            throw .corruptCheckpoint(path: prefix + ".index", tensor: name, reason: "shard id \(shard) out of range")
        }
        let path = shards[shard]
        guard FileIO.exists(path) else {
            throw .corruptCheckpoint(path: path, tensor: name,
                                     reason: "data shard \(shard + 1) of \(shards.count) is missing")
        }
        let bytes: [UInt8]
        do {
            bytes = try RandomAccessFile(path: path).read(offset: Int(entry.offset), count: Int(entry.size))
        } catch {
            throw .corruptCheckpoint(path: path, tensor: name, reason: error.reason)
        }
        guard checked else { return bytes }
        let crc = bytes.withUnsafeBytes { vaiq_crc32c_extend(0, $0.baseAddress, $0.count) }
        guard crc == vaiq_crc32c_unmask(entry.crc32C) else {
            throw .corruptCheckpoint(path: path, tensor: name, reason: "CRC32C mismatch (the data is corrupt)")
        }
        return bytes
    }

    private static func decode(_ bytes: [UInt8], path: String, tensor: String) throws(TensorFlowIOError) -> Tensorflow_BundleEntryProto {
        do { return try Tensorflow_BundleEntryProto(serializedBytes: bytes) } catch {
            throw .corruptCheckpoint(path: path, tensor: tensor, reason: "entry does not decode: \(error)")
        }
    }

    private static func decode(_ bytes: [UInt8], path: String, tensor: String) throws(TensorFlowIOError) -> Tensorflow_BundleHeaderProto {
        do { return try Tensorflow_BundleHeaderProto(serializedBytes: bytes) } catch {
            throw .corruptCheckpoint(path: path, tensor: tensor, reason: "header does not decode: \(error)")
        }
    }
}
