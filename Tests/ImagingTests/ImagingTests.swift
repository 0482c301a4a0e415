import Foundation
import Imaging
import XCTest

/// Decoding and preprocessing checked against TensorFlow's outputs in Tests/Fixtures/images
/// (written by tools/make_image_fixtures.py).
final class ImagingTests: XCTestCase {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/images").path

    static func fixture(_ name: String) -> String { directory + "/" + name }

    static let jpegs = ["a_420_q90.jpg", "a_444_q75.jpg", "b_420_q75.jpg", "b_444_q90.jpg", "b_progressive.jpg", "gray.jpg"]
    static let pngs = ["a_rgb.png", "g_gray.png", "palette8.png", "palette4.png",
                       "a_rgb_gama45455.png", "a_rgb_gama100000.png", "a_rgb_srgb.png"]

    /// The configurations of tools/make_image_fixtures.py (CONFIGS), by name.
    static let configs: [String: Preprocess] = {
        var tf = Preprocess()
        tf.resize = .shorter(24)
        tf.centerCrop = [20, 20]
        tf.preset = .tf

        var caffe = Preprocess()
        caffe.resize = .exact(height: 41, width: 9)
        caffe.preset = .caffe

        var torch = Preprocess()
        torch.resize = .shorter(20)
        torch.centerCrop = [16, 18]
        torch.preset = .torch

        var bgr = Preprocess()
        bgr.centerCrop = [16, 20]
        bgr.channelOrder = .bgr
        bgr.mean = [120.0, 110.5, 100.25]
        bgr.scale = 0.0171

        var gray = Preprocess()
        gray.resize = .shorter(40)
        gray.centerCrop = [24, 30]
        gray.channelOrder = .gray
        gray.mean = [127.5]
        gray.std = [64.0]

        return [
            "tf_shorter24_crop20": tf,
            "caffe_exact41x9": caffe,
            "torch_shorter20_crop16x18": torch,
            "bgr_none_crop16x20_meanscale": bgr,
            "gray_shorter40_crop24x30_meanstd": gray,
        ]
    }()

    // MARK: - Decoding

    func testPNGDecodeEqualsTensorFlow() throws {
        for name in Self.pngs {
            for color in [ImageColor.rgb, .gray] {
                let expected = try NPY.read(Self.fixture("\(name).\(color.rawValue).npy"))
                let image = try ImageDecoder.decode(file: Self.fixture(name), color: color)
                XCTAssertEqual([image.height, image.width, image.channels], expected.shape, "\(name) \(color)")
                XCTAssertEqual(image.pixels, expected.bytes, "\(name) \(color): pixels differ from TensorFlow's")
            }
        }
    }

    func testJPEGDecodeAgreesWithTensorFlow() throws {
        var report: [String] = []
        for name in Self.jpegs {
            for color in [ImageColor.rgb, .gray] {
                let expected = try NPY.read(Self.fixture("\(name).\(color.rawValue).npy"))
                let image = try ImageDecoder.decode(file: Self.fixture(name), color: color)
                XCTAssertEqual([image.height, image.width, image.channels], expected.shape, "\(name) \(color)")
                guard image.pixels.count == expected.bytes.count else { continue }
                var differing = 0, maxDiff = 0
                for (a, b) in zip(image.pixels, expected.bytes) where a != b {
                    differing += 1
                    maxDiff = max(maxDiff, abs(Int(a) - Int(b)))
                }
                report.append("\(name) \(color.rawValue): \(differing)/\(image.pixels.count) values differ, max \(maxDiff)")
                XCTAssertLessThanOrEqual(maxDiff, 1, "\(name) \(color)")
                XCTAssertLessThanOrEqual(differing * 100, image.pixels.count, "\(name) \(color): more than 1% differ")
                XCTAssertEqual(differing, 0, "\(name) \(color): expected bit-identical output (same libjpeg ISLOW path)")
            }
        }
        print("JPEG agreement with tf.io.decode_jpeg(dct_method='INTEGER_ACCURATE'):\n  " + report.joined(separator: "\n  "))
    }

