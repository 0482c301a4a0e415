import CZlib

/// NumPy's `.npz` archives: a ZIP file of `<name>.npy` members, stored (`np.savez`) or deflated
/// (`np.savez_compressed`). Members are found through the ZIP central directory; ZIP64 archives
/// (members over 4 GiB) are refused with a clear error.
public enum NPZ {
    /// Decodes every member, in archive order, with the `.npy` extension removed from its name.
    public static func decode(_ bytes: [UInt8], name: String) throws(NPY.Failure) -> [(name: String, tensor: Tensor)] {
        func fail(_ reason: String) -> NPY.Failure { NPY.Failure(name: name, reason: reason) }
        guard let eocd = endOfCentralDirectory(bytes) else {
            throw fail("not a .npz (ZIP) archive, or it is truncated: no end-of-central-directory record")
        }
        let count = Int(u16(bytes, eocd + 10))
        let directorySize = Int(u32(bytes, eocd + 12))
        var at = Int(u32(bytes, eocd + 16))
        guard count != 0xFFFF, at != 0xFFFF_FFFF else { throw fail("ZIP64 archives are not supported") }
        guard at + directorySize <= eocd else { throw fail("central directory lies outside the file") }
        var members: [(name: String, tensor: Tensor)] = []
        for _ in 0..<count {
            guard at + 46 <= eocd, u32(bytes, at) == 0x0201_4B50 else { throw fail("corrupt central directory entry") }
            let method = u16(bytes, at + 10)
            let crc = u32(bytes, at + 16)
            let compressedSize = Int(u32(bytes, at + 20))
            let size = Int(u32(bytes, at + 24))
            let nameLength = Int(u16(bytes, at + 28))
            let extraLength = Int(u16(bytes, at + 30))
            let commentLength = Int(u16(bytes, at + 32))
            let local = Int(u32(bytes, at + 42))
            guard at + 46 + nameLength <= eocd else { throw fail("corrupt central directory entry") }
            let memberName = String(decoding: bytes[at + 46..<at + 46 + nameLength], as: UTF8.self)
            at += 46 + nameLength + extraLength + commentLength
            let label = "\(name)[\(memberName)]"
            guard compressedSize != 0xFFFF_FFFF, size != 0xFFFF_FFFF else {
                throw NPY.Failure(name: label, reason: "ZIP64 members are not supported")
            }
            guard local + 30 <= bytes.count, u32(bytes, local) == 0x0403_4B50 else {
                throw NPY.Failure(name: label, reason: "corrupt local header")
            }
            let dataStart = local + 30 + Int(u16(bytes, local + 26)) + Int(u16(bytes, local + 28))
            guard dataStart + compressedSize <= bytes.count else {
                throw NPY.Failure(name: label, reason: "truncated: member needs \(compressedSize) bytes")
            }
            let stored = Array(bytes[dataStart..<dataStart + compressedSize])
            let data: [UInt8]
            switch method {
            case 0: data = stored
            case 8:
                // Deflate expands at most 1032:1: a larger declared size is a lie, not an allocation.
                guard size <= compressedSize * 1032 + 1024 else {
                    throw NPY.Failure(name: label, reason: "declares \(size) bytes from \(compressedSize) compressed, more than deflate can expand to")
                }
                data = try inflate(stored, size: size, label: label)
            default: throw NPY.Failure(name: label, reason: "unsupported ZIP compression method \(method) (expected stored or deflate)")
            }
            guard data.count == size, crc32Of(data) == crc else {
                throw NPY.Failure(name: label, reason: "CRC32 mismatch: the member is corrupt")
            }
            let key = memberName.hasSuffix(".npy") ? String(memberName.dropLast(4)) : memberName
            members.append((key, try NPY.decode(data, name: label)))
        }
        return members
    }

    /// Encodes members as an uncompressed ZIP (what `np.savez` writes), with fixed timestamps so the
    /// same tensors always give the same bytes.
    public static func encode(_ members: [(name: String, tensor: Tensor)]) -> [UInt8] {
        var out: [UInt8] = []
        var directory: [UInt8] = []
        for (name, tensor) in members {
            let data = NPY.encode(tensor)
            let fileName = Array((name + ".npy").utf8)
            let crc = crc32Of(data)
            let offset = out.count
            // Local header: version 2.0, no flags, stored, DOS time 00:00 1980-01-01.
            out += le32(0x0403_4B50) + le16(20) + le16(0) + le16(0) + le16(0) + le16(0x21)
            out += le32(crc) + le32(UInt32(data.count)) + le32(UInt32(data.count))
            out += le16(UInt16(fileName.count)) + le16(0) + fileName + data
            directory += le32(0x0201_4B50) + le16(20) + le16(20) + le16(0) + le16(0) + le16(0) + le16(0x21)
            directory += le32(crc) + le32(UInt32(data.count)) + le32(UInt32(data.count))
            directory += le16(UInt16(fileName.count)) + le16(0) + le16(0) + le16(0) + le16(0) + le32(0)
            directory += le32(UInt32(offset)) + fileName
        }
        let directoryOffset = out.count
        out += directory
        out += le32(0x0605_4B50) + le16(0) + le16(0) + le16(UInt16(members.count)) + le16(UInt16(members.count))
        out += le32(UInt32(directory.count)) + le32(UInt32(directoryOffset)) + le16(0)
        return out
    }

    private static func endOfCentralDirectory(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 22 else { return nil }
        let lowest = max(0, bytes.count - 22 - 65535)
        var at = bytes.count - 22
        while at >= lowest {
            if u32(bytes, at) == 0x0605_4B50 { return at }
            at -= 1
        }
        return nil
    }

    private static func inflate(_ input: [UInt8], size: Int, label: String) throws(NPY.Failure) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: size)
        var stream = z_stream()
        guard inflateInit2_(&stream, -MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw NPY.Failure(name: label, reason: "zlib could not start")
        }
        defer { inflateEnd(&stream) }
        var input = input
        let status = input.withUnsafeMutableBufferPointer { inBuf in
            output.withUnsafeMutableBufferPointer { outBuf in
                stream.next_in = inBuf.baseAddress
                stream.avail_in = UInt32(inBuf.count)
                stream.next_out = outBuf.baseAddress
                stream.avail_out = UInt32(outBuf.count)
                return CZlib.inflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END, Int(stream.total_out) == size else {
            throw NPY.Failure(name: label, reason: "corrupt deflate data")
        }
        return output
    }

    private static func crc32Of(_ data: [UInt8]) -> UInt32 {
        data.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) }
    }

    private static func u16(_ b: [UInt8], _ at: Int) -> UInt16 { at + 2 <= b.count ? UInt16(b[at]) | UInt16(b[at + 1]) << 8 : 0 }
    private static func u32(_ b: [UInt8], _ at: Int) -> UInt32 {
        guard at >= 0, at + 4 <= b.count else { return 0 }
        return UInt32(b[at]) | UInt32(b[at + 1]) << 8 | UInt32(b[at + 2]) << 16 | UInt32(b[at + 3]) << 24
    }
    private static func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
    private static func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xFF) } }
}
