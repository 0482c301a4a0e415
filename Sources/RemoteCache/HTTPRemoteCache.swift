import Locking
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A client of a shared cache server speaking Bazel's HTTP caching protocol (bazel-remote, nginx
/// with WebDAV, ...):
///
///     GET | HEAD | PUT  <url>/ac/<key>      action records, named by their action key
///     GET | HEAD | PUT  <url>/cas/<digest>  content, named by its SHA-256
///
/// Names are 64 lowercase hex digits; 404 is a miss. A server need not check a blob against its
/// name, so `getVerified` does.
///
/// Every call uses its own libcurl handle: one client serves any number of threads. A call that
/// gets no response, or 408, 429 or a 5xx, is tried `retries` more times, after waiting `backoff`,
/// then twice as long each time. Credentials (a bearer token, or a basic-auth user and password,
/// or a user:password@ in the URL) go to the server only, in the one Authorization header built
/// here: errors, `description` and the mirror show `url`, which has none, and any text a server
/// or libcurl returns has the secret parts of that header replaced by `<redacted>`.
public final class HTTPRemoteCache: Sendable, CustomStringConvertible, CustomReflectable {
    public enum Kind: String, Sendable, CaseIterable {
        /// Action records.
        case ac
        /// Content, named by its SHA-256.
        case cas
    }

    /// What this client has done, over all threads.
    public struct Statistics: Sendable, Equatable {
        /// Calls of get, head and put.
        public var requests = 0
        /// HTTP requests sent: one per call plus its retries.
        public var attempts = 0
        public var bytesDownloaded = 0
        public var bytesUploaded = 0
        /// Blobs `getVerified` downloaded whose SHA-256 was not their name.
        public var corruptBlobs = 0
    }

    /// The base URL without credentials or a trailing slash: where requests go.
    public let url: String
    public let connectTimeout: Double
    public let timeout: Double
    public let stallTimeout: Double
    public let retries: Int
    public let backoff: Double
    private let headers: [String]
    /// Removed from any text a server or libcurl returns before it goes into an error: the token,
    /// the password and the encoded basic credentials.
    private let secrets: [String]
    private let counters = Locked(Statistics())

    /// - Parameters:
    ///   - url: `http://` or `https://`, an optional `user:password@` (basic authentication,
    ///     percent-encoded), the host and an optional path prefix; no query or fragment.
    ///   - token: sent as `Authorization: Bearer <token>`.
    ///   - basicUser, password: HTTP basic authentication instead of a token.
    ///   - connectTimeout, timeout: seconds to connect, and for a whole request.
    ///   - stallTimeout: seconds without a byte moving after which a request is given up.
    ///   - retries, backoff: further tries of a failed request, and the first wait in seconds.
    public init(url: String, token: String? = nil, basicUser: String? = nil, password: String? = nil,
                connectTimeout: Double = 5, timeout: Double = 60, stallTimeout: Double = 15, retries: Int = 2, backoff: Double = 0.2) throws(RemoteCacheError) {
        var base = url
        while base.hasSuffix("/") { base.removeLast() }
        let parts = try URLParts(base)
        guard [token != nil, basicUser != nil, parts.user != nil].filter({ $0 }).count <= 1 else {
            throw .invalidCredentials("give one of a bearer token, a basic-auth user or a user in the URL")
        }
        let basic: (user: String, password: String)? = basicUser.map { ($0, password ?? "") } ?? parts.user.map { ($0, parts.password ?? "") }
        if let token, token.utf8.contains(where: { $0 < 0x20 || $0 == 0x7f }) {
            throw .invalidCredentials("the token contains a control character")
        }
        if let basic, basic.user.contains(":") {
            throw .invalidCredentials("the basic-auth user name contains a colon")
        }
        self.url = parts.withoutCredentials
        self.connectTimeout = connectTimeout
        self.timeout = timeout
        self.stallTimeout = stallTimeout
        self.retries = max(0, retries)
        self.backoff = backoff
        if let token {
            headers = ["Authorization: Bearer \(token)"]
            secrets = [token]
        } else if let basic {
            let encoded = base64(Array("\(basic.user):\(basic.password)".utf8))
            headers = ["Authorization: Basic \(encoded)"]
            secrets = [encoded, basic.password].filter { !$0.isEmpty }
        } else {
            headers = []
            secrets = []
        }
    }

