import FileIO
import Foundation
import XCTest

/// `vaiq-build all` with a remote cache: a real nginx with WebDAV per test (tools/start_nginx.sh),
/// clones of examples/digits and of a small fixture repository, each with its own empty local cache.
final class RemoteBuildTests: XCTestCase {
    private var scratch = ""
    private var serverDirectory = ""
    private var url = ""

    override func setUpWithError() throws {
        scratch = NSTemporaryDirectory() + "vaiq-remote-build-\(UUID().uuidString)"
        serverDirectory = "\(scratch)/server"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        let run = Self.script("start_nginx.sh", serverDirectory)
        guard run.status == 0, run.stdout.hasPrefix("http://") else {
            throw XCTSkip("tools/start_nginx.sh failed (\(run.status)): \(run.stderr)")
        }
        url = run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    override func tearDownWithError() throws {
        let run = Self.script("stop_nginx.sh", serverDirectory)
        XCTAssertEqual(run.status, 0, "tools/stop_nginx.sh: \(run.stderr)")
        try? FileManager.default.removeItem(atPath: scratch)
    }

    static func script(_ name: String, _ argument: String) -> (status: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["\(CLITests.repo)/tools/\(name)", argument]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        do { try p.run() } catch { return (-1, "", "\(error)") }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    // MARK: repositories

    /// A copy of examples/digits without its cache and build outputs (a fresh clone).
    private func digitsClone(_ name: String) throws -> String { try cloneExample("digits", to: "\(scratch)/\(name)") }

    /// A small repository over the allops fixture: 2 strategies x 2 targets.
    private func smallClone(_ name: String, settings: String = "") throws -> String {
        let dir = try allopsRepository("\(scratch)/\(name)")
        try (allopsModel() + """
            builds:
              - model: allops
                calibration: calib
                matrix: {strategy: [pof2s_tf1, pof2s], target: [DPUCZDX8G, DPUCADF8H]}

            """ + settings).write(toFile: "\(dir)/manifests/repo.yaml", atomically: true, encoding: .utf8)
        return dir
    }

    private func build(_ repo: String, _ extra: [String] = [], environment: [String: String] = [:]) throws -> (CLITests.Run, [String: Any]) {
        let run = try CLITests.run(["all", "-C", repo, "--json"] + extra, environment: ["CI": "true"].merging(environment) { $1 })
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], run.stdout + run.stderr)
        return (run, json)
    }

    private func outputs(_ repo: String) throws -> [String: Data] { try placedOutputs(repo) }

    private func remote(_ json: [String: Any]) throws -> [String: Any] {
        try XCTUnwrap(json["remote"] as? [String: Any], "no remote section in \(json.keys.sorted())")
    }