    func testDecodeFromBytesMatchesDecodeFromFile() throws {
        let path = Self.fixture("a_420_q90.jpg")
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        XCTAssertEqual(try ImageDecoder.decode(bytes, path: path, color: .rgb),
                       try ImageDecoder.decode(file: path, color: .rgb))
    }

    func testBadInputsGiveOneLineErrors() {
        let cases: [(String, String)] = [
            ("truncated.jpg", "corrupt or truncated JPEG (Premature end of JPEG file); expected a complete baseline or progressive JPEG"),
            ("garbage.jpg", "corrupt or truncated JPEG (Corrupt JPEG data: premature end of data segment); expected a complete baseline or progressive JPEG"),
            ("huge.jpg", "image too large (40000x40000 pixels, width x height, = 1600000000); expected at most 2^28 = 268435456 pixels"),
            ("rgba.png", "PNG with an alpha channel; expected RGB or grayscale without alpha (flatten it first)"),
            ("palette_trns.png", "PNG with transparency (a tRNS chunk); expected RGB or grayscale without alpha (flatten it first)"),
            ("rgb16.png", "16-bit PNG; expected 8 bits per channel"),
            ("huge.png", "image too large (20000x20000 pixels, width x height, = 400000000); expected at most 2^28 = 268435456 pixels"),
            ("truncated.png", "corrupt or truncated PNG (read beyond end of data); expected a complete 8-bit PNG"),
            ("not_image.gif", "not a JPEG or PNG file (starts with 47 49 46 38); expected .jpg/.jpeg or .png"),
            ("empty.jpg", "not a JPEG or PNG file (the file is empty); expected .jpg/.jpeg or .png"),
        ]
        for (name, reason) in cases {
            let path = Self.fixture("bad/" + name)
            for color in [ImageColor.rgb, .gray] {
                do {
                    let image = try ImageDecoder.decode(file: path, color: color)
                    XCTFail("\(name): decoded \(image.width)x\(image.height), expected an error")
                } catch {
                    XCTAssertEqual(error.description, "\(path): \(reason)")
                    XCTAssertFalse(error.description.contains("\n"))
                }
            }
        }
    }

    func testMissingFileNamesThePath() {
        let path = Self.fixture("no_such_file.png")
        XCTAssertThrowsError(try ImageDecoder.decode(file: path, color: .rgb)) { error in
            XCTAssertEqual("\(error)", "\(path): cannot open: No such file or directory")
        }
    }

