import FileIO

/// Folders outside the repository that its manifests may read, each under a name: a manifest
/// path `@imagenet/val/calib.npy` is `val/calib.npy` under the folder named `imagenet`.
///
/// The user names them on their machine (`--data-root NAME=DIR`, `VAIQ_DATA_ROOTS`), never the
/// manifests, so a cloned repository cannot aim reads anywhere by itself. Files under a root are
/// hashed by content like every input and its folder is never part of a key: the same dataset at
/// another place, or on another machine, builds the same bytes and reruns nothing.
public struct DataRoots: Sendable, Equatable {
    /// Name -> absolute folder, symbolic links resolved.
    public private(set) var folders: [String: String] = [:]

    public static let environmentVariable = "VAIQ_DATA_ROOTS"

    public init() {}

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// The environment's entries (`NAME=DIR`, separated by `:`) and then the command line's
    /// (which win for a name both give); relative folders are taken from `currentDirectory`.
    public static func parse(environment: String?, arguments: [String], currentDirectory: String) throws(Failure) -> DataRoots {
        var roots = DataRoots()
        let fromEnvironment = (environment ?? "").split(separator: ":").map(String.init)
        for (entry, source) in fromEnvironment.map({ ($0, environmentVariable) }) + arguments.map({ ($0, "--data-root") }) {
            guard let equals = entry.firstIndex(of: "="), equals != entry.startIndex, entry.index(after: equals) != entry.endIndex else {
                throw Failure(description: "\(source): '\(entry)' is not NAME=DIR")
            }
            let name = String(entry[..<equals]), folder = String(entry[entry.index(after: equals)...])
            guard name.first != ".", name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_-.".contains($0)) }) else {
                throw Failure(description: "\(source): data root name '\(name)' must be letters, digits, '_', '-' or '.' (not starting with '.')")
            }
            let absolute = FileIO.resolve(folder, relativeTo: currentDirectory)
            guard FileIO.isDirectory(absolute), let real = FileIO.realPath(absolute) else {
                throw Failure(description: "\(source): data root '\(name)': '\(folder)' is not a folder")
            }
            roots.folders[name] = real
        }
        return roots
    }
}
