import FileIO
import Foundation
import RemoteCache
import XCTest

/// The remote-cache client against a real server: one nginx with WebDAV for the whole class,
/// started by tools/start_nginx.sh and stopped by tools/stop_nginx.sh (see the script for its
/// fixed-answer locations /private/, /unavailable/ and /echo/).
final class RemoteCacheTests: XCTestCase {
    static let repo: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    nonisolated(unsafe) static var serverDirectory = ""
    nonisolated(unsafe) static var serverURL: String?
    nonisolated(unsafe) static var startFailure = ""

    override class func setUp() {
        super.setUp()
        serverDirectory = NSTemporaryDirectory() + "vaiq-remote-cache-\(UUID().uuidString)"
        let run = script("start_nginx.sh", serverDirectory)
        if run.status == 0, run.stdout.hasPrefix("http://") {
            serverURL = run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        } else {
            startFailure = "tools/start_nginx.sh failed (\(run.status)): \(run.stderr)"
        }
    }

    override class func tearDown() {
        let run = script("stop_nginx.sh", serverDirectory)
        if run.status != 0 { print("tools/stop_nginx.sh failed (\(run.status)): \(run.stderr)") }
        try? FileManager.default.removeItem(atPath: serverDirectory)
        super.tearDown()
    }

    static func script(_ name: String, _ argument: String) -> (status: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["\(repo)/tools/\(name)", argument]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        do { try p.run() } catch { return (-1, "", "\(error)") }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    func serverURL() throws -> String {
        try XCTUnwrap(Self.serverURL, Self.startFailure)
    }

    func cache(_ suffix: String = "", token: String? = nil) throws -> HTTPRemoteCache {
        try HTTPRemoteCache(url: try serverURL() + suffix, token: token)
    }

    /// Bytes no other test stores, so each test's PUTs create files (201) of their own.
    func uniqueBytes(_ count: Int = 64) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        let words = (0..<(count + 7) / 8).map { _ in generator.next() }
        return words.withUnsafeBytes { Array($0.prefix(count)) }
    }

    /// nginx writes a request's log line after it has sent the response, so a client can look
    /// before the line is there: wait (up to 5 s) until `ready` holds for the log.
    func accessLog(until ready: (String) -> Bool = { _ in true }) throws -> String {
        let deadline = Date().addingTimeInterval(5)
        while true {
            let log = String(decoding: try FileIO.read("\(Self.serverDirectory)/logs/access.log"), as: UTF8.self)
            if ready(log) || Date() > deadline { return log }
            usleep(10_000)
        }
    }

    // MARK: SHA-256

    // MARK: ActionResult records

    func testActionResultRecordsRoundTripAndHaveTheREAPIWireFormat() throws {
        let a = String(repeating: "a", count: 64), b = String(repeating: "0", count: 63) + "f"
        let record = RemoteActionResult(outputs: [.init(name: "z", sha256: a, size: 300), .init(name: "eval", sha256: b, size: 0)])
        XCTAssertEqual(record.outputs.map(\.name), ["eval", "z"], "sorted by name")
        let bytes = record.encode()
        XCTAssertEqual(RemoteActionResult.decode(bytes), record)
        // ActionResult.output_files (2) { path (1) "z"; digest (2) { hash (1) "aa..."; size_bytes (2) 300 } }
        let second = [0x12, 0x4a, 0x0a, 0x01, 0x7a, 0x12, 0x45, 0x0a, 0x40] + Array(a.utf8) + [0x10, 0xac, 0x02]
        XCTAssertEqual(Array(bytes.suffix(second.count)), second)
        // Fields this tool does not use are skipped: stdout_raw (5), execution_metadata (9), exit_code 0 (4).
        let extra = bytes + [0x2a, 0x02, 0x68, 0x69, 0x4a, 0x00, 0x20, 0x00]
        XCTAssertEqual(RemoteActionResult.decode(extra), record)
        XCTAssertEqual(RemoteActionResult.decode([]), RemoteActionResult(outputs: []))
    }