    private func serverFiles(_ kind: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "\(serverDirectory)/data/\(kind)")) ?? []).sorted()
    }

    // MARK: tests

    func testASecondCloneOfDigitsRunsNoStageAndPlacesIdenticalOutputs() throws {
        let first = try digitsClone("first")
        let (a, aJSON) = try build(first, environment: ["VAIQ_REMOTE_CACHE": url])
        XCTAssertEqual(a.status, 0, a.stderr)
        XCTAssertGreaterThan(aJSON["ran"] as? Int ?? 0, 0)
        let uploaded = try remote(aJSON)
        XCTAssertEqual(uploaded["uploaded_actions"] as? Int, aJSON["ran"] as? Int, "every stage that ran is uploaded")
        XCTAssertEqual(serverFiles("ac").count, aJSON["ran"] as? Int)
        for name in serverFiles("cas") {
            let bytes = try FileIO.read("\(serverDirectory)/data/cas/\(name)")
            XCTAssertEqual(sha256Hex(bytes), name, "a blob is stored under its SHA-256")
        }

        let second = try digitsClone("second")
        let (b, bJSON) = try build(second, ["--remote-cache", url])
        XCTAssertEqual(b.status, 0, b.stderr)
        XCTAssertEqual(b.stderr, "")
        XCTAssertEqual(bJSON["ran"] as? Int, 0, "stages executed on the second clone")
        XCTAssertGreaterThan(bJSON["fetched"] as? Int ?? 0, 0)
        let fetched = try remote(bJSON)
        XCTAssertEqual(fetched["hits"] as? Int, bJSON["fetched"] as? Int)
        XCTAssertEqual(fetched["misses"] as? Int, 0)
        XCTAssertEqual(fetched["uploaded_actions"] as? Int, 0)
        let stages = try XCTUnwrap(bJSON["stages"] as? [[String: Any]])
        XCTAssertTrue(stages.allSatisfy { ["remote-hit", "cached"].contains($0["outcome"] as? String ?? "") })
        XCTAssertEqual(try outputs(first), try outputs(second))
        XCTAssertFalse(try outputs(second).isEmpty)

        // `why` says where the outputs came from; a third build is a local no-op.
        let why = try CLITests.run(["why", "digits/pof2s/*", "-C", second])
        XCTAssertEqual(why.status, 0, why.stderr)
        XCTAssertTrue(why.stdout.contains("freeze/digits: up to date (its outputs came from the remote cache)"), why.stdout)
        let (c, cJSON) = try build(second, ["--remote-cache", url])
        XCTAssertEqual(c.status, 0, c.stderr)
        XCTAssertEqual(cJSON["ran"] as? Int, 0)
        XCTAssertEqual(cJSON["fetched"] as? Int, 0)
        XCTAssertEqual(try remote(cJSON)["hits"] as? Int, 0)
    }

    func testAServerStoppedMidBuildCostsOneWarningAndTheBuildSucceeds() throws {
        let repo = try digitsClone("clone")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLITests.binary)
        p.arguments = ["all", "-C", repo, "--remote-cache", url]
        p.environment = ProcessInfo.processInfo.environment.merging(["CI": "true"]) { $1 }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        let stdout = Collected("")
        let stopped = DispatchSemaphore(value: 0)
        let serverDirectory = serverDirectory
        out.fileHandleForReading.readabilityHandler = { handle in
            let chunk = String(decoding: handle.availableData, as: UTF8.self)
            let first = stdout.update { text in
                let before = text.contains(" ran ")
                text += chunk
                return !before && text.contains(" ran ")
            }
            // The first stage has run (and its upload started): the server goes away.
            if first {
                _ = RemoteBuildTests.script("stop_nginx.sh", serverDirectory)
                stopped.signal()
            }
        }
        try p.run()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        out.fileHandleForReading.readabilityHandler = nil
        XCTAssertEqual(stopped.wait(timeout: .now() + 5), .success, "the server was never stopped")
        let stderr = String(decoding: e, as: UTF8.self)
        XCTAssertEqual(p.terminationStatus, 0, stderr)
        let warnings = stderr.split(separator: "\n").filter { $0.hasPrefix("warning:") }
        XCTAssertEqual(warnings.count, 1, stderr)
        XCTAssertTrue(warnings.first?.contains("remote cache") == true, stderr)
        XCTAssertEqual(stderr.split(separator: "\n").count, 1, "nothing but the warning on stderr: \(stderr)")
        let text = stdout.value
        XCTAssertTrue(text.contains("vaiq-build: "), text)
        XCTAssertFalse(text.contains("FAILED"), text)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(repo)/build/digits/pof2s/DPUCZDX8G/deploy_model_800.pb"))
    }

    func testACorruptBlobIsAMissAndIsUploadedAgain() throws {
        let first = try smallClone("first")
        let (a, _) = try build(first, ["--remote-cache", url])
        XCTAssertEqual(a.status, 0, a.stderr)
        // Flip a byte in the largest blob on the server.
        let blobs = serverFiles("cas").map { "\(serverDirectory)/data/cas/\($0)" }
        let largest = try XCTUnwrap(blobs.max { (try! FileIO.read($0)).count < (try! FileIO.read($1)).count })
        var bytes = try FileIO.read(largest)
        bytes[bytes.count / 2] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: largest))

        let second = try smallClone("second")
        let (b, bJSON) = try build(second, ["--remote-cache", url])
        XCTAssertEqual(b.status, 0, b.stderr)
        XCTAssertEqual(b.stderr, "", "a corrupt blob is a miss, not a warning or an error")
        let stats = try remote(bJSON)
        XCTAssertGreaterThanOrEqual(stats["corrupt"] as? Int ?? 0, 1)
        XCTAssertGreaterThanOrEqual(stats["misses"] as? Int ?? 0, 1)
        XCTAssertGreaterThan(bJSON["ran"] as? Int ?? 0, 0, "the stage whose blob is corrupt runs here")
        XCTAssertGreaterThanOrEqual(stats["uploaded_blobs"] as? Int ?? 0, 1)
        XCTAssertEqual(sha256Hex(try FileIO.read(largest)), FileIO.baseName(largest), "the blob was uploaded again, whole")
        XCTAssertEqual(try outputs(first), try outputs(second))

        let third = try smallClone("third")
        let (c, cJSON) = try build(third, ["--remote-cache", url])
        XCTAssertEqual(c.status, 0, c.stderr)
        XCTAssertEqual(cJSON["ran"] as? Int, 0)
        XCTAssertEqual(try remote(cJSON)["corrupt"] as? Int, 0)
        XCTAssertEqual(try outputs(first), try outputs(third))
    }

    func testAnUnreadableRecordIsAMiss() throws {
        let first = try smallClone("first")
        XCTAssertEqual(try build(first, ["--remote-cache", url]).0.status, 0)
        for name in serverFiles("ac") {
            try Data("not an ActionResult \u{FF}".utf8).write(to: URL(fileURLWithPath: "\(serverDirectory)/data/ac/\(name)"))
        }
        let second = try smallClone("second")
        let (b, bJSON) = try build(second, ["--remote-cache", url])
        XCTAssertEqual(b.status, 0, b.stderr)
        XCTAssertEqual(bJSON["fetched"] as? Int, 0)
        XCTAssertEqual(try remote(bJSON)["corrupt"] as? Int, try remote(bJSON)["misses"] as? Int)
        XCTAssertEqual(try outputs(first), try outputs(second))
    }

    func testUploadsCanBeTurnedOffByFlagEnvironmentOrManifest() throws {
        let byFlag = try smallClone("flag")
        let (a, aJSON) = try build(byFlag, ["--remote-cache", url, "--remote-upload=false"])
        XCTAssertEqual(a.status, 0, a.stderr)
        XCTAssertEqual(try remote(aJSON)["uploaded_actions"] as? Int, 0)
        let byEnvironment = try smallClone("environment")
        XCTAssertEqual(try build(byEnvironment, ["--remote-cache", url], environment: ["VAIQ_REMOTE_UPLOAD": "false"]).0.status, 0)
        let byManifest = try smallClone("manifest", settings: "settings: {remote_cache: \(url), remote_upload: false}\n")
        let (c, cJSON) = try build(byManifest)
        XCTAssertEqual(c.status, 0, c.stderr)
        XCTAssertEqual(try remote(cJSON)["url"] as? String, url, "the manifest names the remote cache")
        XCTAssertEqual(serverFiles("ac"), [])
        XCTAssertEqual(serverFiles("cas"), [])
        // The flag wins over the manifest; --no-remote-cache over everything.
        let (d, dJSON) = try build(byManifest, ["--no-remote-cache"])
        XCTAssertEqual(d.status, 0, d.stderr)
        XCTAssertNil(dJSON["remote"])
        try FileManager.default.removeItem(atPath: "\(byManifest)/cache")
        XCTAssertEqual(try build(byManifest, ["--remote-upload=true"]).0.status, 0)
        XCTAssertFalse(serverFiles("ac").isEmpty)
    }

    func testTheTokenIsInNoLogCacheEntryBuildFileOrJSON() throws {
        let token = "tok-\(UUID().uuidString)-planted"
        let repo = try smallClone("clone", settings: "settings: {remote_cache: \(url)}\n")
        let environment = ["VAIQ_REMOTE_CACHE_TOKEN": token]
        var shown = ""
        let (a, aJSON) = try build(repo, environment: environment)
        XCTAssertEqual(a.status, 0, a.stderr)
        XCTAssertGreaterThan(try remote(aJSON)["uploaded_actions"] as? Int ?? 0, 0)
        shown += a.stdout + a.stderr
        let plain = try CLITests.run(["all", "-C", repo, "--explain", "-v"], environment: environment.merging(["CI": "true"]) { $1 })
        shown += plain.stdout + plain.stderr
        let why = try CLITests.run(["why", "all", "-C", repo], environment: environment)
        shown += why.stdout + why.stderr
        // A server that refuses (401) and one that quotes the Authorization header back (403).
        for prefix in ["/private", "/echo"] {
            try? FileManager.default.removeItem(atPath: "\(repo)/cache")
            let refused = try CLITests.run(["all", "-C", repo, "--remote-cache", url + prefix], environment: environment.merging(["CI": "true"]) { $1 })
            XCTAssertEqual(refused.status, 0, refused.stderr)
            XCTAssertEqual(refused.stderr.split(separator: "\n").filter { $0.hasPrefix("warning: remote cache") }.count, 1, refused.stderr)
            shown += refused.stdout + refused.stderr
        }
        XCTAssertFalse(shown.contains(token), "the token was printed")
        // It did reach the server.
        let log = String(decoding: try FileIO.read("\(serverDirectory)/logs/access.log"), as: UTF8.self)
        XCTAssertTrue(log.contains("Bearer \(token)"))
        // No file of the repository (cache, build/, the build log, manifests) holds it.
        let walker = try XCTUnwrap(FileManager.default.enumerator(atPath: repo))
        var checked = 0
        for case let path as String in walker {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: "\(repo)/\(path)", isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            let bytes = try FileIO.read("\(repo)/\(path)")
            XCTAssertNil(bytes.firstRange(of: Array(token.utf8)), "\(path) holds the token")
            checked += 1
        }
        XCTAssertGreaterThan(checked, 50)
    }

    func testCredentialsInAURLAndBadSettingsAreRefused() throws {
        let repo = try smallClone("clone")
        let flag = try CLITests.run(["all", "-C", repo, "--remote-cache", "http://user:secret@127.0.0.1:1/"])
        XCTAssertEqual(flag.status, 1)
        XCTAssertEqual(flag.stderr, "error: --remote-cache: the URL holds credentials; give them in VAIQ_REMOTE_CACHE_TOKEN, or VAIQ_REMOTE_CACHE_USER and VAIQ_REMOTE_CACHE_PASSWORD (the environment only)\n")
        let upload = try CLITests.run(["all", "-C", repo, "--remote-cache", url], environment: ["VAIQ_REMOTE_UPLOAD": "maybe"])
        XCTAssertEqual(upload.stderr, "error: $VAIQ_REMOTE_UPLOAD must be true or false; found 'maybe'\n")
        XCTAssertEqual(upload.status, 1)
        let scheme = try CLITests.run(["all", "-C", repo, "--remote-cache", "ftp://127.0.0.1/"])
        XCTAssertEqual(scheme.stderr, "error: --remote-cache: expected an http:// or https:// URL; found 'ftp://127.0.0.1/'\n")
        let inManifest = try smallClone("manifest", settings: "settings:\n  remote_cache: http://me:pw@127.0.0.1:1/\n")
        let r = try CLITests.run(["all", "-C", inManifest])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stderr, "error: manifests/repo.yaml:14:17: settings: remote_cache: the URL holds credentials; give them in VAIQ_REMOTE_CACHE_TOKEN, or VAIQ_REMOTE_CACHE_USER and VAIQ_REMOTE_CACHE_PASSWORD (the environment only)\n")
        XCTAssertTrue(serverFiles("ac").isEmpty)
    }

    func testADownServerIsOneWarningAndALocalBuild() throws {
        let repo = try smallClone("clone")
        XCTAssertEqual(Self.script("stop_nginx.sh", serverDirectory).status, 0)
        let (r, json) = try build(repo, ["--remote-cache", url])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, r.stderr)
        XCTAssertTrue(lines.first?.hasPrefix("warning: remote cache GET \(url)/ac/") == true, r.stderr)
        XCTAssertTrue(lines.first?.hasSuffix("(3 attempts); building without the remote cache from here on") == true, r.stderr)
        XCTAssertEqual(try remote(json)["warning"] as? String, String(lines.first!.dropFirst("warning: ".count)))
        XCTAssertGreaterThan(json["ran"] as? Int ?? 0, 0)
    }
}

