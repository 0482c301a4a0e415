import BuildCore
import Dispatch
import FileIO
import Imaging
import Locking
import Manifest
import Tensors

/// prepare(image set, input node): image files -> one float32 NHWC array (`data.npy`), each image
/// decoded (JPEG via libjpeg-turbo's accurate DCT, PNG via libpng) and preprocessed as the
/// manifest declares (`Imaging.Preprocess`); with `classes`, also `labels.npy` (int64 class
/// indices from the images' first folder). The images are inputs by content under their names
/// within the folder, so moving the folder reruns nothing, and changing the mean reruns this
/// stage and what reads its array, never the model's stages.
struct PrepareStage: TypedStage {
    static let identity = StageKind(name: "prepare", version: 1)
    static let data = "data.npy"
    static let labels = "labels.npy"
    static let imagePrefix = "image:"

    struct Settings: Codable, Sendable, Equatable {
        var preprocess: Preprocess
        /// Class names in index order (labels from folders); nil: no labels.
        var classes: [String]?
        /// The images, by name under the folder, in row order.
        var images: [String]
    }

    let declaration: StageDeclaration<Settings>
    let outputNames: [String]
    let maxThreads = 64
    let memoryMegabytes = 4096
    /// The folder as the manifest names it (error messages only).
    let directory: String

    /// `prepare/<calibration|evaluation>/<set>/<node>`; `limit` rows at most (calibration reads
    /// batch_size x calib_iter of them).
    init(section: String, set: String, node: String, images: ImageSetSpec, limit: Int?, classes: [String]?) {
        let files = limit.map { Array(images.files.prefix($0)) } ?? images.files
        var inputs: [String: StageInput] = [:]
        for file in files { inputs[Self.imagePrefix + file.name] = .file(file.path) }
        directory = images.directory
        outputNames = classes == nil ? [Self.data] : [Self.data, Self.labels]
        declaration = StageDeclaration(id: StageID("prepare/\(section)/\(set)/\(node)"),
                                       settings: Settings(preprocess: Self.preprocess(images.preprocess), classes: classes,
                                                          images: files.map(\.name)),
                                       inputs: inputs)
    }

    /// The manifest's block as the library's type (the manifest checked every combination).
    static func preprocess(_ spec: PreprocessSpec) -> Preprocess {
        var p = Preprocess()
        if let n = spec.resizeShorter { p.resize = .shorter(n) }
        if let size = spec.resize { p.resize = .exact(height: size[0], width: size[1]) }
        p.centerCrop = spec.centerCrop
        p.channelOrder = Preprocess.ChannelOrder(rawValue: spec.channelOrder) ?? .rgb
        p.preset = spec.preset.flatMap(Preprocess.Preset.init(rawValue:))
        p.mean = spec.mean.map { Float($0) }
        p.std = spec.std.map { Float($0) }
        p.scale = spec.scale.map { Float($0) }
        return p
    }

    func run(_ context: StageContext) throws -> [String: [UInt8]] {
        let names = settings.images
        let paths = names.map { context.inputPaths[Self.imagePrefix + $0]! }
        let preprocess = settings.preprocess
        let shown = names.map { directory.hasSuffix("/") ? directory + $0 : "\(directory)/\($0)" }
        // Every image is decoded and preprocessed on its own (in parallel); the first failure in
        // row order is the one reported, so the error does not depend on scheduling.
        let results = Locked<[Int: Result<ImageTensor, ImageError>]>([:])
        let done = Locked(0)
        let threads = max(1, min(context.threadBudget, names.count))
        try context.phases.time("decode") {
            DispatchQueue.concurrentPerform(iterations: threads) { worker in
                var i = worker
                while i < names.count, !context.isCancelled() {
                    let result: Result<ImageTensor, ImageError>
                    do throws(ImageError) {
                        let image = try ImageDecoder.decode(file: paths[i], color: preprocess.color)
                        result = .success(try Preprocessor.apply(image, preprocess, path: paths[i]))
                    } catch {
                        result = .failure(ImageError(path: shown[i], reason: error.reason))
                    }
                    results.withLock { $0[i] = result }
                    let count = done.withLock { $0 += 1; return $0 }
                    context.progress(count, names.count)
                    i += threads
                }
            }
            if context.isCancelled() { throw CancellationError() }
        }
        // The images leave the shared table as they are copied into the array, so the peak is
        // about one array (plus an image), not the images and the array together.
        var all = results.withLock { table in
            let taken = table
            table = [:]
            return taken
        }
        var tensors: [ImageTensor] = []
        tensors.reserveCapacity(names.count)
        for i in names.indices {
            switch all.removeValue(forKey: i)! {
            case .success(let t):
                if let first = tensors.first, t.height != first.height || t.width != first.width {
                    throw ImageError(path: shown[i], reason: "is \(t.height)x\(t.width) after preprocessing, but \(shown[0]) is "
                                     + "\(first.height)x\(first.width); rows of one array must match (add resize or center_crop to preprocess)")
                }
                tensors.append(t)
            case .failure(let error): throw error
            }
        }
        let first = tensors[0]
        let row = first.values.count
        let values = [Float](unsafeUninitializedCapacity: names.count * row) { buffer, count in
            for i in tensors.indices {
                tensors[i].values.withUnsafeBufferPointer { source in
                    _ = UnsafeMutableBufferPointer(rebasing: buffer[i * row..<(i + 1) * row]).initialize(from: source)
                }
                tensors[i].values = []
            }
            count = names.count * row
        }
        let shape = [names.count, first.height, first.width, first.channels]
        var outputs = [Self.data: NPY.encode(Tensor(values, shape: shape))]
        if let classes = settings.classes {
            let index = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, Int64($0)) })
            let labels = names.map { index[String($0.prefix { $0 != "/" })]! }
            outputs[Self.labels] = NPY.encode(Tensor(labels, shape: [labels.count]))
        }
        return outputs
    }
}
