import CCurl

/// One HTTP request and its response on a fresh libcurl easy handle (so calls on several threads
/// share nothing), with no retries: `HTTPRemoteCache` decides what to try again.
struct CurlExchange {
    enum Method: String {
        case get = "GET", head = "HEAD", put = "PUT"
    }

    struct Response {
        let status: Int
        let body: [UInt8]
        let contentType: String
    }

    /// What a failed exchange reports: curl's words, and whether trying again can help.
    struct Failure: Error {
        let cause: String
        let retryable: Bool
    }

    let url: String
    let method: Method
    /// Extra request headers, "Name: value".
    let headers: [String]
    let body: [UInt8]
    let connectTimeout: Double
    let timeout: Double
    /// Seconds without a byte moving (either way) after which the request is given up.
    let stallTimeout: Double

    func perform() -> Result<Response, Failure> {
        guard curlGlobalInit == CURLE_OK else {
            return .failure(Failure(cause: "curl_global_init: \(String(cString: curl_easy_strerror(curlGlobalInit)))", retryable: false))
        }
        guard let handle = curl_easy_init() else { return .failure(Failure(cause: "curl_easy_init failed", retryable: false)) }
        defer { curl_easy_cleanup(handle) }

        // Pointers handed to curl must stay put until curl_easy_perform returns: heap memory and
        // objects kept alive below, never `&local` (valid only for the duration of one call).
        let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
        defer { errorBuffer.deallocate() }
        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headerList) }
        let sink = ResponseSink()
        let source = UploadSource(body)

        var ok = true
        func set(_ result: CURLcode) { if result != CURLE_OK { ok = false } }
        set(vaiq_curl_set_str(handle, CURLOPT_URL, url))
        set(vaiq_curl_set_str(handle, CURLOPT_PROTOCOLS_STR, "http,https"))
        // No SIGALRM for name-resolution timeouts: signals and threads do not mix.
        set(vaiq_curl_set_long(handle, CURLOPT_NOSIGNAL, 1))
        set(vaiq_curl_set_long(handle, CURLOPT_CONNECTTIMEOUT_MS, milliseconds(connectTimeout)))
        set(vaiq_curl_set_long(handle, CURLOPT_TIMEOUT_MS, milliseconds(timeout)))
        // A server that accepted the connection and then went silent: below 1 byte/s for that long.
        set(vaiq_curl_set_long(handle, CURLOPT_LOW_SPEED_LIMIT, 1))
        set(vaiq_curl_set_long(handle, CURLOPT_LOW_SPEED_TIME, max(1, Int(stallTimeout.rounded(.up)))))
        set(vaiq_curl_set_ptr(handle, CURLOPT_ERRORBUFFER, errorBuffer))
        set(vaiq_curl_set_str(handle, CURLOPT_USERAGENT, "vaiq-build"))
        // Without a write function libcurl writes response bodies to stdout.
        set(vaiq_curl_set_write_function(handle) { data, size, count, userdata in
            let n = size * count
            let sink = Unmanaged<ResponseSink>.fromOpaque(userdata!).takeUnretainedValue()
            sink.bytes.append(contentsOf: UnsafeRawBufferPointer(start: data, count: n))
            return n
        })
        set(vaiq_curl_set_ptr(handle, CURLOPT_WRITEDATA, Unmanaged.passUnretained(sink).toOpaque()))

        var requestHeaders = headers
        switch method {
        case .get:
            set(vaiq_curl_set_long(handle, CURLOPT_HTTPGET, 1))
        case .head:
            set(vaiq_curl_set_long(handle, CURLOPT_NOBODY, 1))
        case .put:
            set(vaiq_curl_set_long(handle, CURLOPT_UPLOAD, 1))
            set(vaiq_curl_set_off(handle, CURLOPT_INFILESIZE_LARGE, curl_off_t(body.count)))
            set(vaiq_curl_set_read_function(handle) { buffer, size, count, userdata in
                let source = Unmanaged<UploadSource>.fromOpaque(userdata!).takeUnretainedValue()
                return source.copy(into: UnsafeMutableRawPointer(buffer!), capacity: size * count)
            })
            set(vaiq_curl_set_ptr(handle, CURLOPT_READDATA, Unmanaged.passUnretained(source).toOpaque()))
            // An empty Expect header: send the body at once instead of waiting up to a second for
            // "100 Continue", which some proxies never send.
            requestHeaders += ["Content-Type: application/octet-stream", "Expect:"]
        }
        for header in requestHeaders { headerList = curl_slist_append(headerList, header) }
        if headerList != nil { set(vaiq_curl_set_ptr(handle, CURLOPT_HTTPHEADER, headerList)) }
        guard ok else { return .failure(Failure(cause: "libcurl rejected an option (libcurl older than 7.85?)", retryable: false)) }

        let code = withExtendedLifetime((sink, source)) { curl_easy_perform(handle) }
        guard code == CURLE_OK else {
            let detail = String(cString: errorBuffer)
            let cause = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
            let permanent = [CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT, CURLE_OUT_OF_MEMORY].contains(code)
            return .failure(Failure(cause: oneLine(cause), retryable: !permanent))
        }
        var status = 0
        _ = vaiq_curl_get_long(handle, CURLINFO_RESPONSE_CODE, &status)
        var contentType: UnsafeMutablePointer<CChar>?
        _ = vaiq_curl_get_str(handle, CURLINFO_CONTENT_TYPE, &contentType)
        return .success(Response(status: status, body: sink.bytes, contentType: contentType.map { String(cString: $0) } ?? ""))
    }
}

/// Once per process, before any other libcurl call (a global's initializer runs exactly once,
/// on first use, whichever thread gets there first).
private let curlGlobalInit: CURLcode = vaiq_curl_global_init()

private func milliseconds(_ seconds: Double) -> Int { max(1, Int((seconds * 1000).rounded())) }

/// curl's error text, which may end in a newline, as one line.
private func oneLine(_ text: String) -> String {
    text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).joined(separator: " ")
}

/// The response body as curl delivers it.
private final class ResponseSink {
    var bytes: [UInt8] = []
}

/// The request body, handed to curl in the pieces it asks for.
private final class UploadSource {
    private let bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func copy(into buffer: UnsafeMutableRawPointer, capacity: Int) -> Int {
        let n = min(capacity, bytes.count - offset)
        guard n > 0 else { return 0 }
        bytes.withUnsafeBytes { buffer.copyMemory(from: $0.baseAddress! + offset, byteCount: n) }
        offset += n
        return n
    }
}
