/// A remote-cache failure: one line naming the request (method and URL, without credentials) and
/// the cause. No case holds a token or password.
public enum RemoteCacheError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The cache URL is not an http(s) URL.
    case invalidURL(String, reason: String)
    /// Credentials that cannot be sent: two kinds at once, a control character in a token, ...
    case invalidCredentials(String)
    /// The key is not 64 lowercase hex digits (a SHA-256), the only names the protocol has.
    case invalidKey(HTTPRemoteCache.Kind, String)
    /// No HTTP response: curl's error text (connection refused, timeout, ...), after `attempts` tries.
    case transport(method: String, url: String, cause: String, attempts: Int)
    /// An HTTP status the request cannot succeed with, and the first line of a text/plain body.
    case status(method: String, url: String, code: Int, message: String, attempts: Int)

    public var description: String {
        switch self {
        case .invalidURL(let url, let reason):
            return "remote cache \(url): \(reason)"
        case .invalidCredentials(let reason):
            return "remote cache: \(reason)"
        case .invalidKey(let kind, let key):
            return "remote cache /\(kind.rawValue)/\(key): not a SHA-256 name (64 lowercase hex digits)"
        case .transport(let method, let url, let cause, let attempts):
            return "remote cache \(method) \(url): \(cause)\(tries(attempts))"
        case .status(let method, let url, let code, let message, let attempts):
            let phrase = reasonPhrases[code].map { " \($0)" } ?? ""
            let detail = message.isEmpty ? "" : ": \(message)"
            return "remote cache \(method) \(url): HTTP \(code)\(phrase)\(detail)\(tries(attempts))"
        }
    }
}

private func tries(_ attempts: Int) -> String { attempts > 1 ? " (\(attempts) attempts)" : "" }

/// The statuses a cache server answers with, worded as in RFC 9110.
private let reasonPhrases: [Int: String] = [
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    408: "Request Timeout", 409: "Conflict", 411: "Length Required", 413: "Content Too Large",
    429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
    504: "Gateway Timeout", 507: "Insufficient Storage",
]
