import Foundation
import XCTest

/// Bias correction and fast finetuning (pof2s, the builds' default, and pof2s_ft) on every
/// single-input block and layer fixture the quantize oracle uses: each quantizes, and layers the
/// tuning cannot run (the hard-sigmoid's scalar `+ 3` taken as a conv's bias, ...) are left as
/// they are rather than read out of bounds.
final class TuningFixturesTests: XCTestCase {
    static let cases = ["block_squeeze_excite", "block_residual", "block_inverted_residual", "block_concat_branches", "block_classifier",
                        "block_conv_bn_relu6", "conv2d_transpose_1", "depthwise_1", "unary_hardsigmoid", "unary_leakyrelu"]

    func testEveryFixtureQuantizesWithTuning() throws {
        let ops = "\(CLITests.repo)/Tests/Fixtures/ops"
        let out = NSTemporaryDirectory() + "vaiq-tuning-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: out) }
        for name in Self.cases {
            let input = "\(ops)/\(name)/in_x.npy"
            XCTAssertTrue(FileManager.default.fileExists(atPath: input), name)
            for strategy in ["pof2s", "pof2s_ft"] {
                let r = try CLITests.run(["quantize", "--input_frozen_graph", "\(ops)/\(name)/model.pb", "--input_nodes", "x",
                                          "--output_nodes", "y", "--input_shapes", try shape(input), "--calib_data", "x=\(input)",
                                          "--calib_iter", "1", "--quantize_strategy", strategy, "--output_dir", "\(out)/\(name)-\(strategy)"])
                XCTAssertEqual(r.status, 0, "\(name) \(strategy): \(r.stderr)")
                XCTAssertTrue(FileManager.default.fileExists(atPath: "\(out)/\(name)-\(strategy)/finetune.json"), "\(name) \(strategy)")
            }
        }
    }

    /// The .npy's shape as --input_shapes text (its header: `'shape': (2, 6, 7, 8)`).
    private func shape(_ npy: String) throws -> String {
        let header = String(decoding: try Data(contentsOf: URL(fileURLWithPath: npy)).prefix(256), as: UTF8.self)
        let inside = try XCTUnwrap(header.range(of: "'shape': (").map { header[$0.upperBound...].prefix { $0 != ")" } })
        return inside.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: ",")
    }
}
