import Foundation
import XCTest

/// The vendor's JSON quantize strategy (Tests/Fixtures/vendor, written by
/// tools/make_vendor_strategy.py from its documented layout) loads as a strategy file: each key
/// becomes the field it means, and a key this project cannot honour is refused by name.
final class VendorStrategyTests: XCTestCase {
    private var dir = ""
    private let fixtures = "\(CLITests.repo)/Tests/Fixtures/vendor"

    override func setUpWithError() throws {
        dir = try cloneExample("digits", to: NSTemporaryDirectory() + "vaiq-vendor-\(UUID().uuidString)")
        try FileManager.default.removeItem(atPath: "\(dir)/manifests/digits.yaml")
        try FileManager.default.createDirectory(atPath: "\(dir)/strategies", withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    private func manifest(strategies: String, matrix: String) throws {
        try """
            models:
              digits: {graph: models/digits/inference_graph.pb, checkpoint: models/digits/train_dir, input_nodes: [input],
                       output_nodes: [logits], input_shapes: [[-1, 32, 32, 1]]}
            calibration:
              calib: {inputs: {input: data/calib.npy}, batch_size: 20, calib_iter: 10}
            evaluation:
              test: {inputs: {input: data/eval_x.npy}, labels: data/eval_y.npy}
            strategies:
            \(strategies)
            builds:
              - {model: digits, calibration: calib, evaluation: test, matrix: {strategy: [\(matrix)], target: [dpu-sim]}}

            """.write(toFile: "\(dir)/manifests/m.yaml", atomically: true, encoding: .utf8)
    }

    /// The fixture with `edit` applied to its JSON object, written to strategies/NAME.json.
    private func variant(_ name: String, _ edit: (inout [String: Any]) -> Void) throws -> String {
        var json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(fixtures)/quantize_strategy.json"))) as? [String: Any])
        edit(&json)
        let path = "strategies/\(name).json"
        try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: "\(dir)/\(path)"))
        return path
    }

    private func vaiq(_ args: String...) throws -> CLITests.Run { try CLITests.run(args + ["-C", dir]) }

    /// The fixture builds the same bytes as the strategy it spells, written in this project's YAML.
    func testTheVendorFixtureImportsAsTheStrategyItMeans() throws {
        try FileManager.default.copyItem(atPath: "\(fixtures)/quantize_strategy.json", toPath: "\(dir)/strategies/vendor.json")
        try manifest(strategies: """
              vendor: {file: strategies/vendor.json}
              same:
                extends: pof2s
                bias_bit: 32
                input_layers: [MaxPool2d]
                do_cle: false
                include_bias_corr: true
                layers:
                  DepthwiseConv2dNative: {weight: {bit_width: 4, method: 1}, bias: {bit_width: 32, method: 1}, activation: {bit_width: 8, method: 1}}
                  Conv2D: {weight: {bit_width: 8, method: 1}, bias: {bit_width: 32, method: 1}, activation: {bit_width: 8, method: 1}}
            """, matrix: "vendor, same, pof2s")
        let r = try vaiq("all")
        XCTAssertEqual(r.status, 0, r.stderr)
        let cell = { (s: String) in "\(self.dir)/build/digits/\(s)/dpu-sim" }
        let files = try FileManager.default.contentsOfDirectory(atPath: cell("vendor")).sorted()
        XCTAssertEqual(files, try FileManager.default.contentsOfDirectory(atPath: cell("same")).sorted())
        XCTAssertTrue(files.contains("quant_info.json"))
        for f in files {
            XCTAssertEqual(FileManager.default.contents(atPath: "\(cell("vendor"))/\(f)"), FileManager.default.contents(atPath: "\(cell("same"))/\(f)"), f)
        }
        XCTAssertNotEqual(FileManager.default.contents(atPath: "\(cell("vendor"))/quant_info.json"),
                          FileManager.default.contents(atPath: "\(cell("pof2s"))/quant_info.json"))
        // `show` names the JSON file and line each imported value came from.
        let show = try vaiq("show", "vendor")
        XCTAssertTrue(show.stdout.contains("strategies/vendor.json:"), show.stdout)
        let info = try String(contentsOfFile: "\(cell("vendor"))/quant_info.json", encoding: .utf8)
        XCTAssertTrue(info.contains("\"bitWidth\":32"), "32-bit biases")
    }

