import FileIO
import Foundation
@testable import Manifest
import XCTest

final class ManifestLoaderTests: XCTestCase {
    private var root = ""

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "vaiq-manifest-\(UUID().uuidString)"
        for dir in ["manifests", "models/digits/train_dir", "data"] { try FileIO.createDirectories("\(root)/\(dir)") }
        for file in ["models/digits/inference_graph.pb", "models/digits/train_dir/checkpoint", "data/calib.npy",
                     "data/eval_x.npy", "data/eval_y.npy"] {
            try FileIO.writeAtomically([0], to: "\(root)/\(file)")
        }
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: root) }

    private static let valid = """
        models:
          digits:
            graph: models/digits/inference_graph.pb
            checkpoint: models/digits/train_dir
            input_nodes: [input]
            output_nodes: [logits]
            input_shapes: [[-1, 32, 32, 1]]
        calibration:
          digits-200: {inputs: {input: data/calib.npy}, batch_size: 20, calib_iter: 10}
        evaluation:
          digits-test: {inputs: {input: data/eval_x.npy}, labels: data/eval_y.npy, metric: top1}
        strategies:
          w4a8: {extends: pof2s, weight_bit: 4, activation_bit: 8, method: 1}
        builds:
          - model: digits
            calibration: digits-200
            evaluation: digits-test
            matrix: {strategy: [pof2s, w4a8], target: [DPUCZDX8G, DPUCADF8H]}

        """

    private func write(_ text: String, _ name: String = "repo.yaml") throws {
        try FileIO.writeAtomically(Array(text.utf8), to: "\(root)/manifests/\(name)")
    }

    /// The one-line error for a manifest `text`.
    private func error(_ text: String) throws -> String {
        try write(text)
        do {
            _ = try ManifestLoader.load(root: root)
            return "no error"
        } catch {
            return error.description
        }
    }

    func testTheSettingsBlockIsReadAndCheckedKeyByKey() throws {
        try write(Self.valid + """
            settings:
              remote_cache: http://cache.example:8080/vaiq
              remote_upload: false
              executor: slurm
              slurm: {partition: debug, account: ml, time: "01:00:00", extra_args: ["--qos=nightly"]}

            """)
        let settings = try ManifestLoader.load(root: root).settings
        XCTAssertEqual(settings.remoteCache, "http://cache.example:8080/vaiq")
        XCTAssertEqual(settings.remoteUpload, false)
        XCTAssertEqual(settings.executor, .slurm)
        XCTAssertEqual(settings.slurm, RunSettings.Slurm(partition: "debug", account: "ml", time: "01:00:00", extraArgs: ["--qos=nightly"]))
        XCTAssertEqual(settings.origins["executor"]?.description, "manifests/repo.yaml:22:3")

        XCTAssertEqual(try error(Self.valid + "settings: {remote_cahce: http://x}\n"),
                       "manifests/repo.yaml:19:12: unknown key 'remote_cahce' in 'settings'; did you mean 'remote_cache'?")
        XCTAssertEqual(try error(Self.valid + "settings: {remote_cache: \"http://u:pw@x/\"}\n"),
                       "manifests/repo.yaml:19:26: settings: remote_cache: the URL holds credentials; give them in VAIQ_REMOTE_CACHE_TOKEN, or VAIQ_REMOTE_CACHE_USER and VAIQ_REMOTE_CACHE_PASSWORD (the environment only)")
        XCTAssertEqual(try error(Self.valid + "settings: {remote_cache: cache.example}\n"),
                       "manifests/repo.yaml:19:26: settings: remote_cache: expected an http:// or https:// URL; found 'cache.example'")
        XCTAssertEqual(try error(Self.valid + "settings: {executor: kubernetes}\n"),
                       "manifests/repo.yaml:19:22: settings: executor must be one of: local, slurm; found 'kubernetes'")
        XCTAssertEqual(try error(Self.valid + "settings: {remote_upload: sometimes}\n"),
                       "manifests/repo.yaml:19:27: settings: remote_upload must be true or false; found 'sometimes'")
        XCTAssertEqual(try error(Self.valid + "settings: {slurm: {partition: \"-p x\"}}\n"),
                       "manifests/repo.yaml:19:31: settings: slurm: partition must be one word, not empty and not starting with '-'; found '-p x'")
        XCTAssertEqual(try error(Self.valid + "settings: {slurm: {extra_args: --qos=x}}\n"),
                       "manifests/repo.yaml:19:32: settings: slurm: extra_args must be a list of sbatch arguments; found a scalar")
        XCTAssertEqual(try error(Self.valid + "settings: {slurm: {nodes: 2}}\n"),
                       "manifests/repo.yaml:19:20: unknown key 'nodes' in 'settings: slurm'; expected one of: account, extra_args, partition, time")
        try write("settings: {executor: local}\n", "other.yaml")
        XCTAssertEqual(try error(Self.valid + "settings: {executor: slurm}\n"),
                       "manifests/repo.yaml:19:12: setting 'executor' is set twice (first at manifests/other.yaml:1:12)")
    }

    func testValidManifestExpandsTheMatrix() throws {
        try write(Self.valid)
        let manifest = try ManifestLoader.load(root: root)
        XCTAssertEqual(manifest.cells.map(\.name), ["digits/pof2s/DPUCADF8H", "digits/pof2s/DPUCZDX8G",
                                                    "digits/w4a8/DPUCADF8H", "digits/w4a8/DPUCZDX8G"])
        let w4 = try XCTUnwrap(manifest.cells.first { $0.name == "digits/w4a8/DPUCADF8H" })
        XCTAssertEqual(w4.strategy["weight_bit"], .int(4))
        XCTAssertEqual(w4.strategy["adjust_shift_cut"], .int(1), "inherited from pof2s")
        XCTAssertEqual(w4.targetSettings["arch_type"], .string("DPUCADF8H"))
        XCTAssertEqual(manifest.models["digits"]?.inputShapes, [[-1, 32, 32, 1]])
        XCTAssertEqual(manifest.calibrations["digits-200"]?.calibIter, 10)
        XCTAssertEqual(Set(manifest.targets.keys), ["DPUCZDX8G", "DPUCAHX8H", "DPUCADF8H", "DPUCVDX8G", "DPUCV2DX8G", "dpu-sim", "cpu"])
        XCTAssertEqual(Set(manifest.strategies.keys), ["pof2s_tf1", "pof2s", "pof2s_ft", "pof2s_tqt", "fs", "fsx", "w4a8"])
    }

    func testMatrixOverAStrategyFieldNamesCellsReadably() throws {
        try write(Self.valid.replacingOccurrences(of: "matrix: {strategy: [pof2s, w4a8], target: [DPUCZDX8G, DPUCADF8H]}",
                                                  with: "matrix: {target: [DPUCZDX8G], weight_bit: [4, 8]}"))
        let manifest = try ManifestLoader.load(root: root)
        XCTAssertEqual(manifest.cells.map(\.name), ["digits/pof2s.weight_bit=4/DPUCZDX8G", "digits/pof2s.weight_bit=8/DPUCZDX8G"])
        XCTAssertEqual(manifest.cells[0].strategy["weight_bit"], .int(4))
    }

    func testBuildDumpRequest() throws {
        let dumped = "matrix: {strategy: [pof2s, w4a8], target: [DPUCZDX8G, DPUCADF8H]}\n    dump: "
        try write(Self.valid.replacingOccurrences(of: "matrix: {strategy: [pof2s, w4a8], target: [DPUCZDX8G, DPUCADF8H]}",
                                                  with: dumped + "{max_dump_batches: 2, dump_float: true, naming: guide}"))
        let dump = try XCTUnwrap(try ManifestLoader.load(root: root).cells.first?.dump)
        XCTAssertEqual([dump.batchSize, dump.maxDumpBatches], [1, 2])
        XCTAssertTrue(dump.dumpFloat)
        XCTAssertEqual(dump.naming, "guide")
        try write(Self.valid.replacingOccurrences(of: "matrix: {strategy: [pof2s, w4a8], target: [DPUCZDX8G, DPUCADF8H]}", with: dumped + "false"))
        XCTAssertNil(try ManifestLoader.load(root: root).cells.first?.dump)
        XCTAssertEqual(try error(Self.valid.replacingOccurrences(of: "matrix: {strategy: [pof2s, w4a8], target: [DPUCZDX8G, DPUCADF8H]}",
                                                                 with: dumped + "{naming: docs}")),
                       "manifests/repo.yaml:19:20: build 'digits': dump: naming must be code or guide; found 'docs'")
        XCTAssertEqual(try error(Self.valid.replacingOccurrences(of: "matrix: {strategy: [pof2s, w4a8], target: [DPUCZDX8G, DPUCADF8H]}",
                                                                 with: dumped + "{max_batches: 2}")),
                       "manifests/repo.yaml:19:12: unknown key 'max_batches' in build 'digits': dump; expected one of: batch_size, dump_float, max_dump_batches, naming")
    }

    func testYAMLSyntaxError() throws {
        XCTAssertEqual(try error("models:\n  digits: [1, 2\n"),
                       "manifests/repo.yaml:3:1: YAML syntax error: did not find expected ',' or ']' while parsing a flow sequence")
    }

    /// Deep nesting is refused where it crosses the limit (libyaml's scanner is quadratic in the
    /// depth; 50,000 levels once overflowed the stack), and so is an alias bomb.
    func testDeepNestingAndAliasBombsAreRefused() throws {
        let deep = "models: " + String(repeating: "[", count: 50_000) + String(repeating: "]", count: 50_000) + "\n"
        XCTAssertEqual(try error(deep), "manifests/repo.yaml:1:\(9 + 255): lists and mappings nested deeper than 256 levels; a manifest needs a few")
        let deepMaps = "models:\n" + (1...300).map { String(repeating: " ", count: 2 * $0) + "k\($0):" }.joined(separator: "\n") + " 1\n"
        XCTAssertTrue(try error(deepMaps).hasSuffix("lists and mappings nested deeper than 256 levels; a manifest needs a few"))
        var bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for k in 1...9 { bomb += "a\(k): &a\(k) [" + Array(repeating: "*a\(k - 1)", count: 10).joined(separator: ", ") + "]\n" }
        XCTAssertTrue(try error("models: {}\nx:\n" + bomb.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n") + "\n")
            .contains("more than 1000000 YAML nodes with aliases expanded"))
    }

    func testAMatrixOverItsCellLimitIsRefusedBeforeItExpands() throws {
        let m = "matrix: {strategy: [pof2s, w4a8], target: [DPUCZDX8G, DPUCADF8H]}"
        let big = "matrix: {strategy: [pof2s, w4a8], target: [DPUCZDX8G, DPUCADF8H], weight_bit: [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]}"
        XCTAssertEqual(try error(Self.valid.replacingOccurrences(of: m, with: big + "\n    max_cells: 50")),
                       "manifests/repo.yaml:18:13: build 'digits' has 60 cells (strategy 2 x target 2 x weight_bit 15), over its limit of 50; narrow the matrix or raise the build's max_cells")
        XCTAssertEqual(try error(Self.valid.replacingOccurrences(of: m, with: big + "\n    max_cells: 60")), "no error")
        // The default limit, 10,000: 2 x 2 x 15 x 15 x 3 x 3 x 3 = 24,300 cells.
        let huge = big.replacingOccurrences(of: "]}", with: "], activation_bit: [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], method: [0, 1, 2], align_pool: [0, 1, 2], align_concat: [0, 1, 2]}")
        XCTAssertTrue(try error(Self.valid.replacingOccurrences(of: m, with: huge)).contains("has 24300 cells (strategy 2 x target 2 x weight_bit 15 x activation_bit 15 x method 3 x align_pool 3 x align_concat 3), over its limit of 10000"))
        // A matrix value becomes part of a folder name too.
        let slash = try error(Self.valid.replacingOccurrences(of: m, with: "matrix: {target: [DPUCZDX8G], nodes_bit: [{a/b: 4}]}"))
        XCTAssertTrue(slash.hasPrefix("manifests/repo.yaml:18:47: matrix value 'nodes_bit=") && slash.contains("contains '/'"), slash)
    }

    func testUnknownKeyWithSuggestion() throws {
        XCTAssertEqual(try error(Self.valid.replacingOccurrences(of: "    graph: models", with: "    grpah: models")),
                       "manifests/repo.yaml:3:5: unknown key 'grpah' in model 'digits'; did you mean 'graph'?")
        XCTAssertEqual(try error(Self.valid.replacingOccurrences(of: "strategies:", with: "strategys:")),
                       "manifests/repo.yaml:12:1: unknown key 'strategys' in a manifest; did you mean 'strategies'?")
    }

    func testWrongTypeAndRange() throws {
        XCTAssertEqual(try error(Self.valid.replacingOccurrences(of: "weight_bit: 4,", with: "weight_bit: four,")),
                       "manifests/repo.yaml:13:38: strategy 'w4a8': weight_bit must be an integer; found 'four'")
        XCTAssertEqual(try error(Self.valid.replacingOccurrences(of: "weight_bit: 4,", with: "weight_bit: 40,")),
                       "manifests/repo.yaml:13:38: strategy 'w4a8': weight_bit must be in 2...16; found 40")
        XCTAssertEqual(try error(Self.valid.replacingOccurrences(of: "input_nodes: [input]", with: "input_nodes: {a: b}")),
                       "manifests/repo.yaml:5:18: model 'digits': input_nodes must be a list of strings; found a mapping")
    }

    func testMissingReferences() throws {
        XCTAssertEqual(try error(Self.valid.replacingOccurrences(of: "  - model: digits", with: "  - model: digit")),
                       "manifests/repo.yaml:15:12: unknown model 'digit'; did you mean 'digits'?")
        XCTAssertEqual(try error(Self.valid.replacingOccurrences(of: "target: [DPUCZDX8G, DPUCADF8H]", with: "target: [DPUCZDX8G, DPUCADF9H]")),
                       "manifests/repo.yaml:18:59: unknown target 'DPUCADF9H'; did you mean 'DPUCADF8H'?")
        XCTAssertEqual(try error(Self.valid.replacingOccurrences(of: "extends: pof2s", with: "extends: pof3s")),
                       "manifests/repo.yaml:13:19: unknown strategy 'pof3s'; did you mean 'pof2s'?")
    }

    func testDuplicateNamesAcrossFiles() throws {
        try write("calibration:\n  digits-200: {inputs: {input: data/calib.npy}}\n", "more.yaml")
        XCTAssertEqual(try error(Self.valid), "manifests/repo.yaml:9:3: calibration 'digits-200' is defined twice (first at manifests/more.yaml:2:3)")
        XCTAssertEqual(try error("models:\n  a: 1\n  a: 2\n"), "manifests/repo.yaml:3:3: duplicate key 'a' (first defined at 2:3)")
    }

    func testPathsMustExistAndStayInTheRepository() throws {
        XCTAssertEqual(try error(Self.valid.replacingOccurrences(of: "graph: models/digits/inference_graph.pb", with: "graph: models/digits/missing.pb")),
                       "manifests/repo.yaml:3:12: model 'digits': graph: file 'models/digits/missing.pb' does not exist")
        XCTAssertEqual(try error(Self.valid.replacingOccurrences(of: "labels: data/eval_y.npy", with: "labels: ../../etc/passwd")),
                       "manifests/repo.yaml:11:59: evaluation 'digits-test': labels: '../../etc/passwd' leaves the repository (a folder elsewhere is read as '@NAME/...' once named with --data-root NAME=DIR)")
        XCTAssertEqual(try error(Self.valid.replacingOccurrences(of: "checkpoint: models/digits/train_dir", with: "checkpoint: data")),
                       "manifests/repo.yaml:4:17: model 'digits': checkpoint: 'data' is neither a training directory with a 'checkpoint' file nor a checkpoint prefix with a .index file")
    }

    func testExtendsCycleAndIncompleteStrategy() throws {
        XCTAssertEqual(try error(Self.valid.replacingOccurrences(of: "  w4a8: {extends: pof2s,", with: "  a: {extends: b}\n  b: {extends: a}\n  w4a8: {extends: pof2s,")),
                       "manifests/repo.yaml:14:16: 'extends' cycle: a -> b -> a")
        XCTAssertEqual(try error(Self.valid.replacingOccurrences(of: "{extends: pof2s, ", with: "{")),
                       "manifests/repo.yaml:13:3: strategy 'w4a8' does not set 'activation_symmetry'; extend a built-in (e.g. extends: pof2s) or set it")
    }

    func testDuplicateBuildTarget() throws {
        XCTAssertEqual(try error(Self.valid + "  - model: digits\n    calibration: digits-200\n    target: DPUCZDX8G\n"),
                       "manifests/repo.yaml:21:13: build target 'digits/pof2s/DPUCZDX8G' is produced twice (first at manifests/repo.yaml:18:48)")
    }

    func testEmbeddedBuiltinsMatchTheManifestsFolder() throws {
        var dir = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { dir.deleteLastPathComponent() }
        let names = try FileIO.listDirectory(dir.path + "/manifests").filter { $0.hasSuffix(".yaml") }
        XCTAssertEqual(BuiltinManifests.files.map(\.0), names.map { "<builtin>/\($0)" })
        for (name, text) in BuiltinManifests.files {
            let onDisk = try String(contentsOfFile: dir.path + "/manifests/" + name.dropFirst("<builtin>/".count), encoding: .utf8)
            XCTAssertEqual(text + "\n", onDisk, "\(name) is stale: run `make builtins`")
        }
    }

    // MARK: image sources

    private func imageRepository() throws {
        for file in ["data/calib/a.jpg", "data/calib/b.png", "data/calib/notes.txt", "data/calib/.hidden.jpg",
                     "data/eval/cat/1.jpg", "data/eval/cat/2.JPG", "data/eval/dog/1.png", "data/empty/.keep"] {
            try FileIO.createDirectories(FileIO.directoryName("\(root)/\(file)"))
            try FileIO.writeAtomically([0], to: "\(root)/\(file)")
        }
    }

    private func imageManifest(calibration: String = "images: {dir: data/calib}",
                               preprocess: String = "{resize_shorter: 72, center_crop: [64, 64], preset: tf}",
                               evaluation: String = "images: {dir: data/eval}", labels: String = "folders") -> String {
        """
        models:
          digits: {graph: models/digits/inference_graph.pb, checkpoint: models/digits/train_dir, input_nodes: [input], output_nodes: [logits]}
        calibration:
          c:
            inputs:
              input: {\(calibration), preprocess: \(preprocess)}
        evaluation:
          e:
            inputs:
              input: {\(evaluation), preprocess: \(preprocess)}
            labels: \(labels)
        builds:
          - {model: digits, calibration: c, evaluation: e, matrix: {strategy: [pof2s], target: [DPUCZDX8G]}}

        """
    }

    func testImageFoldersListFilesAndLabelsFromFolders() throws {
        try imageRepository()
        try write(imageManifest())
        let manifest = try ManifestLoader.load(root: root)
        guard case .images(let calib)? = manifest.calibrations["c"]?.inputs["input"] else { return XCTFail("not images") }
        XCTAssertEqual(calib.files.map(\.name), ["a.jpg", "b.png"])
        XCTAssertEqual(calib.files.map(\.path), ["data/calib/a.jpg", "data/calib/b.png"])
        XCTAssertEqual(calib.preprocess.resizeShorter, 72)
        XCTAssertEqual(calib.preprocess.centerCrop, [64, 64])
        XCTAssertEqual(calib.preprocess.preset, "tf")
        guard case .images(let eval)? = manifest.evaluations["e"]?.inputs["input"] else { return XCTFail("not images") }
        XCTAssertEqual(eval.files.map(\.name), ["cat/1.jpg", "cat/2.JPG", "dog/1.png"])
        guard case .folders(let classes, _)? = manifest.evaluations["e"]?.labels else { return XCTFail("not folders") }
        XCTAssertEqual(classes, ["cat", "dog"])
        // A glob with '/' matches the path under dir; without, file names at any depth.
        try write(imageManifest(evaluation: "images: {dir: data/eval, glob: \"dog/*\"}"))
        guard case .images(let dogs)? = try ManifestLoader.load(root: root).evaluations["e"]?.inputs["input"] else { return XCTFail() }
        XCTAssertEqual(dogs.files.map(\.name), ["dog/1.png"])
        try write(imageManifest(evaluation: "images: {dir: data/eval, glob: \"*.jpg\"}"))
        guard case .images(let jpegs)? = try ManifestLoader.load(root: root).evaluations["e"]?.inputs["input"] else { return XCTFail() }
        XCTAssertEqual(jpegs.files.map(\.name), ["cat/1.jpg"])
        // classes: fixes the order.
        try write(imageManifest().replacingOccurrences(of: "labels: folders", with: "labels: folders\n    classes: [dog, cat]"))
        guard case .folders(let listed, _)? = try ManifestLoader.load(root: root).evaluations["e"]?.labels else { return XCTFail() }
        XCTAssertEqual(listed, ["dog", "cat"])
    }

    func testBadImageSourcesAreOneErrorEach() throws {
        try imageRepository()
        XCTAssertEqual(try error(imageManifest(calibration: "images: {dir: data/empty}")),
                       "manifests/repo.yaml:6:29: calibration 'c': input 'input': images: folder 'data/empty' has no files; expected JPEG or PNG images")
        XCTAssertEqual(try error(imageManifest(calibration: "images: {dir: data/calib, glob: \"*.jpeg\"}")),
                       "manifests/repo.yaml:6:47: calibration 'c': input 'input': images: glob '*.jpeg' matches none of the 3 files in 'data/calib'")
        XCTAssertEqual(try error(imageManifest(calibration: "images: {dir: data/nowhere}")),
                       "manifests/repo.yaml:6:29: calibration 'c': input 'input': images: dir: folder 'data/nowhere' does not exist")
        XCTAssertEqual(try error(imageManifest(calibration: "images: {dir: ../elsewhere}")),
                       "manifests/repo.yaml:6:29: calibration 'c': input 'input': images: dir: '../elsewhere' leaves the repository (a folder elsewhere is read as '@NAME/...' once named with --data-root NAME=DIR)")
        XCTAssertEqual(try error(imageManifest(preprocess: "{preset: tf, mean: [1, 2, 3]}")),
                       "manifests/repo.yaml:6:73: calibration 'c': input 'input': preprocess: mean cannot be combined with preset 'tf', which sets the channel order and normalization itself")
        XCTAssertEqual(try error(imageManifest(preprocess: "{std: [1, 0, 1]}")),
                       "manifests/repo.yaml:6:60: calibration 'c': input 'input': preprocess: std must be positive; found 0.0")
        XCTAssertEqual(try error(imageManifest(preprocess: "{mean: [1, 2]}")),
                       "manifests/repo.yaml:6:61: calibration 'c': input 'input': preprocess: mean must have 1 or 3 values (one per channel); found 2")
        XCTAssertEqual(try error(imageManifest(preprocess: "{resize: [64, 64], resize_shorter: 64}")),
                       "manifests/repo.yaml:6:63: calibration 'c': input 'input': preprocess: give resize_shorter or resize, not both")
        XCTAssertEqual(try error(imageManifest(preprocess: "{layout: nchw}")),
                       "manifests/repo.yaml:6:63: calibration 'c': input 'input': preprocess: layout must be nhwc (TensorFlow's image layout; the DPU compiler expects it); found 'nchw'")
        XCTAssertEqual(try error(imageManifest(preprocess: "{center_crop: 64}")),
                       "manifests/repo.yaml:6:68: calibration 'c': input 'input': preprocess: center_crop must be [height, width]; found a scalar")
        XCTAssertEqual(try error(imageManifest(preprocess: "{mean: 1, colour: bgr}")),
                       "manifests/repo.yaml:6:64: unknown key 'colour' in calibration 'c': input 'input': preprocess; expected one of: center_crop, channel_order, dtype, layout, mean, preset, resize, resize_shorter, scale, std")
        XCTAssertEqual(try error(imageManifest(evaluation: "images: {dir: data/calib}")),
                       "manifests/repo.yaml:11:13: evaluation 'e': labels: folders: 'data/calib/a.jpg' is not in a class folder; expected data/calib/<class>/<image>")
        XCTAssertEqual(try error(imageManifest().replacingOccurrences(of: "labels: folders", with: "labels: folders\n    classes: [cat]")),
                       "manifests/repo.yaml:12:14: evaluation 'e': 'data/eval/dog/1.png' is in folder 'dog', which classes does not list")
    }
}
