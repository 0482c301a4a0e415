import CCRC32C
import CSnappy

/// Reads a LevelDB-format sorted table, the format of a checkpoint's `.index` file.
///
/// Layout: data blocks, a metaindex block, an index block, then a 48-byte footer holding the
/// metaindex and index BlockHandles (varint64 offset + varint64 size, padded to 40 bytes) and the
/// magic number 0xdb4775248b80fb57. Every block is followed by a 5-byte trailer: a compression
/// byte (0 none, 1 Snappy) and the masked CRC32C of the stored block bytes plus that byte. A block
/// holds prefix-compressed entries (varint32 shared, non-shared and value lengths, key suffix,
/// value) followed by its restart-point array and their count (fixed32 each).
/// Every block's CRC is verified before it is decompressed or parsed.
struct SortedTable {
    struct Corruption: Error {
        let reason: String
    }

    static let magic: UInt64 = 0xdb47_7524_8b80_fb57
    static let footerSize = 48

    /// All entries in key order.
    let entries: [(key: [UInt8], value: [UInt8])]

    init(bytes: [UInt8]) throws(Corruption) {
        guard bytes.count >= SortedTable.footerSize else {
            throw Corruption(reason: "file of \(bytes.count) bytes is shorter than the 48-byte table footer (truncated?)")
        }
        var footer = ByteReader(bytes, from: bytes.count - SortedTable.footerSize, to: bytes.count)
        let metaHandle = try footer.blockHandle()
        let indexHandle = try footer.blockHandle()
        var magicReader = ByteReader(bytes, from: bytes.count - 8, to: bytes.count)
        guard try magicReader.fixed64() == SortedTable.magic else {
            throw Corruption(reason: "bad table magic number (truncated, or not a checkpoint .index file)")
        }
        _ = try SortedTable.block(bytes, metaHandle, what: "metaindex block")
        let index = try SortedTable.block(bytes, indexHandle, what: "index block")
        var entries: [(key: [UInt8], value: [UInt8])] = []
        for (key, handleBytes) in try SortedTable.parseEntries(index, what: "index block") {
            var reader = ByteReader(handleBytes, from: 0, to: handleBytes.count)
            let handle = try reader.blockHandle()
            let what = "data block at offset \(handle.offset) (keys up to '\(String(decoding: key, as: UTF8.self))')"
            entries += try SortedTable.parseEntries(try SortedTable.block(bytes, handle, what: what), what: what)
        }
        self.entries = entries
    }

    struct BlockHandle {
        let offset: Int
        let size: Int
    }

    /// The verified, decompressed contents of one block.
    private static func block(_ file: [UInt8], _ handle: BlockHandle, what: String) throws(Corruption) -> [UInt8] {
        let (end, overflow) = handle.offset.addingReportingOverflow(handle.size + 5)
        guard handle.offset >= 0, handle.size >= 0, !overflow, end <= file.count - footerSize else {
            throw Corruption(reason: "\(what): extends past the end of the table (truncated?)")
        }
        let type = file[handle.offset + handle.size]
        let stored = file[(handle.offset + handle.size + 1)..<end].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
        let actual = file.withUnsafeBytes { raw in
            vaiq_crc32c_extend(0, raw.baseAddress! + handle.offset, handle.size + 1)   // contents + type byte
        }
        guard vaiq_crc32c_unmask(UInt32(littleEndian: stored)) == actual else {
            throw Corruption(reason: "\(what): CRC32C mismatch (the file is corrupt)")
        }
        let contents = Array(file[handle.offset..<(handle.offset + handle.size)])
        switch type {
        case 0: return contents
        case 1: return try snappyUncompress(contents, what: what)
        default: throw Corruption(reason: "\(what): unknown compression type \(type)")
        }
    }