    /// Each key without a meaning here, or a value not built, is one error line naming it.
    func testKeysItCannotHonourAreRefusedByName() throws {
        try FileManager.default.copyItem(atPath: "\(fixtures)/keras_only.json", toPath: "\(dir)/strategies/keras.json")
        try manifest(strategies: "  keras: {file: strategies/keras.json}", matrix: "keras")
        let keras = try vaiq("all")
        XCTAssertEqual(keras.status, 1)
        XCTAssertTrue(keras.stderr.hasPrefix("error: strategies/keras.json:"), keras.stderr)
        XCTAssertTrue(keras.stderr.hasSuffix(": 'optimize_pipeline_config.separate_conv_act' is refused: it rewrites Keras layers; a frozen TF1 graph has none\n"), keras.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/build/digits/keras"))

        func refusal(_ name: String, _ edit: (inout [String: Any]) -> Void) throws -> String {
            let path = try variant(name, edit)
            try manifest(strategies: "  \(name): {file: \(path)}", matrix: name)
            let r = try vaiq("all")
            XCTAssertEqual(r.status, 1, name)
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
            return r.stderr
        }
        func registry(_ json: inout [String: Any], _ edit: (inout [String: Any]) -> Void) {
            var r = json["quantize_registry_config"] as! [String: Any]
            edit(&r)
            json["quantize_registry_config"] = r
        }
        func firstLayerQuantizer(_ json: inout [String: Any], _ key: String, _ value: Any) {
            registry(&json) { r in
                var layers = r["layer_quantize_config"] as! [[String: Any]]
                var q = (layers[0]["weight_quantizers"] as! [[String: Any]])[0]
                if key == "quantizer_type" { q[key] = value } else {
                    var p = q["quantizer_params"] as! [String: Any]
                    p[key] = value
                    q["quantizer_params"] = p
                }
                layers[0]["weight_quantizers"] = [q]
                r["layer_quantize_config"] = layers
            }
        }
        XCTAssertTrue(try refusal("rounding") { firstLayerQuantizer(&$0, "round_mode", 0) }
            .contains("'quantize_registry_config.layer_quantize_config[0].weight_quantizers[0].quantizer_params.round_mode: 0' is refused: power-of-two weights round half away from zero (2), as vai_q_tensorflow"))
        XCTAssertTrue(try refusal("floatscale") { firstLayerQuantizer(&$0, "quantizer_type", "FSQuantizer") }
            .contains("'quantize_registry_config.layer_quantize_config[0].weight_quantizers[0].quantizer_type: FSQuantizer' is refused: per-layer quantizers here are power-of-two"))
        XCTAssertTrue(try refusal("batchnorm") { json in
            registry(&json) { r in r["layer_quantize_config"] = [["layer_type": "tensorflow.keras.layers.BatchNormalization"]] }
        }.contains("'quantize_registry_config.layer_quantize_config[0].layer_type: tensorflow.keras.layers.BatchNormalization' is refused: no op type of a frozen TF1 graph is that layer"))
        func user(_ json: inout [String: Any], _ key: String, _ value: Any) {
            registry(&json) { r in
                var user = r["user_quantize_config"] as! [String: Any]
                user[key] = value
                r["user_quantize_config"] = user
            }
        }
        XCTAssertTrue(try refusal("fixneuron") { user(&$0, "use_fixneuron_quant", 1) }.contains("'quantize_registry_config.user_quantize_config.use_fixneuron_quant' is refused"))
        XCTAssertTrue(try refusal("kl") { user(&$0, "activation_method", 2) }.contains("'quantize_registry_config.user_quantize_config.activation_method' is refused: methods 2 (KL) and 3 (percentile) are float-scale activation ranges here: calib_method"))
        XCTAssertTrue(try refusal("output") { json in json["finalize_pipeline_config"] = ["output_format": "onnx"] }
            .contains("'finalize_pipeline_config.output_format' is refused: vaiq-build writes every cell's models under build/<cell>/"))
        XCTAssertTrue(try refusal("typo") { json in json["refine_pipeline_config"] = ["adjust_dpu_shif_cut": true] }
            .contains("unknown key 'adjust_dpu_shif_cut' in refine_pipeline_config; did you mean 'adjust_dpu_shift_cut'?"))
        // A value of a key it maps still goes through the strategy's own checks.
        XCTAssertTrue(try refusal("perchannel") { user(&$0, "weight_per_channel", true) }.contains("'per_channel: true' is not supported for pof2s"))
    }
}