    /// The stored bytes, or nil when the server has none (404).
    public func get(_ kind: Kind, _ key: String) throws(RemoteCacheError) -> [UInt8]? {
        let (response, attempts) = try exchange(.get, kind, key)
        switch response.status {
        case 200:
            counters.withLock { $0.bytesDownloaded += response.body.count }
            return response.body
        case 404: return nil
        default: throw failure(.get, kind, key, response, attempts)
        }
    }

    /// The content named `digest`, or nil when the server has none or its bytes do not hash to the
    /// name (a damaged or mis-stored blob is a miss, never content).
    public func getVerified(_ digest: String) throws(RemoteCacheError) -> [UInt8]? {
        guard let bytes = try get(.cas, digest) else { return nil }
        guard SHA256Digest(of: bytes).description == digest else {
            counters.withLock { $0.corruptBlobs += 1 }
            return nil
        }
        return bytes
    }

    /// Whether the server has the entry (200) or not (404).
    public func head(_ kind: Kind, _ key: String) throws(RemoteCacheError) -> Bool {
        let (response, attempts) = try exchange(.head, kind, key)
        switch response.status {
        case 200: return true
        case 404: return false
        default: throw failure(.head, kind, key, response, attempts)
        }
    }

    /// Stores `bytes` under the name (any 2xx is success; servers answer 200, 201 or 204).
    public func put(_ kind: Kind, _ key: String, _ bytes: [UInt8]) throws(RemoteCacheError) {
        let (response, attempts) = try exchange(.put, kind, key, body: bytes)
        guard (200..<300).contains(response.status) else { throw failure(.put, kind, key, response, attempts) }
        counters.withLock { $0.bytesUploaded += bytes.count }
    }

    public var statistics: Statistics { counters.withLock { $0 } }

    public var description: String { "HTTP remote cache \(url)" }

    public var customMirror: Mirror {
        Mirror(self, children: ["url": url, "connectTimeout": connectTimeout, "timeout": timeout,
                                "retries": retries, "backoff": backoff], displayStyle: .class)
    }

    // MARK: requests

    /// Sends the request, again after a wait while it fails in a way a retry can mend; returns the
    /// last response and how many tries it took.
    private func exchange(_ method: CurlExchange.Method, _ kind: Kind, _ key: String,
                          body: [UInt8] = []) throws(RemoteCacheError) -> (CurlExchange.Response, Int) {
        guard key.utf8.count == 64, key.utf8.allSatisfy(isLowercaseHexDigit) else { throw .invalidKey(kind, key) }
        let path = "/\(kind.rawValue)/\(key)"
        let request = CurlExchange(url: url + path, method: method, headers: headers, body: body, connectTimeout: connectTimeout, timeout: timeout,
                                   stallTimeout: stallTimeout)
        counters.withLock { $0.requests += 1 }
        var attempt = 0
        while true {
            attempt += 1
            counters.withLock { $0.attempts += 1 }
            switch request.perform() {
            case .success(let response):
                if !retryableStatuses.contains(response.status) || attempt > retries { return (response, attempt) }
            case .failure(let failure):
                if !failure.retryable || attempt > retries {
                    throw .transport(method: method.rawValue, url: url + path, cause: redacted(failure.cause), attempts: attempt)
                }
            }
            pause(seconds: backoff * Double(1 << min(attempt - 1, 20)))
        }
    }

    private func failure(_ method: CurlExchange.Method, _ kind: Kind, _ key: String,
                         _ response: CurlExchange.Response, _ attempts: Int) -> RemoteCacheError {
        // bazel-remote explains a refusal in a text/plain body ("hash mismatch", ...).
        var message = ""
        if response.contentType.lowercased().hasPrefix("text/plain") {
            let firstLine = String(decoding: response.body.prefix(300), as: UTF8.self)
                .split(whereSeparator: { $0 == "\n" || $0 == "\r" }).first.map(String.init) ?? ""
            message = redacted(String(firstLine.prefix(200)))
        }
        return .status(method: method.rawValue, url: "\(url)/\(kind.rawValue)/\(key)", code: response.status,
                       message: message, attempts: attempts)
    }

