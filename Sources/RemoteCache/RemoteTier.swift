import BuildCore
import Dispatch
import FileIO
import Locking

/// The build engine's shared cache over Bazel's HTTP caching protocol (`SharedActionCache`).
///
/// - An action is named remotely by the SHA-256 of its canonical key text (`ActionRecord.keyText`:
///   kind, version, parameters and the inputs' content digests): `/ac/<sha256>` holds a REAPI
///   `ActionResult` listing each output's SHA-256 and size; `/cas/<sha256>` holds the bytes.
/// - A fetch downloads the record and every output, checks each against its SHA-256 and size, and
///   stores it in the local cache (which names it by XXH3 as always). A record that cannot be read,
///   lacks an output the stage must make, or names a blob that is missing or does not hash to its
///   name is a miss: the stage runs here, and its upload then replaces the bad blob.
/// - An upload (after a stage ran) sends each output that the server does not have (HEAD), then the
///   record, so a record is never visible before its blobs. Uploads run in the background, at most
///   `parallelUploads` at once, and overlap with the stages that run meanwhile; `finish` waits.
/// - Any failure talking to the server (down, slow past the timeouts after the retries, refusing)
///   turns the remote cache off for the rest of the build, with one warning: reads and uploads after
///   a failed read, uploads alone after a failed upload. The build goes on locally.
public final class RemoteTier: SharedActionCache, Sendable {
    public struct Statistics: Sendable, Equatable {
        /// Actions found and downloaded.
        public var hits = 0
        /// Lookups that found nothing usable (the corrupt ones included).
        public var misses = 0
        /// Records that could not be used, and blobs missing or not matching their SHA-256.
        public var corrupt = 0
        /// Action records and blobs sent.
        public var uploadedActions = 0
        public var uploadedBlobs = 0
        public var bytesDownloaded = 0
        public var bytesUploaded = 0
        /// The one warning given, if the remote cache was turned off.
        public var warning: String?
    }

    public let client: HTTPRemoteCache
    public let uploads: Bool
    private let warn: @Sendable (String) -> Void

    private struct State {
        var readsOff = false
        var uploadsOff = false
        var statistics = Statistics()
        /// Blobs found missing or damaged on the server: uploaded again without asking.
        var suspect = Set<String>()
        /// Blobs the server is known to hold (uploaded, or answered HEAD with 200).
        var present = Set<String>()
    }
    private let state = Locked(State())
    private let queue = DispatchQueue(label: "vaiq-build.remote-uploads", attributes: .concurrent)
    private let group = DispatchGroup()
    private let slots: DispatchSemaphore

    /// - Parameters:
    ///   - upload: false reads the shared cache and never writes it (a laptop beside CI).
    ///   - parallelUploads: at most this many uploads at once (the build's `-j`).
    ///   - warn: receives the one warning line (without "warning: ").
    public init(client: HTTPRemoteCache, upload: Bool = true, parallelUploads: Int = 2, warn: @escaping @Sendable (String) -> Void) {
        self.client = client
        self.uploads = upload
        self.warn = warn
        self.slots = DispatchSemaphore(value: max(1, parallelUploads))
    }

    /// The remote name of an action: the SHA-256 of its canonical key text.
    public static func remoteKey(_ action: ActionRecord) -> String {
        SHA256Digest(of: Array(action.keyText.utf8)).description
    }

    public var statistics: Statistics {
        let client = client.statistics
        return state.withLock { s in
            var out = s.statistics
            out.bytesDownloaded = client.bytesDownloaded
            out.bytesUploaded = client.bytesUploaded
            return out
        }
    }

    // MARK: SharedActionCache

