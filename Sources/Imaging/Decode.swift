import CPNG
import CTurboJPEG
import FileIO

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Decodes JPEG and PNG files to 8-bit pixels the way TensorFlow's `tf.io.decode_jpeg`
/// (`dct_method='INTEGER_ACCURATE'`) and `tf.io.decode_png` do.
///
/// - JPEG: TurboJPEG with the accurate integer (ISLOW) IDCT and fancy upsampling, which is what
///   `INTEGER_ACCURATE` selects in TensorFlow. A libjpeg warning (truncated data, corrupt entropy
///   coded data) is an error here, where TensorFlow would return a partly gray or damaged image.
///   `.gray` output is the JPEG's luma channel (libjpeg's grayscale output, as TensorFlow's
///   `channels=1`); a grayscale JPEG decoded as `.rgb` repeats its channel. CMYK JPEGs are refused.
/// - PNG: libpng's simplified API. 8-bit (and 1/2/4-bit) grayscale, RGB and palette images are
///   accepted; alpha channels, transparency (tRNS) and 16-bit samples are refused rather than
///   silently converted. Gamma chunks do not change the pixels (TensorFlow ignores them); an RGB or
///   palette image decoded as `.gray` is converted as TensorFlow's libpng call
///   `png_set_rgb_to_gray(1, 0.299, 0.587)` does, including its linear-light path for files whose
///   gAMA or sRGB chunk declares a non-linear encoding. (An iCCP profile that libpng would
///   recognize as sRGB is not taken into account for that gray conversion.)
///
/// Every failure is an `ImageError` with a one-line reason; no byte sequence makes it trap.
public enum ImageDecoder {
    /// The largest image accepted, in pixels (width * height): 2^28.
    public static let maxPixels = 1 << 28

    /// Reads and decodes the file at `path`.
    public static func decode(file path: String, color: ImageColor) throws(ImageError) -> DecodedImage {
        let bytes: [UInt8]
        do {
            bytes = try FileIO.read(path)
        } catch {
            throw ImageError(path: error.path, reason: error.reason)
        }
        return try decode(bytes, path: path, color: color)
    }

    /// Decodes an in-memory JPEG or PNG file, recognized by its first bytes; `path` names it in errors.
    /// Images of more than `limit` pixels are refused before anything is allocated for them.
    public static func decode(_ bytes: [UInt8], path: String, color: ImageColor, limit: Int = maxPixels) throws(ImageError) -> DecodedImage {
        if bytes.count >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF {
            return try decodeJPEG(bytes, path: path, color: color, limit: limit)
        }
        if bytes.count >= 8 && Array(bytes[0..<8]) == pngSignature {
            return try decodePNG(bytes, path: path, color: color, limit: limit)
        }
        let start: String
        if bytes.isEmpty {
            start = "the file is empty"
        } else {
            start = "starts with " + bytes.prefix(4).map { hexByte($0) }.joined(separator: " ")
        }
        throw ImageError(path: path, reason: "not a JPEG or PNG file (\(start)); expected .jpg/.jpeg or .png")
    }

    // MARK: - JPEG