    private func redacted(_ text: String) -> String {
        secrets.reduce(text) { $0.replacing($1, with: "<redacted>") }
    }
}

/// Responses that say "not now" rather than "no".
private let retryableStatuses: Set<Int> = [408, 429, 500, 502, 503, 504]

private func isLowercaseHexDigit(_ c: UInt8) -> Bool {
    (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(c)
}

private func pause(seconds: Double) {
    guard seconds > 0 else { return }
    var wait = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
    var left = timespec()
    while nanosleep(&wait, &left) != 0 && errno == EINTR { wait = left }
}

/// The parts of a cache URL that matter here: the scheme is http(s), the URL without its
/// user:password@, and that user and password (percent-decoded).
private struct URLParts {
    let withoutCredentials: String
    let user: String?
    let password: String?

    init(_ url: String) throws(RemoteCacheError) {
        guard let schemeEnd = url.firstRange(of: "://"),
              ["http", "https"].contains(url[..<schemeEnd.lowerBound].lowercased()) else {
            throw .invalidURL(URLParts.strippingCredentials(url), reason: "not an http:// or https:// URL")
        }
        let rest = url[schemeEnd.upperBound...]
        let authority = rest.prefix(while: { $0 != "/" })
        var host = authority
        var user: String?, password: String?
        if let at = authority.lastIndex(of: "@") {
            host = authority[authority.index(after: at)...]
            let userInfo = authority[..<at]
            let colon = userInfo.firstIndex(of: ":") ?? userInfo.endIndex
            user = percentDecoded(userInfo[..<colon])
            password = colon == userInfo.endIndex ? nil : percentDecoded(userInfo[userInfo.index(after: colon)...])
        }
        let stripped = String(url[..<schemeEnd.upperBound]) + host + rest[authority.endIndex...]
        guard !host.isEmpty else { throw .invalidURL(stripped, reason: "no host") }
        guard !url.contains("?"), !url.contains("#") else {
            throw .invalidURL(stripped, reason: "has a query or fragment; /ac/... and /cas/... are appended to the URL")
        }
        self.withoutCredentials = stripped
        self.user = user
        self.password = password
    }

    static func strippingCredentials(_ url: String) -> String {
        guard let at = url.lastIndex(of: "@") else { return url }
        let start = url.firstRange(of: "://")?.upperBound ?? url.startIndex
        return start <= at ? String(url[..<start]) + url[url.index(after: at)...] : url
    }
}

/// RFC 3986 percent-decoding (for the user and password of a URL); a malformed escape stays as written.
private func percentDecoded(_ text: Substring) -> String {
    let bytes = Array(text.utf8)
    var out = [UInt8]()
    var i = 0
    while i < bytes.count {
        if bytes[i] == UInt8(ascii: "%"), i + 2 < bytes.count,
           let value = UInt8(String(decoding: bytes[(i + 1)...(i + 2)], as: UTF8.self), radix: 16) {
            out.append(value)
            i += 3
        } else {
            out.append(bytes[i])
            i += 1
        }
    }
    return String(decoding: out, as: UTF8.self)
}

/// Standard base64 with padding (RFC 4648), for the basic-auth header.
private func base64(_ bytes: [UInt8]) -> String {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    var out = [UInt8]()
    out.reserveCapacity((bytes.count + 2) / 3 * 4)
    for start in stride(from: 0, to: bytes.count, by: 3) {
        let chunk = bytes[start..<min(start + 3, bytes.count)]
        var group = 0
        for (k, byte) in chunk.enumerated() { group |= Int(byte) << (16 - 8 * k) }
        for k in 0..<4 {
            out.append(k <= chunk.count ? alphabet[(group >> (18 - 6 * k)) & 63] : UInt8(ascii: "="))
        }
    }
    return String(decoding: out, as: UTF8.self)
}