    public func fetch(_ action: ActionRecord, required: [String], into cache: BuildCache) -> [String: ContentDigest]? {
        guard !state.withLock({ $0.readsOff }) else { return nil }
        do throws(RemoteCacheError) {
            guard let bytes = try client.get(.ac, Self.remoteKey(action)) else { return miss() }
            guard let result = RemoteActionResult.decode(bytes),
                  Set(result.outputs.map(\.name)).isSuperset(of: required) else { return miss(corrupt: true) }
            var outputs: [String: ContentDigest] = [:]
            for output in result.outputs {
                var blob: [UInt8] = []
                if output.size > 0 || output.sha256 != Self.emptySHA256 {
                    guard let bytes = try client.get(.cas, output.sha256), bytes.count == output.size,
                          SHA256Digest(of: bytes).description == output.sha256 else {
                        state.withLock { _ = $0.suspect.insert(output.sha256) }
                        return miss(corrupt: true)
                    }
                    blob = bytes
                }
                // A local write failing is the local cache's trouble: the stage runs, and meets it there.
                guard let digest = try? cache.store(blob) else { return miss() }
                outputs[output.name] = digest
            }
            state.withLock { s in
                s.statistics.hits += 1
                s.present.formUnion(result.outputs.map(\.sha256))
            }
            return outputs
        } catch {
            turnOff(reads: true, error)
            return nil
        }
    }

    public func holds(_ action: ActionRecord) -> Bool? {
        guard !state.withLock({ $0.readsOff }) else { return nil }
        do throws(RemoteCacheError) {
            return try client.head(.ac, Self.remoteKey(action))
        } catch {
            turnOff(reads: true, error)
            return nil
        }
    }

    public func upload(_ action: ActionRecord, from cache: BuildCache) {
        guard uploads, !state.withLock({ $0.uploadsOff }) else { return }
        group.enter()
        queue.async { [self] in
            slots.wait()
            defer {
                slots.signal()
                group.leave()
            }
            send(action, from: cache)
        }
    }

    public func finish() { group.wait() }

    // MARK: internals

    private static let emptySHA256 = SHA256Digest(of: [UInt8]()).description

    private func miss(corrupt: Bool = false) -> [String: ContentDigest]? {
        state.withLock { s in
            s.statistics.misses += 1
            if corrupt { s.statistics.corrupt += 1 }
        }
        return nil
    }

    private func send(_ action: ActionRecord, from cache: BuildCache) {
        guard !state.withLock({ $0.uploadsOff }) else { return }
        var outputs: [RemoteActionResult.Output] = []
        do throws(RemoteCacheError) {
            for (name, digest) in action.outputs.sorted(by: { $0.key < $1.key }) {
                // The local object, checked against its XXH3 name; a damaged one is not shared.
                guard let bytes = try? cache.verifiedLoad(digest) else { return }
                let sha = SHA256Digest(of: bytes).description
                outputs.append(.init(name: name, sha256: sha, size: bytes.count))
                if bytes.isEmpty { continue }
                let (known, suspect) = state.withLock { ($0.present.contains(sha), $0.suspect.contains(sha)) }
                if known && !suspect { continue }
                var needed = suspect
                if !needed { needed = try !client.head(.cas, sha) }
                if needed {
                    try client.put(.cas, sha, bytes)
                    state.withLock { s in
                        s.statistics.uploadedBlobs += 1
                        s.suspect.remove(sha)
                    }
                }
                state.withLock { _ = $0.present.insert(sha) }
            }
            try client.put(.ac, Self.remoteKey(action), RemoteActionResult(outputs: outputs).encode())
            state.withLock { $0.statistics.uploadedActions += 1 }
        } catch {
            turnOff(reads: false, error)
        }
    }

    /// Turns reads and uploads (or uploads alone) off for the rest of the build; the first time
    /// anything is turned off, says so.
    private func turnOff(reads: Bool, _ error: RemoteCacheError) {
        let first: Bool = state.withLock { s in
            let first = !s.readsOff && !s.uploadsOff
            if reads { s.readsOff = true }
            s.uploadsOff = true
            return first
        }
        guard first else { return }
        let line = reads ? "\(error); building without the remote cache from here on"
                         : "\(error); no more uploads to the remote cache in this build"
        state.withLock { $0.statistics.warning = line }
        warn(line)
    }
}
