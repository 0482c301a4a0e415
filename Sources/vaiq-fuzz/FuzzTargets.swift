import BuildCore
import FileIO
import Imaging
import Foundation
import Manifest
import PTQ
import RemoteCache
import TFProto
import TensorFlowIO
import Tensors

/// The fuzz targets: each takes one input and must return (an error is fine; a trap, a sanitizer
/// report or an allocation far beyond the input's size is a bug). `make fuzz` runs each under
/// libFuzzer with AddressSanitizer; CI replays each target's corpus (fuzz/corpus/<target>/).
enum FuzzTargets {
    static let all: [String: @Sendable ([UInt8]) -> Void] = [
        "yaml": yaml, "graphdef": graphdef, "pbtxt": pbtxt, "checkpoint": checkpoint, "npy": npy,
        "record": record, "quantize": quantize, "savedmodel": savedModel, "image": image, "actionresult": actionResult,
    ]

    /// A JPEG or PNG file, decoded as RGB and as gray (at most 4 M pixels: the run's allocation
    /// limit), then preprocessed: resize_shorter + center crop + preset tf, and mean/std on gray.
    static func image(_ data: [UInt8]) {
        if let rgb = try? ImageDecoder.decode(data, path: "fuzz", color: .rgb, limit: 1 << 22) {
            var p = Preprocess()
            p.resize = .shorter(24)
            p.centerCrop = [16, 16]
            p.preset = .tf
            _ = try? Preprocessor.apply(rgb, p, path: "fuzz")
        }
        if let gray = try? ImageDecoder.decode(data, path: "fuzz", color: .gray, limit: 1 << 22) {
            var p = Preprocess()
            p.resize = .exact(height: 7, width: 5)
            p.channelOrder = .gray
            p.mean = [127.5]
            p.std = [50]
            _ = try? Preprocessor.apply(gray, p, path: "fuzz")
        }
    }

    /// A manifest file beside the built-in ones: parse, merge, resolve, expand builds.
    static func yaml(_ data: [UInt8]) {
        _ = try? ManifestLoader.builtins(BuiltinManifests.files + [("manifests/fuzz.yaml", String(decoding: data, as: UTF8.self))])
    }

    /// A binary GraphDef, imported as `run` imports it.
    static func graphdef(_ data: [UInt8]) {
        guard let graph = try? GraphDefIO.decodeBinary(data, path: "fuzz.pb") else { return }
        _ = try? GraphImporter.importGraph(graph, path: "fuzz.pb")
    }

    /// A text GraphDef, imported.
    static func pbtxt(_ data: [UInt8]) {
        guard let graph = try? GraphDefIO.decodeText(data, path: "fuzz.pbtxt") else { return }
        _ = try? GraphImporter.importGraph(graph, path: "fuzz.pbtxt")
    }

    /// A checkpoint index beside a fixed data shard: every tensor it names is read.
    static func checkpoint(_ data: [UInt8]) {
        let prefix = "\(scratch)/model.ckpt"
        guard (try? FileIO.writeAtomically(data, to: prefix + ".index", durable: false)) != nil,
              let reader = try? CheckpointReader(prefix: prefix) else { return }
        for name in reader.entries.keys.sorted() { _ = try? reader.tensor(named: name) }
    }

    /// An .npy file, and the same bytes as an .npz archive.
    static func npy(_ data: [UInt8]) {
        _ = try? NPY.decode(data, name: "fuzz.npy")
        _ = try? NPZ.decode(data, name: "fuzz.npz")
    }

    /// A saved_model.pb beside a fixed variables bundle (a Keras fixture's): every signature frozen.
    static func savedModel(_ data: [UInt8]) {
        let dir = "\(scratch)/savedmodel"
        guard (try? FileIO.writeAtomically(data, to: "\(dir)/saved_model.pb", durable: false)) != nil,
              let names = try? SavedModelReader.signatures(directory: dir) else { return }
        for name in names { _ = try? SavedModelReader.load(directory: dir, signature: name) }
    }

    /// An action record as the cache stores it.
    static func record(_ data: [UInt8]) {
        _ = BuildCache.decodeRecord(data)
    }

    /// An action record as a remote cache serves it (a REAPI ActionResult, untrusted bytes): what
    /// decodes must encode to a message that decodes to the same record.
    static func actionResult(_ data: [UInt8]) {
        guard let record = RemoteActionResult.decode(data) else { return }
        precondition(RemoteActionResult.decode(record.encode()) == record, "ActionResult re-encoding differs")
    }