    /// Seeded random byte mutations of the fixture files: decoding throws or succeeds, never traps.
    func testMutatedFilesNeverTrap() throws {
        let names = Self.jpegs + Self.pngs + ["bad/truncated.jpg", "bad/garbage.jpg", "bad/rgba.png", "bad/rgb16.png", "bad/palette_trns.png"]
        let originals = try names.map { [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.fixture($0)))) }
        var rng = SplitMix64(seed: 0x1A6E_5EED)
        var decoded = 0, refused = 0
        let start = Date()
        // IMAGING_MUTATION_ROUNDS runs a longer campaign (for example under --sanitize=address).
        let rounds = ProcessInfo.processInfo.environment["IMAGING_MUTATION_ROUNDS"].flatMap { Int($0) } ?? 4000
        for round in 0..<rounds {
            var bytes = originals[round % originals.count]
            switch rng.below(4) {
            case 0:  // flip a few random bytes
                for _ in 0...rng.below(4) { bytes[rng.below(bytes.count)] = UInt8(truncatingIfNeeded: rng.next()) }
            case 1:  // mutate the header region (dimensions, markers, chunk lengths)
                for _ in 0...rng.below(3) { bytes[rng.below(min(bytes.count, 64))] = UInt8(truncatingIfNeeded: rng.next()) }
            case 2:  // truncate
                bytes.removeLast(rng.below(bytes.count))
            default:  // duplicate or drop a slice
                let a = rng.below(bytes.count), b = min(bytes.count, a + rng.below(64))
                if rng.below(2) == 0 { bytes.insert(contentsOf: bytes[a..<b], at: a) } else { bytes.removeSubrange(a..<b) }
            }
            do {
                let image = try ImageDecoder.decode(bytes, path: "mutant", color: round % 5 == 0 ? .gray : .rgb)
                XCTAssertEqual(image.pixels.count, image.height * image.width * image.channels)
                decoded += 1
            } catch {
                XCTAssertFalse(error.description.contains("\n"), error.description)
                refused += 1
            }
        }
        print("mutated inputs: \(decoded) decoded, \(refused) refused in \(String(format: "%.2f", Date().timeIntervalSince(start))) s")
    }

    // MARK: - Preprocessing

    func testPreprocessingMatchesTensorFlow() throws {
        var report: [String] = []
        var checked = 0
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.directory).sorted()
        for (configName, config) in Self.configs.sorted(by: { $0.key < $1.key }) {
            var maxDiff: Float = 0, differing = 0, total = 0
            for file in files where file.hasSuffix(".\(configName).npy") {
                let imageName = String(file.dropLast(".\(configName).npy".count))
                let pixels = try NPY.read(Self.fixture("\(imageName).\(config.color.rawValue).npy"))
                let image = DecodedImage(height: pixels.shape[0], width: pixels.shape[1], channels: pixels.shape[2], pixels: pixels.bytes)
                let expected = try NPY.read(Self.fixture(file))
                let size = Preprocessor.outputSize(height: image.height, width: image.width, config)
                XCTAssertEqual([size.height, size.width, config.channels], expected.shape, file)
                let tensor = try Preprocessor.apply(image, config, path: imageName)
                XCTAssertEqual([tensor.height, tensor.width, tensor.channels], expected.shape, file)
                guard tensor.values.count == expected.floats.count else { continue }
                for (a, b) in zip(tensor.values, expected.floats) {
                    maxDiff = max(maxDiff, abs(a - b))
                    if a != b { differing += 1 }
                }
                total += tensor.values.count
                checked += 1
            }
            report.append("\(configName): max |diff| \(maxDiff), \(differing)/\(total) values not bit-identical")
            XCTAssertLessThanOrEqual(maxDiff, 1e-5, configName)
            XCTAssertGreaterThan(total, 0, "no fixtures for \(configName)")
        }
        XCTAssertGreaterThanOrEqual(checked, 30)
        print("Preprocessing agreement with tf.image.resize + Keras preprocess_input:\n  " + report.joined(separator: "\n  "))
    }

    /// Decode + preprocess from the file equals TensorFlow's end to end (PNG decoding is exact).
    func testDecodeThenPreprocessPNG() throws {
        for (configName, config) in Self.configs {
            let path = Self.fixture("a_rgb.png")
            let image = try ImageDecoder.decode(file: path, color: config.color)
            let tensor = try Preprocessor.apply(image, config, path: path)
            let expected = try NPY.read(Self.fixture("a_rgb.png.\(configName).npy"))
            XCTAssertEqual(tensor.values, expected.floats, configName)
        }
    }

    func testOutputSize() {
        var p = Preprocess()
        XCTAssertTrue(Preprocessor.outputSize(height: 37, width: 53, p) == (37, 53))
        p.resize = .shorter(32)
        XCTAssertTrue(Preprocessor.outputSize(height: 37, width: 53, p) == (32, 45))
        XCTAssertTrue(Preprocessor.outputSize(height: 64, width: 48, p) == (42, 32))
        XCTAssertTrue(Preprocessor.outputSize(height: 50, width: 50, p) == (32, 32))
        p.resize = .shorter(256)
        XCTAssertTrue(Preprocessor.outputSize(height: 3000, width: 4000, p) == (256, 341))
        p.centerCrop = [224, 224]
        XCTAssertTrue(Preprocessor.outputSize(height: 3000, width: 4000, p) == (224, 224))
        p.resize = .exact(height: 30, width: 40)
        p.centerCrop = nil
        XCTAssertTrue(Preprocessor.outputSize(height: 3000, width: 4000, p) == (30, 40))
        p.resize = .shorter(Int.max / 2)
        _ = Preprocessor.outputSize(height: 3, width: 4000, p)  // saturates instead of trapping
    }

    func testResizeToSameSizeIsPlainConversion() throws {
        var p = Preprocess()
        p.resize = .exact(height: 2, width: 3)
        let image = DecodedImage(height: 2, width: 3, channels: 1, pixels: [0, 10, 20, 30, 40, 255])
        p.channelOrder = .gray
        XCTAssertEqual(try Preprocessor.apply(image, p, path: "x").values, [0, 10, 20, 30, 40, 255])
    }

    func testPreprocessErrors() {
        let rgb = DecodedImage(height: 40, width: 50, channels: 3, pixels: [UInt8](repeating: 7, count: 40 * 50 * 3))
        func reason(_ image: DecodedImage, _ edit: (inout Preprocess) -> Void) -> String? {
            var p = Preprocess()
            edit(&p)
            do {
                _ = try Preprocessor.apply(image, p, path: "img.jpg")
                return nil
            } catch {
                XCTAssertEqual(error.path, "img.jpg")
                return error.description
            }
        }
        XCTAssertEqual(reason(rgb) { $0.centerCrop = [64, 64] }, "img.jpg: image is 40x50, smaller than center_crop 64x64")
        XCTAssertEqual(reason(rgb) { $0.resize = .exact(height: 40, width: 50); $0.centerCrop = [64, 64] },
                       "img.jpg: image is 40x50 (after resize), smaller than center_crop 64x64")
        XCTAssertEqual(reason(rgb) { $0.resize = .shorter(32); $0.centerCrop = [30, 41] },
                       "img.jpg: image is 32x40 (after resize), smaller than center_crop 30x41")
        XCTAssertEqual(reason(rgb) { $0.preset = .tf; $0.mean = [127.5] },
                       "img.jpg: preset tf combined with mean; expected either a preset or mean/std/scale")
        XCTAssertEqual(reason(rgb) { $0.preset = .torch; $0.std = [1]; $0.scale = 2 },
                       "img.jpg: preset torch combined with std/scale; expected either a preset or mean/std/scale")
        XCTAssertEqual(reason(rgb) { $0.preset = .caffe; $0.channelOrder = .bgr },
                       "img.jpg: preset caffe with channel_order bgr; expected channel_order rgb (caffe itself produces BGR)")
        XCTAssertEqual(reason(rgb) { $0.mean = [1, 2] },
                       "img.jpg: mean has 2 values; expected 1 or 3 (one per channel)")
        XCTAssertEqual(reason(rgb) { $0.std = [1, 0, 1] },
                       "img.jpg: std [1.0, 0.0, 1.0] contains 0; expected non-zero values")
        XCTAssertEqual(reason(rgb) { $0.std = [2]; $0.scale = 0.5 },
                       "img.jpg: both std and scale given; expected one of them ((x - mean) / std or (x - mean) * scale)")
        XCTAssertEqual(reason(rgb) { $0.channelOrder = .gray },
                       "img.jpg: image has 3 channels; expected 1 for channel_order gray")
        XCTAssertEqual(reason(rgb) { $0.resize = .exact(height: 0, width: 10) },
                       "img.jpg: resize 0x10 gives 0x10; expected a positive height and width")
        XCTAssertEqual(reason(rgb) { $0.resize = .shorter(1 << 20) },
                       "img.jpg: resize shorter side 1048576 gives 1048576x1310720, more than 2^28 pixels; expected a smaller size")
        XCTAssertEqual(reason(rgb) { $0.centerCrop = [10] },
                       "img.jpg: center_crop has 1 values; expected [height, width]")
        XCTAssertEqual(reason(rgb) { $0.centerCrop = [10, -1] },
                       "img.jpg: center_crop 10x-1; expected a positive height and width")
        let short = DecodedImage(height: 40, width: 50, channels: 3, pixels: [1, 2, 3])
        XCTAssertEqual(reason(short) { _ in }, "img.jpg: image has 3 bytes of pixels; expected 40x50x3")
        XCTAssertNil(reason(rgb) { $0.resize = .shorter(32); $0.centerCrop = [32, 40]; $0.preset = .caffe })
    }

    /// Preset arithmetic on known values, as Keras computes it in float32.
    func testPresetValues() throws {
        let image = DecodedImage(height: 1, width: 1, channels: 3, pixels: [10, 128, 250])
        func run(_ preset: Preprocess.Preset) throws -> [Float] {
            var p = Preprocess()
            p.preset = preset
            return try Preprocessor.apply(image, p, path: "x").values
        }
        XCTAssertEqual(try run(.tf), [Float(10) / 127.5 - 1, Float(128) / 127.5 - 1, Float(250) / 127.5 - 1])
        XCTAssertEqual(try run(.caffe), [250 - Float(103.939 as Double), 128 - Float(116.779 as Double), 10 - Float(123.68 as Double)])
        let torch = try run(.torch)
        XCTAssertEqual(torch[0], (Float(10) / 255 - Float(0.485 as Double)) / Float(0.229 as Double))
    }
}