/// A repository at `dir` with the allops fixture in models/allops and an empty manifests/.
func allopsRepository(_ dir: String) throws -> String {
    try FileManager.default.createDirectory(atPath: "\(dir)/manifests", withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: "\(dir)/models", withIntermediateDirectories: true)
    try FileManager.default.copyItem(atPath: "\(CLITests.repo)/Tests/Fixtures/allops", toPath: "\(dir)/models/allops")
    return dir
}

/// The allops model (output `output`) and its calibration set `calib`, as manifest text.
func allopsModel(output: String = "logits") -> String {
    """
    models:
      allops:
        graph: models/allops/inference_graph.pb
        checkpoint: models/allops/train_dir
        input_nodes: [input]
        output_nodes: [\(output)]
    calibration:
      calib: {inputs: {input: models/allops/input.npy}, batch_size: 2, calib_iter: 1}

    """
}

/// A fresh clone of `examples/<example>` at `dir`: its manifests, models and data, no cache or build outputs.
func cloneExample(_ example: String, to dir: String) throws -> String {
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    for item in ["manifests", "models", "data"] {
        try FileManager.default.copyItem(atPath: "\(CLITests.repo)/examples/\(example)/\(item)", toPath: "\(dir)/\(item)")
    }
    return dir
}

/// Every file under `repo/build` but the build log (which records how each stage was obtained) -> its bytes.
func placedOutputs(_ repo: String) throws -> [String: Data] {
    var files: [String: Data] = [:]
    let root = "\(repo)/build"
    let walker = try XCTUnwrap(FileManager.default.enumerator(atPath: root))
    for case let path as String in walker where !path.hasSuffix(".vaiq_build_log.json") {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: "\(root)/\(path)", isDirectory: &isDirectory), !isDirectory.boolValue {
            files[path] = try Data(contentsOf: URL(fileURLWithPath: "\(root)/\(path)"))
        }
    }
    return files
}

/// SHA-256 through sha256sum (an independent implementation of the name a blob must have).
func sha256Hex(_ bytes: [UInt8]) -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
    let input = Pipe(), output = Pipe()
    p.standardInput = input
    p.standardOutput = output
    try! p.run()
    input.fileHandleForWriting.write(Data(bytes))
    try! input.fileHandleForWriting.close()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    return String(text.prefix(64))
}

/// A value shared with a callback on another thread.
final class Collected<Value>: @unchecked Sendable {
    private var stored: Value
    private let lock = NSLock()
    init(_ value: Value) { stored = value }
    var value: Value { lock.lock(); defer { lock.unlock() }; return stored }
    func update<T>(_ body: (inout Value) -> T) -> T { lock.lock(); defer { lock.unlock() }; return body(&stored) }
}
