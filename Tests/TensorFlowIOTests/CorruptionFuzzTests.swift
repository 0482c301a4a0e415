import Foundation
import TFProto
import TensorFlowIO
import XCTest

/// Random truncations and bit flips of real files: every outcome is a value or a thrown error,
/// never a trap (a trap would kill the test process). Seeded, so a failure reproduces.
final class CorruptionFuzzTests: XCTestCase {
    private var rng = SplitMix(seed: 0x5EED)

    private func mutations(of bytes: [UInt8], count: Int) -> [[UInt8]] {
        (0..<count).map { i in
            var b = bytes
            switch i % 3 {
            case 0: b = Array(b.prefix(Int(rng.next() % UInt64(max(1, b.count)))))
            case 1:
                for _ in 0..<(1 + Int(rng.next() % 4)) where !b.isEmpty {
                    b[Int(rng.next() % UInt64(b.count))] ^= UInt8(1 << (rng.next() % 8))
                }
            default:
                if !b.isEmpty { b[Int(rng.next() % UInt64(b.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            }
            return b
        }
    }

    func testMutatedGraphsNeverTrap() throws {
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("allops/inference_graph.pb"))))
        var rejected = 0
        for bytes in mutations(of: original, count: 300) {
            do {
                let graph = try GraphDefIO.decodeBinary(bytes, path: "g.pb")
                try GraphDefIO.validate(graph, path: "g.pb")
                _ = GraphInspection(graph: graph)
            } catch {
                rejected += 1
            }
        }
        XCTAssertGreaterThan(rejected, 50)
        let text = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("resource/inference_graph.pbtxt"))))
        for bytes in mutations(of: text, count: 150) { _ = try? GraphDefIO.decodeText(bytes, path: "g.pbtxt") }
    }

    func testMutatedCheckpointsNeverTrap() throws {
        let dir = try Fixtures.scratchCopy(of: "snappy", test: self)
        let prefix = "\(dir)/train_dir/model.ckpt-2"
        let index = [UInt8](try Data(contentsOf: URL(fileURLWithPath: prefix + ".index")))
        let data = [UInt8](try Data(contentsOf: URL(fileURLWithPath: prefix + ".data-00000-of-00001")))
        var opened = 0, readErrors = 0
        for (i, bytes) in mutations(of: index, count: 200).enumerated() {
            try Data(bytes).write(to: URL(fileURLWithPath: prefix + ".index"))
            // Every other round also damages the data shard.
            let shard = i % 2 == 0 ? data : mutations(of: data, count: 1)[0]
            try Data(shard).write(to: URL(fileURLWithPath: prefix + ".data-00000-of-00001"))
            guard let reader = try? CheckpointReader(prefix: prefix) else { continue }
            opened += 1
            for info in reader.tensorInfos {
                do { _ = try reader.tensor(named: info.name) } catch { readErrors += 1 }
            }
        }
        XCTAssertGreaterThan(opened, 0, "some mutations leave the index readable")
        XCTAssertGreaterThan(readErrors, 0, "damaged shards are caught by their CRC")
    }
}

/// A tiny deterministic generator (SplitMix64).
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