// MARK: - Test helpers

/// A minimal .npy reader: little-endian float32 or uint8, C order.
struct NPY {
    var shape: [Int]
    var bytes: [UInt8] = []
    var floats: [Float] = []

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func read(_ path: String) throws -> NPY {
        let data = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        guard data.count >= 10, data[0] == 0x93, Array(data[1..<6]) == Array("NUMPY".utf8) else {
            throw Failure(description: "\(path): not an .npy file")
        }
        let major = data[6]
        let headerLength: Int, headerStart: Int
        if major == 1 {
            headerLength = Int(data[8]) | Int(data[9]) << 8
            headerStart = 10
        } else {
            headerLength = Int(data[8]) | Int(data[9]) << 8 | Int(data[10]) << 16 | Int(data[11]) << 24
            headerStart = 12
        }
        let header = String(decoding: data[headerStart..<(headerStart + headerLength)], as: UTF8.self)
        guard !header.contains("'fortran_order': True") else { throw Failure(description: "\(path): Fortran order") }
        guard let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
            throw Failure(description: "\(path): no shape in \(header)")
        }
        let shape = header[open.upperBound..<close].split(separator: ",").compactMap {
            Int($0.trimmingCharacters(in: .whitespaces))
        }
        let body = Array(data[(headerStart + headerLength)...])
        var npy = NPY(shape: shape)
        let count = shape.reduce(1, *)
        if header.contains("'descr': '|u1'") {
            guard body.count == count else { throw Failure(description: "\(path): \(body.count) bytes for \(shape)") }
            npy.bytes = body
        } else if header.contains("'descr': '<f4'") {
            guard body.count == count * 4 else { throw Failure(description: "\(path): \(body.count) bytes for \(shape)") }
            npy.floats = (0..<count).map { i in
                Float(bitPattern: UInt32(body[4 * i]) | UInt32(body[4 * i + 1]) << 8
                    | UInt32(body[4 * i + 2]) << 16 | UInt32(body[4 * i + 3]) << 24)
            }
        } else {
            throw Failure(description: "\(path): unsupported dtype in \(header)")
        }
        return npy
    }
}

/// A small deterministic generator for the mutation test.
struct SplitMix64 {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform-ish in 0..<n (n > 0).
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
}