    private static func decodeJPEG(_ bytes: [UInt8], path: String, color: ImageColor, limit: Int) throws(ImageError) -> DecodedImage {
        guard let tj = tjInitDecompress() else {
            throw ImageError(path: path, reason: "cannot initialize the JPEG decoder (\(tjMessage(nil)))")
        }
        defer { tjDestroy(tj) }

        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        let header = bytes.withUnsafeBufferPointer { src in
            tjDecompressHeader3(tj, src.baseAddress, UInt(src.count), &width, &height, &subsampling, &colorspace)
        }
        guard header == 0 else { throw jpegError(tj, path: path) }
        guard width > 0, height > 0 else {
            throw ImageError(path: path, reason: "JPEG without image data (\(width)x\(height) pixels); expected a complete baseline or progressive JPEG")
        }
        try checkSize(width: Int(width), height: Int(height), path: path, limit: limit)
        if colorspace == Int32(TJCS_CMYK.rawValue) || colorspace == Int32(TJCS_YCCK.rawValue) {
            throw ImageError(path: path, reason: "CMYK JPEG; expected an RGB (YCbCr) or grayscale JPEG")
        }

        let channels = color == .gray ? 1 : 3
        let format = color == .gray ? Int32(TJPF_GRAY.rawValue) : Int32(TJPF_RGB.rawValue)
        let flags = Int32(TJFLAG_ACCURATEDCT | TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS)
        var pixels = [UInt8](repeating: 0, count: Int(width) * Int(height) * channels)
        let status = bytes.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { dst in
                tjDecompress2(tj, src.baseAddress, UInt(src.count), dst.baseAddress, width, 0, height, format, flags)
            }
        }
        guard status == 0 else { throw jpegError(tj, path: path) }
        return DecodedImage(height: Int(height), width: Int(width), channels: channels, pixels: pixels)
    }

    private static func tjMessage(_ tj: tjhandle?) -> String {
        guard let message = tjGetErrorStr2(tj) else { return "unknown error" }
        return oneLine(String(cString: message))
    }

    private static func jpegError(_ tj: tjhandle, path: String) -> ImageError {
        let message = tjMessage(tj)
        if message.hasPrefix("Unsupported") {
            return ImageError(path: path, reason: "unsupported JPEG (\(message)); expected an 8-bit baseline or progressive JPEG")
        }
        return ImageError(path: path, reason: "corrupt or truncated JPEG (\(message)); expected a complete baseline or progressive JPEG")
    }

    // MARK: - PNG

    private static let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    private static func decodePNG(_ bytes: [UInt8], path: String, color: ImageColor, limit: Int) throws(ImageError) -> DecodedImage {
        // libpng's simplified API gamma-corrects 8-bit output when the file's gAMA differs from sRGB;
        // TensorFlow never does, so the gAMA chunks are removed before decoding.
        let chunks = PNGChunks(bytes)
        let outcome: Result<DecodedImage, ImageError> = chunks.bytesWithoutGamma.withUnsafeBufferPointer { src in
            var image = png_image()
            image.version = UInt32(PNG_IMAGE_VERSION)
            guard png_image_begin_read_from_memory(&image, src.baseAddress, src.count) != 0 else {
                let reason = "corrupt or truncated PNG (\(pngMessage(image))); expected a complete 8-bit PNG"
                png_image_free(&image)
                return .failure(ImageError(path: path, reason: reason))
            }
            let format = image.format
            if format & UInt32(PNG_FORMAT_FLAG_LINEAR) != 0 {
                png_image_free(&image)
                return .failure(ImageError(path: path, reason: "16-bit PNG; expected 8 bits per channel"))
            }
            if format & UInt32(PNG_FORMAT_FLAG_ALPHA) != 0 {
                png_image_free(&image)
                let what = chunks.colorType & 4 != 0 ? "PNG with an alpha channel" : "PNG with transparency (a tRNS chunk)"
                return .failure(ImageError(path: path, reason: "\(what); expected RGB or grayscale without alpha (flatten it first)"))
            }
            let width = Int(image.width), height = Int(image.height)
            if let error = sizeError(width: width, height: height, path: path, limit: limit) {
                png_image_free(&image)
                return .failure(error)
            }
            let fileIsColor = format & UInt32(PNG_FORMAT_FLAG_COLOR) != 0
            let fileChannels = fileIsColor ? 3 : 1
            image.format = fileIsColor ? UInt32(PNG_FORMAT_RGB) : UInt32(PNG_FORMAT_GRAY)
            var pixels = [UInt8](repeating: 0, count: width * height * fileChannels)
            let finished = pixels.withUnsafeMutableBytes { dst in
                png_image_finish_read(&image, nil, dst.baseAddress, 0, nil)
            }
            guard finished != 0 else {
                let reason = "corrupt or truncated PNG (\(pngMessage(image))); expected a complete 8-bit PNG"
                png_image_free(&image)
                return .failure(ImageError(path: path, reason: reason))
            }
            png_image_free(&image)
            return .success(DecodedImage(height: height, width: width, channels: fileChannels, pixels: pixels))
        }
        let decoded = try outcome.get()
        switch (decoded.channels, color) {
        case (3, .gray):
            return TensorFlowGray(gamma: chunks.gamma).convert(decoded)
        case (1, .rgb):
            var rgb = [UInt8](repeating: 0, count: decoded.pixels.count * 3)
            for (i, v) in decoded.pixels.enumerated() {
                rgb[3 * i] = v
                rgb[3 * i + 1] = v
                rgb[3 * i + 2] = v
            }
            return DecodedImage(height: decoded.height, width: decoded.width, channels: 3, pixels: rgb)
        default:
            return decoded
        }
    }

    private static func pngMessage(_ image: png_image) -> String {
        var message = image.message
        let text = withUnsafeBytes(of: &message) { raw -> String in
            let bytes = raw.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
        return text.isEmpty ? "unknown error" : oneLine(text)
    }

    // MARK: - Helpers

    private static func sizeError(width: Int, height: Int, path: String, limit: Int) -> ImageError? {
        guard width > 0, height > 0 else {
            return ImageError(path: path, reason: "image of \(width)x\(height) pixels (width x height); expected a non-empty image")
        }
        // Both are below 2^32, so the product cannot overflow.
        if width * height > limit {
            let bound = limit == maxPixels ? "2^28 = \(limit)" : "\(limit)"
            return ImageError(path: path, reason: "image too large (\(width)x\(height) pixels, width x height, = \(width * height)); expected at most \(bound) pixels")
        }
        return nil
    }

    private static func checkSize(width: Int, height: Int, path: String, limit: Int) throws(ImageError) {
        if let error = sizeError(width: width, height: height, path: path, limit: limit) { throw error }
    }

    private static func hexByte(_ b: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(b >> 4)], digits[Int(b & 15)]])
    }

    private static func oneLine(_ s: String) -> String {
        var out = ""
        var lastWasSpace = false
        for ch in s {
            if ch.isNewline || ch == "\t" {
                if !lastWasSpace { out.append(" ") }
                lastWasSpace = true
            } else {
                out.append(ch)
                lastWasSpace = ch == " "
            }
        }
        while out.last == " " { out.removeLast() }
        return out
    }
}

