import TensorFlowIO
import Tensors
import XCTest

final class CheckpointReaderTests: XCTestCase {
    func testEveryVariableHasTheDTypeAndShapeTensorFlowSaved() throws {
        for model in ["allops", "resource", "sharded", "mixed_dtypes"] {
            let meta = try Fixtures.meta(model)
            let location = try CheckpointLocation.resolve(Fixtures.path("\(model)/train_dir"))
            let reader = try CheckpointReader(prefix: location.prefix)
            for (name, variable) in meta.variables {
                let tensor = try reader.tensor(named: name)
                XCTAssertEqual(tensor.dtype.rawValue, variable.dtype, "\(model): \(name)")
                XCTAssertEqual(tensor.shape, variable.shape, "\(model): \(name)")
            }
        }
    }

    func testStateFileNamesTheLatestCheckpointAndItsStep() throws {
        let location = try CheckpointLocation.resolve(Fixtures.path("allops/train_dir"))
        XCTAssertEqual(location.prefix, Fixtures.path("allops/train_dir/model.ckpt-2"))
        XCTAssertEqual(location.step, 2)
        let older = try CheckpointLocation.resolve(Fixtures.path("allops/train_dir/model.ckpt-1"))
        XCTAssertEqual(older.step, 1)
    }

    func testTwoShardsAreBothRead() throws {
        let reader = try CheckpointReader(prefix: try CheckpointLocation.resolve(Fixtures.path("sharded/train_dir")).prefix)
        XCTAssertEqual(reader.shardPaths.count, 2)
        let used = Set(reader.entries.values.map(\.shardID))
        XCTAssertEqual(used, [0, 1])
        for info in reader.tensorInfos { XCTAssertNoThrow(try reader.tensor(named: info.name)) }
    }

    func testSnappyCompressedIndexReadsTheSameTensors() throws {
        let plain = try CheckpointReader(prefix: try CheckpointLocation.resolve(Fixtures.path("resource/train_dir")).prefix)
        let snappy = try CheckpointReader(prefix: try CheckpointLocation.resolve(Fixtures.path("snappy/train_dir")).prefix)
        XCTAssertEqual(plain.tensorInfos, snappy.tensorInfos)
        for info in plain.tensorInfos {
            XCTAssertEqual(try plain.tensor(named: info.name), try snappy.tensor(named: info.name), info.name)
        }
    }

    func testFlippedDataByteIsACRCErrorNamingTheTensor() throws {
        let dir = try Fixtures.scratchCopy(of: "resource", test: self)
        let reader0 = try CheckpointReader(prefix: "\(dir)/train_dir/model.ckpt-2")
        // Corrupt the first byte of the largest tensor.
        let victim = reader0.tensorInfos.max { $0.byteSize < $1.byteSize }!
        let entry = reader0.entries[victim.name]!
        try Fixtures.flipByte("\(dir)/train_dir/model.ckpt-2.data-00000-of-00001", at: Int(entry.offset))
        let reader = try CheckpointReader(prefix: "\(dir)/train_dir/model.ckpt-2")
        XCTAssertThrowsError(try reader.tensor(named: victim.name)) { error in
            XCTAssertEqual("\(error)", "\(dir)/train_dir/model.ckpt-2.data-00000-of-00001 (tensor '\(victim.name)'): corrupt checkpoint: CRC32C mismatch (the data is corrupt)")
        }
    }