    /// Optimize, calibrate, position and write the eval, stock-TF and deploy models of a fuzzed
    /// graph with fuzzed calibration data. Input: a 4-byte little-endian length, that many bytes
    /// of binary GraphDef, then the calibration values' bytes (float32, cycled over every input).
    static func quantize(_ data: [UInt8]) {
        guard data.count >= 4 else { return }
        let n = Int(data[0]) | Int(data[1]) << 8 | Int(data[2]) << 16 | Int(data[3]) << 24
        guard n <= data.count - 4, let graph = try? GraphDefIO.decodeBinary(Array(data[4..<(4 + n)]), path: "fuzz.pb"),
              graph.node.count <= 256 else { return }
        let values = Array(data[(4 + n)...])
        let placeholders = graph.node.filter { $0.tfOp == .placeholder }
        guard !placeholders.isEmpty, placeholders.count <= 4 else { return }
        var batch: [String: Tensor] = [:]
        var offset = 0
        for p in placeholders {
            guard let shape = p.attr["shape"]?.shape, !shape.unknownRank, shape.dim.count <= 5 else { return }
            let dims = shape.dim.enumerated().map { $0.element.size < 0 ? ($0.offset == 0 ? 2 : 3) : Int($0.element.size) }
            guard dims.allSatisfy({ $0 >= 0 && $0 <= 4096 }) else { return }
            let count = dims.reduce(1, *)
            guard count <= 16_384 else { return }
            var floats = [Float](repeating: 0, count: count)
            if values.count >= 4 {
                for k in 0..<count {
                    let at = (offset % (values.count / 4)) * 4
                    floats[k] = Float(bitPattern: UInt32(values[at]) | UInt32(values[at + 1]) << 8 | UInt32(values[at + 2]) << 16 | UInt32(values[at + 3]) << 24)
                    offset += 1
                }
            }
            batch[p.name] = Tensor(floats, shape: dims)
        }
        let outputs = GraphOrder.sinks(graph)
        guard !outputs.isEmpty else { return }
        let path = "fuzz.pb"
        guard let optimized = try? Optimizer.optimize(graph, OptimizeOptions(inputNodes: placeholders.map(\.name), outputNodes: outputs, inputShapes: []),
                                                      path: path),
              let statistics = try? PostTrainingQuantizer.calibrate(optimized, outputNodes: outputs, batches: [batch], threads: 1, path: path)
        else { return }
        let config = QuantizeConfig()
        guard let positioned = try? PostTrainingQuantizer.positions(Locator.locate(optimized, config), graph: optimized, statistics: statistics,
                                                                    narrowActivations: false, path: path) else { return }
        let plan = PostTrainingQuantizer.adjust(positioned, graph: optimized, config: config, outputNodes: outputs)
        let eval = PostTrainingQuantizer.evalModel(optimized, plan: plan, narrowActivations: false)
        _ = PostTrainingQuantizer.stockModel(optimized, plan: plan, narrowActivations: false)
        _ = try? Deployer.deployModel(eval, path: path)
    }

    /// A private folder holding the checkpoint target's data shard (a copy of a fixture's).
    static let scratch: String = {
        let dir = NSTemporaryDirectory() + "vaiq-fuzz-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let shard = ProcessInfo.processInfo.environment["VAIQ_FUZZ_SHARD"] ?? "Tests/Fixtures/allops/train_dir/model.ckpt-2.data-00000-of-00001"
        if let bytes = FileManager.default.contents(atPath: shard) {
            FileManager.default.createFile(atPath: "\(dir)/model.ckpt.data-00000-of-00001", contents: bytes)
        }
        // The savedmodel target's bundle.
        let variables = ProcessInfo.processInfo.environment["VAIQ_FUZZ_SAVED_MODEL"] ?? "Tests/Fixtures/savedmodel/functional/model/variables"
        try? FileManager.default.createDirectory(atPath: "\(dir)/savedmodel/variables", withIntermediateDirectories: true)
        for name in ["variables.index", "variables.data-00000-of-00001"] {
            if let bytes = FileManager.default.contents(atPath: "\(variables)/\(name)") {
                FileManager.default.createFile(atPath: "\(dir)/savedmodel/variables/\(name)", contents: bytes)
            }
        }
        return dir
    }()
}

#if VAIQ_LIBFUZZER
/// The target named by VAIQ_FUZZ_TARGET.
let selected: @Sendable ([UInt8]) -> Void = {
    let name = ProcessInfo.processInfo.environment["VAIQ_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTargets.all[name] else {
        let message = Array("set VAIQ_FUZZ_TARGET to one of: \(FuzzTargets.all.keys.sorted().joined(separator: ", "))\n".utf8)
        _ = message.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
        exit(2)
    }
    return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    selected(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
#endif

/// `vaiq-fuzz TARGET PATH...`: runs every file (directories: every file in them, sorted) through
/// the target; prints how many. A trap here is the crash libFuzzer found, reproduced.
enum FuzzReplay {
    static func main() {
        let args = CommandLine.arguments.dropFirst()
        guard let name = args.first, let target = FuzzTargets.all[name], args.count >= 2 else {
            print("usage: vaiq-fuzz TARGET PATH... (targets: \(FuzzTargets.all.keys.sorted().joined(separator: ", ")))")
            exit(2)
        }
        var count = 0
        for path in args.dropFirst() {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { print("no such file: \(path)"); exit(1) }
            let files = isDir.boolValue
                ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted().map { "\(path)/\($0)" } : [path]
            for file in files {
                guard let bytes = FileManager.default.contents(atPath: file) else { continue }
                target([UInt8](bytes))
                count += 1
            }
        }
        print("\(name): \(count) inputs replayed")
    }
}