// MARK: - PNG chunk scan

/// The chunks before the first IDAT that matter for TensorFlow compatibility: the IHDR color type,
/// the gamma that libpng would derive from gAMA and sRGB, and the file without its gAMA chunks.
struct PNGChunks {
    /// IHDR color type (0 gray, 2 RGB, 3 palette, 4 gray + alpha, 6 RGBA); 0 when unreadable.
    var colorType: UInt8 = 0
    /// The file gamma as libpng records it (PNG fixed point, 100000 = 1.0), nil when the file has none.
    var gamma: Int?
    var bytesWithoutGamma: [UInt8]

    init(_ bytes: [UInt8]) {
        bytesWithoutGamma = bytes
        var removed: [Range<Int>] = []
        var offset = 8
        var seenPLTE = false
        var gammaFromGAMA = false, gammaFromSRGB = false, invalid = false
        while offset <= bytes.count - 12 {
            let length = Int(PNGChunks.be32(bytes, offset))
            guard length <= 0x7FFF_FFFF, length <= bytes.count - 12 - offset else { break }
            let type = String(decoding: bytes[(offset + 4)..<(offset + 8)], as: UTF8.self)
            let data = (offset + 8)..<(offset + 8 + length)
            let crcOK = PNGChunks.crc32(bytes[(offset + 4)..<data.upperBound]) == PNGChunks.be32(bytes, data.upperBound)
            let chunk = offset..<(data.upperBound + 4)
            offset = chunk.upperBound
            switch type {
            case "IHDR":
                if length == 13 { colorType = bytes[data.lowerBound + 9] }
            case "PLTE":
                seenPLTE = true
            case "IDAT":
                offset = bytes.count
            case "gAMA":
                removed.append(chunk)
                // As libpng's png_handle_gAMA and png_colorspace_set_gamma: out of place, bad CRC
                // and wrong length are ignored; an out-of-range or second gAMA freezes the gamma.
                guard !seenPLTE, crcOK, length == 4 else { break }
                let value = Int(PNGChunks.be32(bytes, data.lowerBound))
                if value < 16 || value > 625_000_000 || gammaFromGAMA {
                    invalid = true
                } else if !invalid {
                    if let current = gamma, gammaFromSRGB, PNGChunks.significant(PNGChunks.mulDiv(current, 100_000, value)) {
                        break  // an sRGB chunk's gamma is kept
                    }
                    gamma = value
                    gammaFromGAMA = true
                }
            case "sRGB":
                guard !seenPLTE, crcOK, length == 1, !invalid else { break }
                if gammaFromSRGB || bytes[data.lowerBound] >= 4 {
                    invalid = true
                } else {
                    gamma = 45455
                    gammaFromSRGB = true
                }
            default:
                break
            }
        }
        if !removed.isEmpty {
            var kept: [UInt8] = []
            kept.reserveCapacity(bytes.count)
            var start = 0
            for r in removed {
                kept.append(contentsOf: bytes[start..<r.lowerBound])
                start = r.upperBound
            }
            kept.append(contentsOf: bytes[start...])
            bytesWithoutGamma = kept
        }
    }

