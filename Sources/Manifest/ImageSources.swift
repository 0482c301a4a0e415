import BuildCore
import FileIO
import Foundation

/// Image folders as calibration and evaluation inputs:
///
///     inputs:
///       image:
///         images: {dir: data/calib, glob: "*.jpg"}
///         preprocess: {resize_shorter: 72, center_crop: [64, 64], preset: tf}
///
/// A glob without `/` matches file names at any depth under `dir`; one with `/` matches the path
/// under `dir` (`*/*.png`: one folder level). Without a glob, every `.jpg`, `.jpeg` and `.png` at
/// any depth. Hidden files and folders are skipped; files are sorted by their path under `dir`.
enum ImageSources {
    static let extensions: Set<String> = ["jpg", "jpeg", "png"]
    /// A folder holding more files than this is refused (the list enters every plan).
    static let maxFiles = 1_000_000

    /// The files under `folder` (absolute) matching `glob`, as paths relative to it, sorted.
    static func list(_ folder: String, glob: String?) -> (matched: [String], seen: Int) {
        var matched: [String] = []
        var seen = 0
        func walk(_ relative: String, depth: Int) {
            guard depth < 64, let names = try? FileIO.listDirectory(relative.isEmpty ? folder : "\(folder)/\(relative)") else { return }
            for name in names where !name.hasPrefix(".") {
                let path = relative.isEmpty ? name : "\(relative)/\(name)"
                var st = stat()
                guard lstat("\(folder)/\(path)", &st) == 0 else { continue }
                switch st.st_mode & S_IFMT {
                case S_IFDIR: walk(path, depth: depth + 1)
                case S_IFREG, S_IFLNK:
                    // A link to a file is read like a file; links to folders are not followed.
                    if (st.st_mode & S_IFMT) == S_IFLNK && FileIO.isDirectory("\(folder)/\(path)") { continue }
                    seen += 1
                    guard seen <= maxFiles else { return }
                    if matches(path, name: name, glob: glob) { matched.append(path) }
                default: continue
                }
            }
        }
        walk("", depth: 0)
        return (matched.sorted(), seen)
    }

    static func matches(_ path: String, name: String, glob: String?) -> Bool {
        guard let glob else {
            guard let dot = name.lastIndex(of: ".") else { return false }
            return extensions.contains(name[name.index(after: dot)...].lowercased())
        }
        return glob.contains("/") ? fnmatch(glob, path, FNM_PATHNAME) == 0 : fnmatch(glob, name, 0) == 0
    }
}

extension ManifestLoader.Merger {
    /// `inputs:` of a calibration or evaluation set: per node a `.npy` path or an image source.
    func inputSources(_ r: MappingReader, what: String) throws(ManifestError) -> [String: InputSource] {
        let inputs = try MappingReader(try r.required("inputs"), what: "\(what): inputs")
        var sources: [String: InputSource] = [:]
        for entry in inputs.entries {
            let place = "\(what): input '\(entry.key)'"
            if case .mapping = entry.value {
                sources[entry.key] = .images(try imageSet(entry.value, what: place))
            } else {
                sources[entry.key] = .array(try repositoryPath(entry.value, what: place, mustBe: .file))
            }
        }
        return sources
    }

    private func imageSet(_ node: YAMLNode, what: String) throws(ManifestError) -> ImageSetSpec {
        let r = try MappingReader(node, what: what)
        try r.checkKeys(["images", "preprocess"])
        let imagesNode = try r.required("images")
        let images = try MappingReader(imagesNode, what: "\(what): images")
        try images.checkKeys(["dir", "glob"])
        let dirNode = try images.required("dir")
        let directory = try dirNode.string("\(what): images: dir")
        let folder = try repositoryPath(dirNode, what: "\(what): images: dir", mustBe: .directory)
        let full = FileIO.resolve(folder, relativeTo: root)
        var glob: String? = nil
        if let node = images.optional("glob") {
            let text = try node.string("\(what): images: glob")
            guard !text.isEmpty, !text.hasPrefix("/"), !text.split(separator: "/").contains("..") else {
                throw ManifestError(node.location, "\(what): images: glob '\(text)' must be a pattern under dir (no leading '/', no '..')")
            }
            glob = text
        }
        let (names, seen) = ImageSources.list(full, glob: glob)
        guard seen <= ImageSources.maxFiles else {
            throw ManifestError(dirNode.location, "\(what): images: folder '\(directory)' holds more than \(ImageSources.maxFiles) files; name a smaller folder or a glob")
        }
        guard !names.isEmpty else {
            if seen == 0 {
                throw ManifestError(dirNode.location, "\(what): images: folder '\(directory)' has no files; expected JPEG or PNG images")
            }
            throw ManifestError(images.optional("glob")?.location ?? dirNode.location,
                                "\(what): images: " + (glob.map { "glob '\($0)' matches none of the \(seen) files in '\(directory)'" }
                                                      ?? "none of the \(seen) files in '\(directory)' is a .jpg, .jpeg or .png"))
        }
        let files = names.map { ImageFile(name: $0, path: folder.hasSuffix("/") ? folder + $0 : "\(folder)/\($0)") }
        let preprocess = try preprocessSpec(try r.required("preprocess"), what: "\(what): preprocess")
        return ImageSetSpec(directory: directory, glob: glob ?? "", files: files, preprocess: preprocess, location: node.location)
    }