    private static func snappyUncompress(_ input: [UInt8], what: String) throws(Corruption) -> [UInt8] {
        var length = 0
        let ok = input.withUnsafeBytes { raw in
            raw.withMemoryRebound(to: CChar.self) { snappy_uncompressed_length($0.baseAddress, $0.count, &length) }
        }
        guard ok == SNAPPY_OK, length <= 1 << 30 else { throw Corruption(reason: "\(what): bad Snappy header") }
        var status = SNAPPY_OK
        if length == 0 {   // the one-byte stream of nothing (no shared empty-array write below)
            guard input == [0] else { throw Corruption(reason: "\(what): Snappy data is corrupt") }
            return []
        }
        let output = [UInt8](unsafeUninitializedCapacity: length) { out, count in
            var outLength = length
            status = input.withUnsafeBytes { raw in
                raw.withMemoryRebound(to: CChar.self) { src in
                    out.withMemoryRebound(to: CChar.self) { dst in
                        snappy_uncompress(src.baseAddress, src.count, dst.baseAddress, &outLength)
                    }
                }
            }
            count = status == SNAPPY_OK ? outLength : 0
        }
        guard status == SNAPPY_OK, output.count == length else { throw Corruption(reason: "\(what): Snappy data is corrupt") }
        return output
    }

    private static func parseEntries(_ block: [UInt8], what: String) throws(Corruption) -> [(key: [UInt8], value: [UInt8])] {
        guard block.count >= 4 else { throw Corruption(reason: "\(what): too short for its restart count") }
        var tail = ByteReader(block, from: block.count - 4, to: block.count)
        let restarts = Int(try tail.fixed32())
        let (restartBytes, overflow) = restarts.multipliedReportingOverflow(by: 4)
        guard !overflow, restartBytes <= block.count - 4 else { throw Corruption(reason: "\(what): bad restart count \(restarts)") }
        let limit = block.count - 4 - restartBytes
        var reader = ByteReader(block, from: 0, to: limit)
        var entries: [(key: [UInt8], value: [UInt8])] = []
        var key: [UInt8] = []
        while !reader.atEnd {
            let shared = Int(try reader.varint32())
            let nonShared = Int(try reader.varint32())
            let valueLength = Int(try reader.varint32())
            guard shared <= key.count else { throw Corruption(reason: "\(what): entry shares \(shared) bytes of a \(key.count)-byte key") }
            key = Array(key[..<shared]) + (try reader.bytes(nonShared))
            entries.append((key, try reader.bytes(valueLength)))
        }
        return entries
    }
}

/// Bounds-checked little-endian and varint decoding over a byte range.
struct ByteReader {
    private let bytes: [UInt8]
    private var pos: Int
    private let end: Int

    init(_ bytes: [UInt8], from start: Int, to end: Int) {
        self.bytes = bytes
        self.pos = start
        self.end = end
    }

    var atEnd: Bool { pos >= end }

    mutating func bytes(_ n: Int) throws(SortedTable.Corruption) -> [UInt8] {
        guard n >= 0, n <= end - pos else { throw SortedTable.Corruption(reason: "entry runs past the end of its block") }
        defer { pos += n }
        return Array(bytes[pos..<(pos + n)])
    }

    mutating func varint64() throws(SortedTable.Corruption) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while pos < end, shift < 64 {
            let b = bytes[pos]
            pos += 1
            result |= UInt64(b & 0x7f) << shift
            if b < 0x80 { return result }
            shift += 7
        }
        throw SortedTable.Corruption(reason: "bad varint")
    }

    mutating func varint32() throws(SortedTable.Corruption) -> UInt32 {
        let v = try varint64()
        guard v <= UInt32.max else { throw SortedTable.Corruption(reason: "varint32 out of range") }
        return UInt32(v)
    }

    mutating func fixed32() throws(SortedTable.Corruption) -> UInt32 {
        let b = try bytes(4)
        return b.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
    }

    mutating func fixed64() throws(SortedTable.Corruption) -> UInt64 {
        let b = try bytes(8)
        return b.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
    }

    mutating func blockHandle() throws(SortedTable.Corruption) -> SortedTable.BlockHandle {
        let offset = try varint64(), size = try varint64()
        guard offset <= UInt64(Int.max / 2), size <= UInt64(Int.max / 2) else {
            throw SortedTable.Corruption(reason: "block handle out of range")
        }
        return SortedTable.BlockHandle(offset: Int(offset), size: Int(size))
    }
}