    static func be32(_ b: [UInt8], _ i: Int) -> UInt32 {
        UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
    }

    private static let crcTable: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    /// libpng's png_gamma_significant: further than 0.05 from 1.0.
    static func significant(_ g: Int) -> Bool { g < 95_000 || g > 105_000 }

    /// libpng's png_muldiv (floating-point build): round(a * times / divisor).
    static func mulDiv(_ a: Int, _ times: Int, _ divisor: Int) -> Int {
        Int((Double(a) * Double(times) / Double(divisor) + 0.5).rounded(.down))
    }

    /// libpng's png_reciprocal: round(10^10 / a).
    static func reciprocal(_ a: Int) -> Int {
        Int((1e10 / Double(a) + 0.5).rounded(.down))
    }
}

/// RGB to gray exactly as libpng 1.6 does it for TensorFlow's `png_set_rgb_to_gray(png, 1, 0.299, 0.587)`
/// on 8-bit data: coefficients 9797/19234/13737 (of 32768); a truncating integer sum when the file
/// gamma is not significant, otherwise a sum in linear light through libpng's 8-bit gamma tables.
/// Pixels with red == green == blue pass through unchanged in both cases.
struct TensorFlowGray {
    static let red: UInt32 = 29_900 * 32_768 / 100_000
    static let green: UInt32 = 58_700 * 32_768 / 100_000
    static let blue: UInt32 = 32_768 - red - green

    /// gamma_to_1 and gamma_from_1, or nil for the plain integer path.
    let tables: (toLinear: [UInt8], fromLinear: [UInt8])?

    init(gamma: Int?) {
        guard let g = gamma, PNGChunks.significant(g) else {
            tables = nil
            return
        }
        // libpng: screen_gamma = 1 / file gamma; gamma_to_1 uses 1 / file gamma, gamma_from_1 1 / screen gamma.
        let screen = PNGChunks.reciprocal(g)
        tables = (TensorFlowGray.table(PNGChunks.reciprocal(g)), TensorFlowGray.table(PNGChunks.reciprocal(screen)))
    }

    /// libpng's png_build_8bit_table with png_gamma_8bit_correct (floating-point build).
    static func table(_ exponent: Int) -> [UInt8] {
        guard PNGChunks.significant(exponent) else { return (0..<256).map { UInt8($0) } }
        return (0..<256).map { i in
            guard i > 0 && i < 255 else { return UInt8(i) }
            let r = (255 * pow(Double(i) / 255, Double(exponent) * 0.00001) + 0.5).rounded(.down)
            return UInt8(max(0, min(255, r)))
        }
    }

    func convert(_ image: DecodedImage) -> DecodedImage {
        let n = image.height * image.width
        var gray = [UInt8](repeating: 0, count: n)
        let src = image.pixels
        for i in 0..<n {
            let r = src[3 * i], g = src[3 * i + 1], b = src[3 * i + 2]
            if r == g && r == b {
                gray[i] = r
            } else if let t = tables {
                let sum = TensorFlowGray.red * UInt32(t.toLinear[Int(r)]) + TensorFlowGray.green * UInt32(t.toLinear[Int(g)])
                    + TensorFlowGray.blue * UInt32(t.toLinear[Int(b)]) + 16_384
                gray[i] = t.fromLinear[Int(sum >> 15)]
            } else {
                let sum = TensorFlowGray.red * UInt32(r) + TensorFlowGray.green * UInt32(g) + TensorFlowGray.blue * UInt32(b)
                gray[i] = UInt8(sum >> 15)
            }
        }
        return DecodedImage(height: image.height, width: image.width, channels: 1, pixels: gray)
    }
}