    private func preprocessSpec(_ node: YAMLNode, what: String) throws(ManifestError) -> PreprocessSpec {
        let r = try MappingReader(node, what: what)
        try r.checkKeys(["resize_shorter", "resize", "center_crop", "channel_order", "mean", "std", "scale", "preset", "layout", "dtype"])
        var spec = PreprocessSpec(location: node.location)
        spec.resizeShorter = try r.optional("resize_shorter")?.int("\(what): resize_shorter", range: 1...16384)
        spec.resize = try r.optional("resize").map { n throws(ManifestError) in try size(n, "\(what): resize") }
        if spec.resizeShorter != nil && spec.resize != nil {
            throw ManifestError(r.optional("resize")!.location, "\(what): give resize_shorter or resize, not both")
        }
        spec.centerCrop = try r.optional("center_crop").map { n throws(ManifestError) in try size(n, "\(what): center_crop") }
        if let n = r.optional("channel_order") {
            spec.channelOrder = try n.string("\(what): channel_order")
            guard ["rgb", "bgr", "gray"].contains(spec.channelOrder) else {
                throw ManifestError(n.location, "\(what): channel_order must be rgb, bgr or gray; found '\(spec.channelOrder)'")
            }
        }
        let channels = spec.channelOrder == "gray" ? 1 : 3
        for key in ["mean", "std"] {
            guard let n = r.optional(key) else { continue }
            let values = try numbers(n, "\(what): \(key)")
            guard values.count == 1 || values.count == channels else {
                throw ManifestError(n.location, "\(what): \(key) must have 1 or \(channels) values (one per channel); found \(values.count)")
            }
            if key == "std", let zero = values.firstIndex(where: { !($0 > 0) }) {
                throw ManifestError(n.location, "\(what): std must be positive; found \(values[zero])")
            }
            if key == "mean" { spec.mean = values } else { spec.std = values }
        }
        if let n = r.optional("scale") {
            let value = try n.double("\(what): scale")
            guard value.isFinite, value != 0 else { throw ManifestError(n.location, "\(what): scale must be a finite non-zero number; found \(value)") }
            guard spec.std.isEmpty else { throw ManifestError(n.location, "\(what): give std or scale, not both") }
            spec.scale = value
        }
        if let n = r.optional("preset") {
            let preset = try n.string("\(what): preset")
            guard ["caffe", "tf", "torch"].contains(preset) else {
                throw ManifestError(n.location, "\(what): preset must be caffe, tf or torch (keras.applications' preprocess_input modes); found '\(preset)'")
            }
            if let clash = ["mean", "std", "scale", "channel_order"].first(where: { r.optional($0) != nil }) {
                throw ManifestError(r.optional(clash)!.location, "\(what): \(clash) cannot be combined with preset '\(preset)', which sets the channel order and normalization itself")
            }
            spec.preset = preset
        }
        if let n = r.optional("layout") {
            let layout = try n.string("\(what): layout")
            guard layout == "nhwc" else {
                throw ManifestError(n.location, "\(what): layout must be nhwc (TensorFlow's image layout; the DPU compiler expects it); found '\(layout)'")
            }
        }
        if let n = r.optional("dtype") {
            let dtype = try n.string("\(what): dtype")
            guard dtype == "float32" else { throw ManifestError(n.location, "\(what): dtype must be float32; found '\(dtype)'") }
        }
        return spec
    }

    private func size(_ node: YAMLNode, _ what: String) throws(ManifestError) -> [Int] {
        guard case .sequence(let items, _) = node, items.count == 2 else {
            throw ManifestError(node.location, "\(what) must be [height, width]; found \(node.kindName)")
        }
        var out: [Int] = []
        for item in items { out.append(try item.int("\(what): each size", range: 1...16384)) }
        return out
    }

    private func numbers(_ node: YAMLNode, _ what: String) throws(ManifestError) -> [Double] {
        let items: [YAMLNode]
        if case .sequence(let list, _) = node { items = list } else { items = [node] }
        var out: [Double] = []
        for item in items {
            let v = try item.double(what)
            guard v.isFinite else { throw ManifestError(item.location, "\(what): \(v) is not a finite number") }
            out.append(v)
        }
        return out
    }

    /// `labels:` of an evaluation: a `.npy` path, or `folders` (with the evaluation's `classes:`).
    func labelSource(_ r: MappingReader, inputs: [String: InputSource], what: String) throws(ManifestError) -> LabelSource {
        let node = try r.required("labels")
        let classesNode = r.optional("classes")
        guard case .scalar("folders", true, _) = node else {
            if let classesNode {
                throw ManifestError(classesNode.location, "\(what): classes apply only to labels: folders")
            }
            return .file(try repositoryPath(node, what: "\(what): labels", mustBe: .file))
        }
        let imageSets = inputs.values.compactMap { if case .images(let set) = $0 { set } else { nil } }
        guard imageSets.count == 1, let set = imageSets.first else {
            throw ManifestError(node.location, "\(what): labels: folders needs exactly one image input; found \(imageSets.count)")
        }
        var folders: [String] = []
        for file in set.files {
            guard let slash = file.name.firstIndex(of: "/") else {
                throw ManifestError(node.location, "\(what): labels: folders: '\(set.directory)/\(file.name)' is not in a class folder; expected \(set.directory)/<class>/<image>")
            }
            folders.append(String(file.name[..<slash]))
        }
        var classes = Array(Set(folders)).sorted()
        if let classesNode {
            let listed = try classesNode.stringList("\(what): classes")
            guard Set(listed).count == listed.count else {
                throw ManifestError(classesNode.location, "\(what): classes lists a name twice")
            }
            if let stray = set.files.first(where: { !listed.contains(String($0.name.prefix { $0 != "/" })) }) {
                throw ManifestError(classesNode.location, "\(what): '\(set.directory)/\(stray.name)' is in folder '\(stray.name.prefix { $0 != "/" })', which classes does not list")
            }
            classes = listed
        }
        return .folders(classes: classes, location: node.location)
    }
}