    func testFlippedIndexByteIsABlockCRCError() throws {
        let dir = try Fixtures.scratchCopy(of: "allops", test: self)
        let index = "\(dir)/train_dir/model.ckpt-2.index"
        try Fixtures.flipByte(index, at: 20)
        XCTAssertThrowsError(try CheckpointReader(prefix: "\(dir)/train_dir/model.ckpt-2")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("\(index): corrupt checkpoint: data block at offset 0"), text)
            XCTAssertTrue(text.hasSuffix("CRC32C mismatch (the file is corrupt)"), text)
        }
    }

    func testTruncatedIndexAndDataFiles() throws {
        let dir = try Fixtures.scratchCopy(of: "allops", test: self)
        let index = "\(dir)/train_dir/model.ckpt-2.index"
        try Fixtures.truncate(index, to: 30)
        XCTAssertThrowsError(try CheckpointReader(prefix: "\(dir)/train_dir/model.ckpt-2")) { error in
            XCTAssertEqual("\(error)", "\(index): corrupt checkpoint: file of 30 bytes is shorter than the 48-byte table footer (truncated?)")
        }
        let data = "\(dir)/train_dir/model.ckpt-1.data-00000-of-00001"
        try Fixtures.truncate(data, to: 100)
        let reader = try CheckpointReader(prefix: "\(dir)/train_dir/model.ckpt-1")
        let last = reader.tensorInfos.max { reader.entries[$0.name]!.offset < reader.entries[$1.name]!.offset }!
        XCTAssertThrowsError(try reader.tensor(named: last.name)) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(data) (tensor '\(last.name)'): corrupt checkpoint: truncated: needs bytes"), "\(error)")
        }
    }

    func testMissingShardIsNamed() throws {
        let dir = try Fixtures.scratchCopy(of: "sharded", test: self)
        let prefix = try CheckpointLocation.resolve("\(dir)/train_dir").prefix
        try FileManager.default.removeItem(atPath: "\(prefix).data-00001-of-00002")
        let reader = try CheckpointReader(prefix: prefix)
        let onSecond = reader.entries.first { $0.value.shardID == 1 }!.key
        XCTAssertThrowsError(try reader.tensor(named: onSecond)) { error in
            XCTAssertEqual("\(error)", "\(prefix).data-00001-of-00002 (tensor '\(onSecond)'): corrupt checkpoint: data shard 2 of 2 is missing")
        }
    }

    func testUnknownTensorAndMissingCheckpoint() throws {
        let reader = try CheckpointReader(prefix: Fixtures.path("allops/train_dir/model.ckpt-2"))
        XCTAssertThrowsError(try reader.tensor(named: "nope")) { error in
            XCTAssertEqual("\(error)", "\(Fixtures.path("allops/train_dir/model.ckpt-2")).index: no tensor named 'nope' in the checkpoint")
        }
        XCTAssertThrowsError(try CheckpointLocation.resolve(Fixtures.path("allops/train_dir/model.ckpt-9"))) { error in
            XCTAssertEqual("\(error)", "\(Fixtures.path("allops/train_dir/model.ckpt-9")).index: no such checkpoint; expected a training directory or a checkpoint prefix")
        }
    }

    func testStateFileWithForeignAbsolutePathsFallsBackToTheDirectory() throws {
        let dir = try Fixtures.scratchCopy(of: "allops", test: self)
        let state = """
            model_checkpoint_path: "/home/someone/else/train_dir/model.ckpt-1"
            all_model_checkpoint_paths: "/home/someone/else/train_dir/model.ckpt-1"
            all_model_checkpoint_timestamps: 1591833600.5
            """
        try state.write(toFile: "\(dir)/train_dir/checkpoint", atomically: true, encoding: .utf8)
        let location = try CheckpointLocation.resolve("\(dir)/train_dir")
        XCTAssertEqual(location.prefix, "\(dir)/train_dir/model.ckpt-1")
        XCTAssertEqual(location.timestamp, 1591833600.5)
        try "model_checkpoint_path: model.ckpt-1\"".write(toFile: "\(dir)/train_dir/checkpoint", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try CheckpointLocation.resolve("\(dir)/train_dir")) { error in
            XCTAssertEqual("\(error)", "\(dir)/train_dir/checkpoint:1:24: field 'model_checkpoint_path' holds a string (in quotes), found 'model.ckpt'")
        }
    }
}
