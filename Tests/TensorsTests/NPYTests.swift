import Foundation
import Tensors
import XCTest

/// Files written by NumPy itself (tools/make_npy_fixtures.py), read back and compared with the
/// values NumPy recorded in expected.json.
final class NPYTests: XCTestCase {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Fixtures/npy").standardized.path

    struct Expected: Decodable { let shape: [Int]; let values: [Double] }

    func bytes(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: "\(Self.directory)/\(name)")))
    }

    func testEveryNumPyFileDecodesToTheRecordedValues() throws {
        let expected = try JSONDecoder().decode([String: Expected].self,
                                                from: Data(contentsOf: URL(fileURLWithPath: "\(Self.directory)/expected.json")))
        XCTAssertEqual(expected.count, 9)
        for (name, want) in expected {
            let tensor = try NPY.decode(bytes("\(name).npy"), name: name)
            XCTAssertEqual(tensor.shape, want.shape, name)
            let got = tensor.dtype == .float64 ? tensor.scalars(as: Double.self)
                : tensor.dtype == .int64 ? tensor.scalars(as: Int64.self).map(Double.init)
                : tensor.floatValues().map(Double.init)
            XCTAssertEqual(got, want.values, name)
        }
        XCTAssertEqual(try NPY.decode(bytes("f64_be.npy"), name: "f64_be").dtype, .float64)
        XCTAssertEqual(try NPY.decode(bytes("bool.npy"), name: "bool").dtype, .bool)
    }

    func testEncodeIsByteIdenticalToNumPysSave() throws {
        for name in ["f32_2x3", "i64_1d", "u8_2x2x2", "bool", "scalar_f32", "empty_0x4"] {
            let original = try bytes("\(name).npy")
            XCTAssertEqual(NPY.encode(try NPY.decode(original, name: name)), original, name)
        }
    }

    func testStoredAndCompressedArchives() throws {
        for archive in ["stored.npz", "compressed.npz"] {
            let members = try NPZ.decode(bytes(archive), name: archive)
            XCTAssertEqual(members.map(\.name), ["x", "labels"], archive)
            XCTAssertEqual(members[0].tensor.scalars(as: Float.self), [0, 0.25, 0.5, 0.75, 1, 1.25], archive)
            XCTAssertEqual(members[1].tensor.scalars(as: Int64.self), [-3, 0, 7, 1 << 40], archive)
        }
    }

    func testArchiveRoundTripIsDeterministic() throws {
        let members = try NPZ.decode(bytes("compressed.npz"), name: "c")
        let encoded = NPZ.encode(members)
        XCTAssertEqual(encoded, NPZ.encode(members))
        let again = try NPZ.decode(encoded, name: "again")
        XCTAssertEqual(again.map(\.name), ["x", "labels"])
        XCTAssertEqual(again.map(\.tensor), members.map(\.tensor))
    }

    func testBadFilesGiveOneClearReason() throws {
        let good = try bytes("f32_2x3.npy")
        let cases: [(String, [UInt8], String)] = [
            ("magic", Array("hello world".utf8), "x.npy: not a NumPy .npy file (bad magic)"),
            ("truncated data", Array(good.dropLast(5)), "x.npy: truncated: shape [2, 3] of float32 needs 24 bytes of data, file has 19"),
            ("trailing", good + [0], "x.npy: 1 bytes of trailing data after shape [2, 3] of float32"),
            ("truncated header", Array(good.prefix(40)), "x.npy: truncated header (needs 118 bytes, file has 30)"),
            ("dtype", replacing(good, "<f4", "<c8"), "x.npy: unsupported dtype '<c8' (expected a numeric or bool dtype such as '<f4')"),
            ("fortran", replacing(good, "False", "True "), "x.npy: Fortran-ordered arrays are not supported (save np.ascontiguousarray(a))"),
        ]
        for (label, data, message) in cases {
            XCTAssertThrowsError(try NPY.decode(data, name: "x.npy"), label) { XCTAssertEqual("\($0)", message, label) }
        }
        // Found by the npy fuzz target: a deflated member declaring 2.5 GB was allocated before inflating.
        let lying = try bytes("../fuzz/npz-declares-2.5GB.npz")
        XCTAssertThrowsError(try NPZ.decode(lying, name: "l.npz")) { error in
            XCTAssertTrue("\(error)".contains("more than deflate can expand to"), "\(error)")
        }
        var archive = try bytes("compressed.npz")
        archive[60] ^= 0xFF
        XCTAssertThrowsError(try NPZ.decode(archive, name: "c.npz")) { error in
            XCTAssertTrue("\(error)".hasPrefix("c.npz[x.npy]: "), "\(error)")
        }
        XCTAssertThrowsError(try NPZ.decode(Array(archive.prefix(100)), name: "c.npz")) { error in
            XCTAssertEqual("\(error)", "c.npz: not a .npz (ZIP) archive, or it is truncated: no end-of-central-directory record")
        }
    }

    private func replacing(_ data: [UInt8], _ old: String, _ new: String) -> [UInt8] {
        let old = Array(old.utf8), at = (0...data.count - old.count).first { Array(data[$0..<$0 + old.count]) == old }!
        return Array(data[..<at]) + Array(new.utf8) + Array(data[(at + old.count)...])
    }
}
