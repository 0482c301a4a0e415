import Foundation
import XCTest

/// Image folders as calibration and evaluation sets, end to end on the shapes example (a Keras
/// SavedModel): the build, what reruns when the preprocessing changes, `inspect-data`'s
/// warnings, `init`, and one error line per bad image.
final class ImageSetTests: XCTestCase {
    private var repo = ""

    override func setUpWithError() throws {
        repo = NSTemporaryDirectory() + "vaiq-images-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
        for item in ["manifests", "models", "data"] {
            try FileManager.default.copyItem(atPath: "\(CLITests.repo)/examples/shapes/\(item)", toPath: "\(repo)/\(item)")
        }
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: repo) }

    private func vaiq(_ args: String...) throws -> CLITests.Run { try CLITests.run(args + ["-C", repo]) }

    private var manifestPath: String { "\(repo)/manifests/shapes.yaml" }

    private func editManifest(_ edit: (String) -> String) throws {
        let text = try String(contentsOfFile: manifestPath, encoding: .utf8)
        let edited = edit(text)
        XCTAssertNotEqual(edited, text, "the edit changed nothing")
        try edited.write(toFile: manifestPath, atomically: true, encoding: .utf8)
    }

    private func metrics(_ cell: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(repo)/build/\(cell)/metrics.json"))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// The example builds from its folders; top-1 of the float and 8-bit models is the one the
    /// training script measured in TensorFlow (98.9%); a new mean reruns only what reads images.
    func testTheExampleBuildsFromImageFoldersAndAMeanChangeRerunsOnlyWhatReadsThem() throws {
        let first = try vaiq("all", "-j2")
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(first.stdout.contains("ran prepare/calibration/shapes-calib/image"), first.stdout)
        XCTAssertTrue(first.stdout.contains("ran prepare/evaluation/shapes-eval/image"), first.stdout)
        let m = try metrics("shapes/pof2s/DPUCZDX8G")
        let float = try XCTUnwrap(m["floatTop1"] as? Double), quantized = try XCTUnwrap(m["quantizedTop1"] as? Double)
        XCTAssertEqual(float, 178.0 / 180.0, accuracy: 1e-9, "\(m)")
        XCTAssertGreaterThanOrEqual(quantized, 0.97, "\(m)")
        XCTAssertEqual(try vaiq("all").stdout.split(separator: "\n").last.map { $0.hasPrefix("vaiq-build: nothing to do") }, true)

        // Only calibration's preprocessing changes (the anchor is replaced by its own block).
        try editManifest {
            $0.replacingOccurrences(of: "          preset: tf                      # RGB, x / 127.5 - 1: as train.py trained it",
                                    with: "          mean: [127.5]\n          std: [127.6]")
        }
        let second = try vaiq("all", "--explain")
        XCTAssertEqual(second.status, 0, second.stderr)
        let ran = second.stdout.split(separator: "\n").filter { $0.contains("] ran ") }.map { String($0.split(separator: " ")[2]) }
        XCTAssertTrue(ran.contains("prepare/calibration/shapes-calib/image"), second.stdout)
        XCTAssertTrue(ran.contains("prepare/evaluation/shapes-eval/image"), second.stdout)
        XCTAssertFalse(ran.contains { $0.hasPrefix("freeze/") || $0.hasPrefix("optimize/") }, second.stdout)
    }

    func testAWrongChannelOrderIsCaughtByInspectData() throws {
        let right = try vaiq("inspect-data", "shapes-eval")
        XCTAssertEqual(right.status, 0, right.stderr)
        XCTAssertEqual(right.stderr, "")
        XCTAssertTrue(right.stdout.contains("input 'image': 180x64x64x3 float32 from 180 images under data/eval, resize_shorter 72, center_crop 64x64, preset tf"),
                      right.stdout)
        try editManifest {
            $0.replacingOccurrences(of: "          preset: tf                      # RGB, x / 127.5 - 1: as train.py trained it",
                                    with: "          channel_order: bgr\n          mean: [127.5]\n          std: [127.5]")
        }
        let wrong = try vaiq("inspect-data", "shapes-eval")
        XCTAssertEqual(wrong.status, 0, wrong.stderr)
        let lines = wrong.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, wrong.stderr)
        XCTAssertTrue(lines[0].hasPrefix("warning: evaluation 'shapes-eval': model 'shapes' agrees better with the channels reversed: top-1 0.0% as declared (bgr) vs "),
                      wrong.stderr)
        XCTAssertTrue(lines[0].hasSuffix("— check channel_order (manifests/shapes.yaml:14:21)"), wrong.stderr)
    }

    /// No normalization declared (values 0...255) for a graph whose input goes straight into a
    /// convolution: a warning naming the manifest's set.
    func testAnUnnormalizedRangeForAGraphThatDoesNotScaleItsInputIsAWarning() throws {
        try editManifest { $0.replacingOccurrences(of: "          preset: tf                      # RGB, x / 127.5 - 1: as train.py trained it\n", with: "") }
        let r = try vaiq("inspect-data", "shapes-calib")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.hasPrefix("warning: calibration 'shapes-calib', input 'image': values reach 255 and no normalization is declared, "
                                         + "but model 'shapes' feeds 'image' straight into Conv2D: most models expect normalized input "
                                         + "(preprocess: preset tf, caffe or torch, or mean/std) — check how the model was trained (manifests/shapes.yaml:10:3)\n"),
                      r.stderr)
    }

    func testCalibrationAndEvaluationPreparedDifferentlyIsAWarning() throws {
        // Calibration alone in BGR (its own block instead of the shared anchor).
        try editManifest {
            $0.replacingOccurrences(of: "        preprocess: *preprocess",
                                    with: "        preprocess: {resize_shorter: 72, center_crop: [64, 64], channel_order: bgr, mean: [127.5], std: [127.5]}")
        }
        let r = try vaiq("inspect-data", "calibration/shapes-calib")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stderr, "warning: calibration 'shapes-calib' and evaluation 'shapes-eval' (both read by shapes/pof2s/DPUCADF8H) preprocess input 'image' differently: "
                       + "resize_shorter 72, center_crop 64x64, preset tf (manifests/shapes.yaml:14:21) vs resize_shorter 72, center_crop 64x64, bgr, mean 127.5, std 127.5 "
                       + "(manifests/shapes.yaml:26:21)\n")
        let unknown = try vaiq("inspect-data", "nosuch")
        XCTAssertEqual(unknown.status, 1)
        XCTAssertEqual(unknown.stderr, "error: no calibration or evaluation set 'nosuch'; sets: calibration/shapes-calib, evaluation/shapes-eval\n")
    }

    /// `init` on the example's model and images, in a folder with no manifests: the build runs
    /// unedited.
    func testInitWritesManifestsThatBuildUnedited() throws {
        try FileManager.default.removeItem(atPath: "\(repo)/manifests")
        let r = try vaiq("init", "--saved-model", "\(repo)/models/saved_model", "--images", "\(repo)/data/calib", "--eval-images", "\(repo)/data/eval")
        XCTAssertEqual(r.status, 0, r.stderr)
        let name = URL(fileURLWithPath: repo).lastPathComponent
        XCTAssertTrue(r.stdout.hasPrefix("wrote manifests/\(name).yaml: model '\(name)' (SavedModel models/saved_model, image [?, 64, 64, 3]), "
                                         + "calibration from 60 images in data/calib, evaluation of 180 images in 6 classes, build \(name) x pof2s x DPUCZDX8G\n"),
                      r.stdout)
        let build = try vaiq("all")
        XCTAssertEqual(build.status, 0, build.stderr)
        let m = try metrics("\(name)/pof2s/DPUCZDX8G")
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(m["quantizedTop1"] as? Double), 0.9, "\(m)")
        // A second init refuses to overwrite.
        let again = try vaiq("init")
        XCTAssertEqual(again.status, 1)
        XCTAssertEqual(again.stderr, "error: manifests/\(name).yaml: the repository already has manifests; init writes only into a repository without any\n")
    }

    func testInitFindsTheModelAndImagesByItself() throws {
        try FileManager.default.removeItem(atPath: "\(repo)/manifests")
        try FileManager.default.removeItem(atPath: "\(repo)/data/eval")
        let r = try vaiq("init", "--name", "net")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("wrote manifests/net.yaml: model 'net' (SavedModel models/saved_model, image [?, 64, 64, 3]), calibration from 60 images in data/calib, build net x pof2s x DPUCZDX8G\n"),
                      r.stdout)
        XCTAssertEqual(try vaiq("all").status, 0)
        let outside = try vaiq("init", "--images", NSTemporaryDirectory())
        XCTAssertEqual(outside.status, 1)
    }

    // MARK: bad images: one error line naming the file

    private func replaceCalibrationImage(with fixture: String, named name: String) throws {
        try FileManager.default.removeItem(atPath: "\(repo)/data/calib/calib_000.jpg")
        try FileManager.default.copyItem(atPath: "\(CLITests.repo)/Tests/Fixtures/images/\(fixture)", toPath: "\(repo)/data/calib/\(name)")
    }

    private func assertBuildFails(_ expected: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try vaiq("all")
        XCTAssertEqual(r.status, 1, file: file, line: line)
        let errors = (r.stdout + r.stderr).split(separator: "\n").filter { $0.contains("error: ") }
        XCTAssertEqual(errors.count, 1, r.stdout + r.stderr, file: file, line: line)
        XCTAssertTrue(errors.first?.hasSuffix(expected) ?? false, "\(errors)", file: file, line: line)
        // Nothing of the failed set was placed.
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(repo)/build/shapes/pof2s/DPUCZDX8G/quantize_eval_model.pb"), file: file, line: line)
    }

    func testACorruptJPEGIsOneErrorNamingIt() throws {
        try replaceCalibrationImage(with: "bad/truncated.jpg", named: "calib_000.jpg")
        try assertBuildFails("data/calib/calib_000.jpg: corrupt or truncated JPEG (Premature end of JPEG file); expected a complete baseline or progressive JPEG")
    }

    func testAPNGWithAlphaIsOneErrorNamingIt() throws {
        try replaceCalibrationImage(with: "bad/rgba.png", named: "calib_000.png")
        try assertBuildFails("data/calib/calib_000.png: PNG with an alpha channel; expected RGB or grayscale without alpha (flatten it first)")
    }

    func testA16BitPNGIsOneErrorNamingIt() throws {
        try replaceCalibrationImage(with: "bad/rgb16.png", named: "calib_000.png")
        try assertBuildFails("data/calib/calib_000.png: 16-bit PNG; expected 8 bits per channel")
    }

    func testAnImageSmallerThanTheCropIsOneErrorNamingIt() throws {
        try replaceCalibrationImage(with: "a_rgb.png", named: "calib_000.png")
        try editManifest { $0.replacingOccurrences(of: "          resize_shorter: 72              # TF bilinear, half-pixel centers (tf.image.resize)\n", with: "") }
        try assertBuildFails("data/calib/calib_000.png: image is 37x53, smaller than center_crop 64x64")
    }

    func testImagesOfDifferentSizesWithoutResizeOrCropAreOneError() throws {
        try editManifest {
            $0.replacingOccurrences(of: "          resize_shorter: 72              # TF bilinear, half-pixel centers (tf.image.resize)\n", with: "")
              .replacingOccurrences(of: "          center_crop: [64, 64]\n", with: "")
        }
        let r = try vaiq("all")
        XCTAssertEqual(r.status, 1)
        // Calibration and evaluation share the block: each set's stage names its own first odd image.
        let errors = (r.stdout + r.stderr).split(separator: "\n").filter { $0.contains("error: ") }
        XCTAssertEqual(errors.count, 2, r.stdout + r.stderr)
        XCTAssertTrue(errors.allSatisfy { $0.hasSuffix("rows of one array must match (add resize or center_crop to preprocess)") }, "\(errors)")
        XCTAssertTrue(errors.contains { $0.contains("(prepare): data/calib/calib_001.jpg: is 95x89 after preprocessing, but data/calib/calib_000.jpg is 102x105;") },
                      "\(errors)")
    }

    func testAnEmptyFolderAndAGlobMatchingNothingAreOneErrorEach() throws {
        try FileManager.default.createDirectory(atPath: "\(repo)/data/empty", withIntermediateDirectories: true)
        try editManifest { $0.replacingOccurrences(of: "images: {dir: data/calib}", with: "images: {dir: data/empty}") }
        let empty = try vaiq("all")
        XCTAssertEqual(empty.status, 1)
        XCTAssertEqual(empty.stderr, "error: manifests/shapes.yaml:13:23: calibration 'shapes-calib': input 'image': images: folder 'data/empty' has no files; expected JPEG or PNG images\n")
        try editManifest { $0.replacingOccurrences(of: "images: {dir: data/empty}", with: "images: {dir: data/calib, glob: \"*.gif\"}") }
        let glob = try vaiq("all")
        XCTAssertEqual(glob.status, 1)
        XCTAssertEqual(glob.stderr, "error: manifests/shapes.yaml:13:41: calibration 'shapes-calib': input 'image': images: glob '*.gif' matches none of the 60 files in 'data/calib'\n")
    }
}
