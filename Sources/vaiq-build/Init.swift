import ArgumentParser
import FileIO
import Imaging
import Foundation
import Manifest
import Pipeline
import TensorFlowIO

/// `vaiq-build init`: a starter `manifests/` from what a folder holds — a SavedModel or a frozen
/// graph (inputs, outputs and shapes from its signature or graph) and a folder of calibration
/// images (with a preprocess block to review) — and one build of pof2s x a target.
struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a starter manifests/ for a model and a folder of images (then `vaiq-build all`).",
        discussion: """
            Without --saved-model / --frozen-graph, the repository is searched for one SavedModel \
            (a folder with saved_model.pb) or one frozen GraphDef (*.pb with no variables); without \
            --images, for the folder holding the most .jpg/.jpeg/.png files directly. Inputs, \
            outputs and shapes come from the SavedModel's signature or the graph's placeholders. \
            The preprocess block is a guess to review: resize and crop to the model's input size, \
            and preset tf (x / 127.5 - 1) unless the graph scales its input itself. A folder of \
            class folders given with --eval-images becomes an evaluation set labelled by folder \
            names (sorted, as Keras's image_dataset_from_directory). Paths must be inside the \
            repository. Existing manifests are never overwritten.
            """)

    @Option(name: [.customShort("C"), .customLong("repo")], help: "The model repository (default: the current directory).")
    var repo: String = "."

    @Option(name: .customLong("saved-model"), help: "A TF2 SavedModel directory in the repository.")
    var savedModel: String?

    @Option(name: .customLong("signature"), help: "The SavedModel's signature.")
    var signature: String = "serving_default"

    @Option(name: .customLong("frozen-graph"), help: "A frozen GraphDef (.pb) in the repository.")
    var frozenGraph: String?

    @Option(name: .customLong("images"), help: "A folder of calibration images (JPEG, PNG) in the repository.")
    var images: String?

    @Option(name: .customLong("eval-images"), help: "A folder of class folders of images: an evaluation set labelled by folder names.")
    var evalImages: String?

    @Option(help: "The DPU target of the starter build.")
    var target: String = "DPUCZDX8G"

    @Option(help: "The model's name in the manifests (default: the repository folder's name).")
    var name: String?

    func validate() throws {
        if savedModel != nil && frozenGraph != nil { throw ValidationError("give --saved-model or --frozen-graph, not both") }
    }

    func run() throws {
        guard FileIO.isDirectory(repo), let root = FileIO.realPath(repo) else {
            throw CommandFailure(message: "\(repo): not a folder")
        }
        let manifests = "\(root)/manifests"
        if FileIO.isDirectory(manifests), let existing = try? FileIO.listDirectory(manifests).filter({ $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }),
           !existing.isEmpty {
            throw CommandFailure(message: "manifests/\(existing[0]): the repository already has manifests; init writes only into a repository without any")
        }
        guard (try? BuiltinSettings.target(target)) != nil else {
            let known = (try? ManifestLoader.builtins().targets.keys.sorted()) ?? []
            throw CommandFailure(message: "--target \(target): not a built-in DPU target (\(known.joined(separator: ", ")))")
        }
        let model = try findModel(root)
        let modelName = sanitized(name ?? FileIO.baseName(root))
        let calibration = try imageFolder(images, flag: "--images", root: root, classFolders: false)
        let evaluation = try evalImages.map { try imageFolder($0, flag: "--eval-images", root: root, classFolders: true) }
        var text = """
            # A starter manifest written by `vaiq-build init`. Review the lines marked CHECK, then run
            # `vaiq-build all` (and `vaiq-build inspect-data \(modelName)-calib` to see what calibration feeds the model).
            models:
              \(modelName):

            """
        text += model.yaml.map { "    \($0)\n" }.joined()
        let input = model.inputs[0]
        let preprocess = preprocessBlock(input: input, images: calibration, scalesItself: model.scalesItself)
        // The batch size (at most 32) that reads the most images in whole batches.
        let batch = (1...min(32, calibration.count)).max { a, b in (a * (calibration.count / a), a) < (b * (calibration.count / b), b) }!
        text += """

            calibration:
              \(modelName)-calib:
                inputs:
                  \(yamlKey(input.name)):
                    images: {dir: \(calibration.relative)}          # \(calibration.count) images, \(calibration.sizes)

            """
        text += preprocess.map { "        \($0)\n" }.joined()
        text += """
                batch_size: \(batch)
                calib_iter: \(max(1, calibration.count / batch))                     # batch_size x calib_iter images are read

            """
        if let evaluation {
            text += """

                evaluation:
                  \(modelName)-eval:
                    inputs:
                      \(yamlKey(input.name)):
                        images: {dir: \(evaluation.relative)}          # \(evaluation.count) images in \(evaluation.classes.count) class folders
                """
            text += "\n" + preprocess.map { "        \($0)\n" }.joined()
            text += """
                    labels: folders                   # CHECK: class index = position in \(evaluation.classes.joined(separator: ", "))

                """
        }
        text += """

            builds:
              - model: \(modelName)
                calibration: \(modelName)-calib

            """
        if evaluation != nil { text += "    evaluation: \(modelName)-eval\n" }
        text += """
                matrix:
                  strategy: [pof2s]
                  target: [\(target)]

            """
        if model.inputs.count > 1 {
            text += "# CHECK: the model has \(model.inputs.count) inputs; only '\(input.name)' is fed from images above: add the others.\n"
        }
        let path = "\(manifests)/\(modelName).yaml"
        try failing {
            try FileIO.createDirectories(manifests)
            try FileIO.writeAtomically(Array(text.utf8), to: path)
        }
        // The manifests must load as written (the paths, the preprocess block, the target).
        do { _ = try Pipeline(root: root) } catch {
            unlink(path)
            throw CommandFailure(message: "the starter manifest does not load (\(error)); nothing was written")
        }
        print("wrote manifests/\(modelName).yaml: model '\(modelName)' (\(model.description)), calibration from \(calibration.count) images in "
              + "\(calibration.relative)\(evaluation.map { ", evaluation of \($0.count) images in \($0.classes.count) classes" } ?? ""), "
              + "build \(modelName) x pof2s x \(target)")
        print("review the CHECK lines (above all the preprocess block), then run: vaiq-build all")
    }

    // MARK: the model

    private struct Port {
        let name: String
        let shape: [Int]?
    }

    private struct FoundModel {
        let yaml: [String]
        let inputs: [Port]
        let description: String
        /// The graph scales its input itself (a Rescaling layer): feed raw 0...255 values.
        let scalesItself: Bool
    }

    private func findModel(_ root: String) throws -> FoundModel {
        var savedModel = self.savedModel.map { try? relative($0, root: root, flag: "--saved-model") } ?? nil
        if let given = self.savedModel, savedModel == nil { _ = try relative(given, root: root, flag: "--saved-model") }
        var frozen = try frozenGraph.map { try relative($0, root: root, flag: "--frozen-graph") }
        if savedModel == nil && frozen == nil {
            let found = search(root)
            if found.savedModels.count == 1 { savedModel = found.savedModels[0] } else if found.savedModels.isEmpty && found.graphs.count == 1 {
                frozen = found.graphs[0]
            } else if found.savedModels.count + found.graphs.count == 0 {
                throw CommandFailure(message: "\(root): no SavedModel (a folder with saved_model.pb) or frozen graph (.pb) in the repository; "
                                     + "name one with --saved-model DIR or --frozen-graph FILE")
            } else {
                throw CommandFailure(message: "\(root): several models (\((found.savedModels + found.graphs).prefix(4).joined(separator: ", "))); "
                                     + "name one with --saved-model DIR or --frozen-graph FILE")
            }
        }
        if let dir = savedModel {
            let full = "\(root)/\(dir)"
            guard FileIO.exists("\(full)/saved_model.pb") else {
                throw CommandFailure(message: "--saved-model \(dir): not a SavedModel directory (no saved_model.pb in it)")
            }
            let loaded = try failing { try SavedModelReader.load(directory: full, signature: signature) }
            let inputs = loaded.inputs.map { Port(name: $0.key, shape: $0.shape) }
            guard !inputs.isEmpty else { throw CommandFailure(message: "--saved-model \(dir): signature '\(signature)' has no inputs") }
            var yaml = ["saved_model: \(dir)"]
            if signature != "serving_default" { yaml.append("signature: \(signature)") }
            yaml.append("# from signature '\(signature)':")
            for port in inputs { yaml.append("#   input '\(port.name)': \(shapeText(port.shape))") }
            for output in loaded.outputs { yaml.append("#   output '\(output)'") }
            return FoundModel(yaml: yaml, inputs: inputs,
                              description: "SavedModel \(dir), \(inputs.map { "\($0.name) \(shapeText($0.shape))" }.joined(separator: ", "))",
                              scalesItself: Pipeline.normalizesInput(loaded.graph, node: inputs[0].name))
        }
        let file = frozen!
        let graph = try failing { try GraphDefIO.read("\(root)/\(file)") }
        let inspection = GraphInspection(graph: graph)
        guard !inspection.inputs.isEmpty else { throw CommandFailure(message: "--frozen-graph \(file): the graph has no Placeholder inputs") }
        guard !inspection.outputs.isEmpty else { throw CommandFailure(message: "--frozen-graph \(file): no output reached from the inputs") }
        let inputs = inspection.inputs.map { Port(name: $0.name, shape: $0.shape) }
        var yaml = ["graph: \(file)",
                    "input_nodes: [\(inputs.map { yamlKey($0.name) }.joined(separator: ", "))]",
                    "output_nodes: [\(inspection.outputs.map { yamlKey($0.name) }.joined(separator: ", "))]        # CHECK: the outputs to quantize up to"]
        if inputs.allSatisfy({ $0.shape != nil }) {
            yaml.append("input_shapes: [\(inputs.map { "[\($0.shape!.map(String.init).joined(separator: ", "))]" }.joined(separator: ", "))]")
        }
        return FoundModel(yaml: yaml, inputs: inputs, description: "graph \(file), \(inputs.map { "\($0.name) \(shapeText($0.shape))" }.joined(separator: ", "))",
                          scalesItself: Pipeline.normalizesInput(graph, node: inputs[0].name))
    }

    /// SavedModel folders and frozen-graph files under `root` (build/, cache/ and hidden folders skipped).
    private func search(_ root: String) -> (savedModels: [String], graphs: [String]) {
        var savedModels: [String] = [], graphs: [String] = []
        func walk(_ relative: String, depth: Int) {
            guard depth < 8, let names = try? FileIO.listDirectory(relative.isEmpty ? root : "\(root)/\(relative)") else { return }
            if names.contains("saved_model.pb") {
                savedModels.append(relative)
                return
            }
            for name in names where !name.hasPrefix(".") && !(relative.isEmpty && ["build", "cache", "manifests"].contains(name)) {
                let path = relative.isEmpty ? name : "\(relative)/\(name)"
                if FileIO.isDirectory("\(root)/\(path)") { walk(path, depth: depth + 1) } else if name.hasSuffix(".pb"),
                          let graph = try? GraphDefIO.read("\(root)/\(path)"),
                          !graph.node.contains(where: { $0.tfOp.map(TFOp.variableOps.contains) ?? false }) {
                    graphs.append(path)
                }
            }
        }
        walk("", depth: 0)
        return (savedModels, graphs)
    }

    // MARK: the images

    private struct ImageFolder {
        let relative: String
        let count: Int
        let sizes: String
        let classes: [String]
        let smallest: (height: Int, width: Int)
    }

    private func imageFolder(_ given: String?, flag: String, root: String, classFolders: Bool) throws -> ImageFolder {
        var dir: String
        if let given { dir = try relative(given, root: root, flag: flag) } else {
            guard let found = largestImageFolder(root) else {
                throw CommandFailure(message: "\(root): no folder of .jpg/.jpeg/.png images in the repository; name one with \(flag) DIR")
            }
            dir = found
        }
        let full = "\(root)/\(dir)"
        guard FileIO.isDirectory(full) else { throw CommandFailure(message: "\(flag) \(dir): not a folder") }
        let files = imageFiles(full, recursive: classFolders)
        guard !files.isEmpty else {
            throw CommandFailure(message: "\(flag) \(dir): no .jpg, .jpeg or .png files" + (classFolders ? " in class folders (\(dir)/<class>/<image>)" : ""))
        }
        let classes = classFolders ? Array(Set(files.compactMap { $0.split(separator: "/").count > 1 ? String($0.split(separator: "/")[0]) : nil })).sorted() : []
        if classFolders, let loose = files.first(where: { !$0.contains("/") }) {
            throw CommandFailure(message: "\(flag) \(dir): '\(loose)' is not in a class folder; expected \(dir)/<class>/<image>")
        }
        // Image sizes from a sample (headers only would do; a decode of a few files is cheap).
        var heights: [Int] = [], widths: [Int] = []
        for file in files.prefix(16) {
            if let image = try? ImageDecoder.decode(file: "\(full)/\(file)", color: .rgb) {
                heights.append(image.height)
                widths.append(image.width)
            }
        }
        guard let minH = heights.min(), let minW = widths.min() else {
            throw CommandFailure(message: "\(flag) \(dir): none of the first images decodes (try `vaiq-build inspect-data` after writing the manifest by hand)")
        }
        let sizes = heights.min() == heights.max() && widths.min() == widths.max() ? "\(minH)x\(minW)"
            : "\(minH)..\(heights.max()!) x \(minW)..\(widths.max()!) (first \(heights.count))"
        return ImageFolder(relative: dir, count: files.count, sizes: sizes, classes: classes, smallest: (minH, minW))
    }

    private func imageFiles(_ folder: String, recursive: Bool) -> [String] {
        var out: [String] = []
        func walk(_ relative: String, depth: Int) {
            guard let names = try? FileIO.listDirectory(relative.isEmpty ? folder : "\(folder)/\(relative)") else { return }
            for name in names where !name.hasPrefix(".") {
                let path = relative.isEmpty ? name : "\(relative)/\(name)"
                if FileIO.isDirectory("\(folder)/\(path)") {
                    if recursive && depth < 8 { walk(path, depth: depth + 1) }
                } else if ["jpg", "jpeg", "png"].contains(name.split(separator: ".").last.map { $0.lowercased() } ?? "") {
                    out.append(path)
                }
            }
        }
        walk("", depth: 0)
        return out
    }

    private func largestImageFolder(_ root: String) -> String? {
        var best: (String, Int)? = nil
        func walk(_ relative: String, depth: Int) {
            guard depth < 8, let names = try? FileIO.listDirectory(relative.isEmpty ? root : "\(root)/\(relative)") else { return }
            let count = names.filter { ["jpg", "jpeg", "png"].contains($0.split(separator: ".").last.map { $0.lowercased() } ?? "") }.count
            if count > 0, count > (best?.1 ?? 0) { best = (relative, count) }
            for name in names where !name.hasPrefix(".") && !(relative.isEmpty && ["build", "cache"].contains(name)) {
                let path = relative.isEmpty ? name : "\(relative)/\(name)"
                if FileIO.isDirectory("\(root)/\(path)") { walk(path, depth: depth + 1) }
            }
        }
        walk("", depth: 0)
        return best.map { $0.0.isEmpty ? "." : $0.0 }
    }

    /// The preprocess block: resize and crop to the model's input, and a normalization guess.
    private func preprocessBlock(input: Port, images: ImageFolder, scalesItself: Bool) -> [String] {
        var lines = ["preprocess:                     # CHECK: must match how the model was trained"]
        if let shape = input.shape, shape.count == 4, shape[1] > 0, shape[2] > 0 {
            let (h, w) = (shape[1], shape[2])
            if h == w {
                lines.append("  resize_shorter: \(h)                # the shorter side becomes \(h) (TF bilinear, half-pixel centers)")
                lines.append("  center_crop: [\(h), \(w)]")
            } else {
                lines.append("  resize: [\(h), \(w)]")
            }
            if shape[3] == 1 { lines.append("  channel_order: gray") }
        } else {
            lines.append("  # the model's input size is not fixed: add resize or center_crop so that every image has one size")
        }
        if scalesItself {
            lines.append("  # the graph scales its input itself (its first op is arithmetic): values stay 0..255")
        } else if input.shape?.last != 1 {
            lines.append("  preset: tf                        # x / 127.5 - 1, RGB; caffe: BGR minus ImageNet means; torch: x / 255, ImageNet mean/std")
        } else {
            lines.append("  mean: [127.5]")
            lines.append("  std: [127.5]")
        }
        return lines
    }

    // MARK: helpers

    /// `path` (relative to the current directory or absolute) as a path relative to the repository.
    private func relative(_ path: String, root: String, flag: String) throws -> String {
        let cwd = FileManager.default.currentDirectoryPath
        guard let real = FileIO.realPath(FileIO.resolve(path, relativeTo: cwd)) ?? FileIO.realPath(FileIO.resolve(path, relativeTo: root)) else {
            throw CommandFailure(message: "\(flag) \(path): does not exist")
        }
        if real == root { return "." }
        guard real.hasPrefix(root + "/") else {
            throw CommandFailure(message: "\(flag) \(path): is outside the repository \(root); manifests read files inside it (copy it in)")
        }
        return String(real.dropFirst(root.count + 1))
    }

    private func sanitized(_ name: String) -> String {
        let cleaned = String(name.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") ? $0 : "-" })
        return cleaned.isEmpty || cleaned.allSatisfy({ $0 == "-" }) ? "model" : cleaned
    }

    private func yamlKey(_ name: String) -> String {
        name.allSatisfy { $0.isLetter || $0.isNumber || "_-./".contains($0) } ? name : "\"\(name)\""
    }

    private func shapeText(_ shape: [Int]?) -> String {
        shape.map { "[\($0.map { $0 < 0 ? "?" : String($0) }.joined(separator: ", "))]" } ?? "(shape unknown)"
    }
}