    func testMalformedActionResultsAreRefused() {
        let good = RemoteActionResult(outputs: [.init(name: "out", sha256: String(repeating: "1", count: 64), size: 5)]).encode()
        for cut in 1..<good.count { XCTAssertNil(RemoteActionResult.decode(Array(good.prefix(cut))), "cut at \(cut)") }
        XCTAssertNil(RemoteActionResult.decode(good + good), "an output named twice")
        XCTAssertNil(RemoteActionResult.decode(good + [0x20, 0x01]), "a non-zero exit code")
        XCTAssertNil(RemoteActionResult.decode([0x0b]), "a group")
        XCTAssertNil(RemoteActionResult.decode([0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), "a huge length")
        let upper = RemoteActionResult(outputs: [.init(name: "out", sha256: String(repeating: "A", count: 64), size: 5)]).encode()
        XCTAssertNil(RemoteActionResult.decode(upper), "an upper-case digest")
        let short = RemoteActionResult(outputs: [.init(name: "out", sha256: "abc", size: 5)]).encode()
        XCTAssertNil(RemoteActionResult.decode(short), "not a SHA-256")
        let unnamed = RemoteActionResult(outputs: [.init(name: "", sha256: String(repeating: "1", count: 64), size: 5)]).encode()
        XCTAssertNil(RemoteActionResult.decode(unnamed), "no name")
    }

    func testSHA256KnownVectors() {
        XCTAssertEqual(SHA256Digest(of: []).description, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256Digest(of: Array("abc".utf8)).description,
                       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let digest = SHA256Digest(of: Array("abc".utf8))
        XCTAssertEqual(SHA256Digest(hex: digest.description), digest)
        XCTAssertEqual(SHA256Digest(hex: digest.description.uppercased()), digest)
        XCTAssertNil(SHA256Digest(hex: String(digest.description.dropLast())))
        XCTAssertNil(SHA256Digest(hex: String(digest.description.dropLast()) + "g"))
    }

    func testFileDigestStreamedInChunksEqualsOneShot() throws {
        let dir = NSTemporaryDirectory() + "vaiq-sha256-\(UUID().uuidString)"
        try FileIO.createDirectories(dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // 2.5 MiB + 7: two whole 1 MiB reads and a ragged tail.
        let bytes = uniqueBytes(5 << 19 + 7)
        try FileIO.writeAtomically(bytes, to: "\(dir)/blob")
        XCTAssertEqual(try SHA256Digest.ofFile("\(dir)/blob"), SHA256Digest(of: bytes))
        try FileIO.writeAtomically([], to: "\(dir)/empty")
        XCTAssertEqual(try SHA256Digest.ofFile("\(dir)/empty"), SHA256Digest(of: []))
        XCTAssertThrowsError(try SHA256Digest.ofFile("\(dir)/nope")) { error in
            XCTAssertEqual("\(error)", "\(dir)/nope: cannot open: No such file or directory")
        }
    }

    // MARK: round trips

    func testPutThenGetAndHeadForContentAndActionRecords() throws {
        let cache = try cache()
        let content = uniqueBytes()
        let digest = SHA256Digest(of: content).description
        XCTAssertFalse(try cache.head(.cas, digest))
        try cache.put(.cas, digest, content)
        XCTAssertEqual(try cache.get(.cas, digest), content)
        XCTAssertEqual(try cache.getVerified(digest), content)
        XCTAssertTrue(try cache.head(.cas, digest))

        let record = Array("{\"outputs\": [\"\(digest)\"]}".utf8)
        let key = SHA256Digest(of: uniqueBytes()).description
        try cache.put(.ac, key, record)
        XCTAssertEqual(try cache.get(.ac, key), record)
        XCTAssertTrue(try cache.head(.ac, key))
        XCTAssertNil(try cache.get(.cas, key), "an action key is not a content name")

        // The same name again replaces the entry (nginx answers 204 instead of 201).
        try cache.put(.ac, key, Array("{}".utf8))
        XCTAssertEqual(try cache.get(.ac, key), Array("{}".utf8))

        let empty = SHA256Digest(of: []).description
        try cache.put(.cas, empty, [])
        XCTAssertEqual(try cache.getVerified(empty), [])

        let stats = cache.statistics
        XCTAssertEqual(stats.requests, 13)
        XCTAssertEqual(stats.attempts, 13)
        XCTAssertEqual(stats.bytesUploaded, content.count + record.count + 2)
        XCTAssertEqual(stats.corruptBlobs, 0)
    }

    func testAMissingKeyIsAMiss() throws {
        let cache = try cache()
        let digest = SHA256Digest(of: uniqueBytes()).description
        XCTAssertNil(try cache.get(.cas, digest))
        XCTAssertNil(try cache.get(.ac, digest))
        XCTAssertNil(try cache.getVerified(digest))
        XCTAssertFalse(try cache.head(.ac, digest))
    }

    func testABlobWhoseBytesDoNotMatchItsNameIsAMissWhenVerified() throws {
        let cache = try cache()
        let content = uniqueBytes(4096)
        let digest = SHA256Digest(of: content).description
        try cache.put(.cas, digest, content)
        // A flipped byte on the server's disk, behind the server's back.
        var damaged = content
        damaged[1000] ^= 0x01
        try FileIO.writeAtomically(damaged, to: "\(Self.serverDirectory)/data/cas/\(digest)")
        XCTAssertEqual(try cache.get(.cas, digest), damaged, "get returns what the server has")
        XCTAssertNil(try cache.getVerified(digest))
        XCTAssertEqual(cache.statistics.corruptBlobs, 1)
    }

    func testOneMegabyteRoundTrip() throws {
        let cache = try cache()
        let content = uniqueBytes(1 << 20)
        let digest = SHA256Digest(of: content).description
        let start = Date()
        try cache.put(.cas, digest, content)
        let stored = Date()
        let fetched = try cache.getVerified(digest)
        let end = Date()
        XCTAssertEqual(fetched, content)
        XCTAssertEqual(FileIO.size("\(Self.serverDirectory)/data/cas/\(digest)"), 1 << 20)
        print(String(format: "1 MiB round trip: PUT %.1f ms, GET + verify %.1f ms",
                     stored.timeIntervalSince(start) * 1000, end.timeIntervalSince(stored) * 1000))
    }

    func testConcurrentCallsFromManyThreads() throws {
        let cache = try cache()
        let blobs = (0..<16).map { _ in uniqueBytes(10_000) }
        let failures = Collected([String]())
        DispatchQueue.concurrentPerform(iterations: blobs.count) { i in
            let digest = SHA256Digest(of: blobs[i]).description
            do {
                try cache.put(.cas, digest, blobs[i])
                if try cache.getVerified(digest) != blobs[i] { failures.append("blob \(i) came back different") }
            } catch {
                failures.append("\(error)")
            }
        }
        XCTAssertEqual(failures.value, [])
        XCTAssertEqual(cache.statistics.requests, 32)
    }

    // MARK: failures

    func testADownServerFailsWithOneLineAfterTheRetries() throws {
        let port = try closedPort()
        let cache = try HTTPRemoteCache(url: "http://127.0.0.1:\(port)/", token: "tok-DOWN-1234",
                                        connectTimeout: 0.5, timeout: 1)
        let digest = SHA256Digest(of: Array("abc".utf8)).description
        let start = Date()
        XCTAssertThrowsError(try cache.get(.cas, digest)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("remote cache GET http://127.0.0.1:\(port)/cas/\(digest): "), text)
            XCTAssertTrue(text.hasSuffix(" (3 attempts)"), text)
            XCTAssertTrue(text.contains("Couldn't connect to server") || text.contains("Connection refused"), text)
            XCTAssertFalse(text.contains("\n"), text)
            XCTAssertFalse(text.contains("tok-DOWN-1234"), text)
            print(text)
        }
        let elapsed = Date().timeIntervalSince(start)
        print(String(format: "down server: error after %.2f s", elapsed))
        XCTAssertGreaterThanOrEqual(elapsed, 0.55, "waits 0.2 s and 0.4 s between the three tries")
        XCTAssertLessThan(elapsed, 3)
        XCTAssertEqual(cache.statistics.attempts, 3)
    }

    func testAServerThatNeverAnswersTimesOut() throws {
        // A listening socket nobody accepts on: the kernel completes the connection, no reply comes.
        let (fd, port) = try listeningSocket()
        defer { close(fd) }
        let cache = try HTTPRemoteCache(url: "http://127.0.0.1:\(port)", connectTimeout: 0.5, timeout: 0.4,
                                        retries: 1, backoff: 0.1)
        let digest = SHA256Digest(of: []).description
        let start = Date()
        XCTAssertThrowsError(try cache.head(.ac, digest)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("remote cache HEAD http://127.0.0.1:\(port)/ac/\(digest): "), text)
            XCTAssertTrue(text.contains("timed out"), text)
            XCTAssertTrue(text.hasSuffix(" (2 attempts)"), text)
            print(text)
        }
        let elapsed = Date().timeIntervalSince(start)
        print(String(format: "silent server: error after %.2f s", elapsed))
        XCTAssertGreaterThanOrEqual(elapsed, 0.85)
        XCTAssertLessThan(elapsed, 3)
    }

    func testErrorStatusesAreRetriedOnlyWhenARetryCanHelp() throws {
        let digest = SHA256Digest(of: []).description
        let unavailable = try HTTPRemoteCache(url: try serverURL() + "/unavailable", backoff: 0.01)
        XCTAssertThrowsError(try unavailable.put(.cas, digest, [])) { error in
            XCTAssertEqual("\(error)", "remote cache PUT \(try! serverURL())/unavailable/cas/\(digest): HTTP 503 Service Unavailable (3 attempts)")
        }
        XCTAssertEqual(unavailable.statistics.attempts, 3)

        let refused = try cache("/private")
        XCTAssertThrowsError(try refused.get(.ac, digest)) { error in
            XCTAssertEqual("\(error)", "remote cache GET \(try! serverURL())/private/ac/\(digest): HTTP 401 Unauthorized")
        }
        XCTAssertEqual(refused.statistics.attempts, 1)
    }

    func testTheBearerTokenIsSentAndNeverShown() throws {
        let token = "vaiq-test-token-\(UUID().uuidString)"
        let cache = try cache(token: token)
        let content = uniqueBytes()
        let digest = SHA256Digest(of: content).description
        try cache.put(.cas, digest, content)
        XCTAssertEqual(try cache.get(.cas, digest), content)
        let log = try accessLog { $0.contains("PUT /cas/\(digest) 201 ") && $0.contains("GET /cas/\(digest) 200 ") }
        XCTAssertTrue(log.contains("PUT /cas/\(digest) 201 \"Bearer \(token)\""), log)
        XCTAssertTrue(log.contains("GET /cas/\(digest) 200 \"Bearer \(token)\""), log)

        // A server that quotes the header back in its refusal: the message is kept, the token is not.
        let echo = try self.cache("/echo", token: token)
        XCTAssertThrowsError(try echo.get(.cas, digest)) { error in
            XCTAssertEqual("\(error)", "remote cache GET \(try! serverURL())/echo/cas/\(digest): HTTP 403 Forbidden: refused: Bearer <redacted>")
        }
        let down = try HTTPRemoteCache(url: "http://127.0.0.1:\(try closedPort())", token: token, retries: 0)
        XCTAssertThrowsError(try down.put(.ac, digest, content)) { error in
            XCTAssertFalse("\(error)".contains(token))
        }
        var dumped = ""
        dump(cache, to: &dumped)
        for shown in ["\(cache)", String(reflecting: cache), dumped] {
            XCTAssertFalse(shown.contains(token), shown)
            XCTAssertTrue(shown.contains(try serverURL()), shown)
        }
    }

    func testBasicAuthenticationAndCredentialsInTheURLAreNeverShown() throws {
        let url = try serverURL()
        let password = "pw-\(UUID().uuidString)"
        let basic = try HTTPRemoteCache(url: url, basicUser: "builder", password: password)
        let digest = SHA256Digest(of: uniqueBytes()).description
        XCTAssertNil(try basic.get(.ac, digest))
        let header = "Basic " + Data("builder:\(password)".utf8).base64EncodedString()
        XCTAssertTrue(try accessLog { $0.contains("GET /ac/\(digest) 404 ") }.contains("GET /ac/\(digest) 404 \"\(header)\""))
        let echo = try HTTPRemoteCache(url: url + "/echo", basicUser: "builder", password: password)
        XCTAssertThrowsError(try echo.get(.ac, digest)) { error in
            XCTAssertEqual("\(error)", "remote cache GET \(url)/echo/ac/\(digest): HTTP 403 Forbidden: refused: Basic <redacted>")
        }

        let secret = "url-pw-\(UUID().uuidString)"
        let withUserInfo = try HTTPRemoteCache(url: url.replacingOccurrences(of: "http://", with: "http://builder:\(secret)@") + "/echo/")
        XCTAssertEqual(withUserInfo.url, url + "/echo")
        XCTAssertThrowsError(try withUserInfo.get(.ac, digest)) { error in
            XCTAssertEqual("\(error)", "remote cache GET \(url)/echo/ac/\(digest): HTTP 403 Forbidden: refused: Basic <redacted>")
        }
        let fromURL = try HTTPRemoteCache(url: url.replacingOccurrences(of: "http://", with: "http://builder:\(secret)@"))
        XCTAssertNil(try fromURL.get(.ac, digest))
        let encoded = Data("builder:\(secret)".utf8).base64EncodedString()
        XCTAssertEqual(try accessLog { $0.components(separatedBy: "\n").filter { $0.contains(encoded) }.count >= 2 }
                           .components(separatedBy: "\n").filter { $0.contains(encoded) }.count, 2,
                       "the URL's user and password arrive as basic credentials")
        XCTAssertThrowsError(try HTTPRemoteCache(url: "http://u:p@example.com", token: "t")) { error in
            XCTAssertEqual("\(error)", "remote cache: give one of a bearer token, a basic-auth user or a user in the URL")
        }
    }

    func testBadKeysURLsAndCredentialsAreRejectedBeforeAnyRequest() throws {
        let cache = try cache()
        XCTAssertThrowsError(try cache.get(.cas, "../../etc/passwd")) { error in
            XCTAssertEqual("\(error)", "remote cache /cas/../../etc/passwd: not a SHA-256 name (64 lowercase hex digits)")
        }
        XCTAssertThrowsError(try cache.put(.ac, SHA256Digest(of: []).description.uppercased(), []))
        XCTAssertEqual(cache.statistics.requests, 0)
        XCTAssertThrowsError(try HTTPRemoteCache(url: "ftp://user:hidden@example.com/cache")) { error in
            XCTAssertEqual("\(error)", "remote cache ftp://example.com/cache: not an http:// or https:// URL")
        }
        XCTAssertThrowsError(try HTTPRemoteCache(url: "http://example.com/cache?x=1")) { error in
            XCTAssertEqual("\(error)", "remote cache http://example.com/cache?x=1: has a query or fragment; /ac/... and /cas/... are appended to the URL")
        }
        XCTAssertThrowsError(try HTTPRemoteCache(url: "http://example.com", token: "abc\r\nX-Evil: 1")) { error in
            XCTAssertEqual("\(error)", "remote cache: the token contains a control character")
        }
    }

    // MARK: sockets

    /// A loopback port nothing listens on (bound, then closed).
    func closedPort() throws -> UInt16 {
        let (fd, port) = try boundSocket()
        close(fd)
        return port
    }

    func listeningSocket() throws -> (Int32, UInt16) {
        let (fd, port) = try boundSocket()
        guard listen(fd, 16) == 0 else {
            close(fd)
            throw FileIOError(path: "127.0.0.1:\(port)", reason: "listen failed")
        }
        return (fd, port)
    }

    func boundSocket() throws -> (Int32, UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw FileIOError(path: "socket", reason: "socket() failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard ok else {
            close(fd)
            throw FileIOError(path: "127.0.0.1", reason: "cannot bind a loopback port")
        }
        return (fd, UInt16(bigEndian: address.sin_port))
    }
}

/// Values collected from several threads.
final class Collected<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value { lock.withLock { stored } }
    func append<Element>(_ element: Element) where Value == [Element] { lock.withLock { stored.append(element) } }
}
