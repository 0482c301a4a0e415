import Foundation
import XCTest

/// `vaiq-build report --layers CELL` on the digits example's pof2s_tf1 cell (its repository, one cell built): every quantized
/// activation's SQNR in graph order, the sweep of the worst layers in float, the ignore_nodes line;
/// a bias-corrected cell measured against the float model before tuning (as its metrics.json);
/// and the errors of a cell that is unknown, unbuilt or has no evaluation set.
final class LayerReportTests: XCTestCase {
    private var repo = ""

    override func setUpWithError() throws {
        repo = NSTemporaryDirectory() + "vaiq-layers-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
        for part in ["models", "data", "manifests"] {
            try FileManager.default.copyItem(atPath: "\(CLITests.repo)/examples/digits/\(part)", toPath: "\(repo)/\(part)")
        }
        // A build of the same model without an evaluation set.
        try "builds:\n  - {name: plain, model: digits, calibration: digits-calib, strategy: pof2s_tf1, target: DPUCZDX8G}\n"
            .write(toFile: "\(repo)/manifests/plain.yaml", atomically: true, encoding: .utf8)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: repo) }

    private func vaiq(_ args: [String]) throws -> CLITests.Run { try CLITests.run(args + ["-C", repo]) }

    func testLayerReportShowsEveryTensorAndTheLayersWorthLeavingInFloat() throws {
        let cell = "digits/pof2s_tf1/DPUCZDX8G"
        let unbuilt = try vaiq(["report", "--layers", cell])
        XCTAssertEqual(unbuilt.status, 1)
        XCTAssertTrue(unbuilt.stderr.contains("does not exist: build the cell first (`vaiq-build \(cell)`)"), unbuilt.stderr)
        XCTAssertEqual(try vaiq([cell]).status, 0)

        let text = try vaiq(["report", "--layers", cell])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.hasPrefix("\(cell): 256 evaluation rows; model output SQNR 11."), text.stdout)
        XCTAssertTrue(text.stdout.contains("ignore_nodes: [pw1/Conv2D]"), text.stdout)
        let page = try String(contentsOfFile: "\(repo)/build/report-layers/digits_pof2s_tf1_DPUCZDX8G.html", encoding: .utf8)
        XCTAssertEqual(page.components(separatedBy: "class=\"bar\"").count - 1, 12, "one bar per quantized activation")
        XCTAssertTrue(page.contains("<code>ignore_nodes: [pw1/Conv2D]</code>"))

        let json = try vaiq(["report", "--layers", cell, "--json", "--sweep", "2", "--rows", "64"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let analysis = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(analysis["samples"] as? Int, 64)
        let tensors = try XCTUnwrap(analysis["tensors"] as? [[String: Any]])
        XCTAssertEqual(tensors.compactMap { $0["node"] as? String }.first, "input", "graph order")
        XCTAssertEqual(tensors.count, 12)
        // The batch-norm-folded conv2 is where the example loses most (its output Relu_3).
        let worst = tensors.filter { $0["op"] as? String == "Relu" }.min { ($0["sqnrDB"] as! Double) < ($1["sqnrDB"] as! Double) }
        XCTAssertEqual(worst?["node"] as? String, "Relu_3")
        XCTAssertEqual((analysis["trials"] as? [Any])?.count, 2)

        // Bias correction changed the biases of pof2s's eval model: the reference is the float
        // model before tuning, so the output SQNR is the one metrics.json gives (23.6 dB), not
        // the quantized model's against its own tuned float twin.
        let tuned = "digits/pof2s/DPUCZDX8G"
        XCTAssertEqual(try vaiq([tuned]).status, 0)
        let corrected = try vaiq(["report", "--layers", tuned, "--sweep", "0"])
        XCTAssertEqual(corrected.status, 0, corrected.stderr)
        XCTAssertTrue(corrected.stdout.hasPrefix("\(tuned): 256 evaluation rows; model output SQNR 23."), corrected.stdout)

        let unknown = try vaiq(["report", "--layers", "digits/nope/DPUCZDX8G"])
        XCTAssertEqual(unknown.status, 1)
        XCTAssertTrue(unknown.stderr.contains("no matrix cell named 'digits/nope/DPUCZDX8G'"), unknown.stderr)
        let plain = try vaiq(["report", "--layers", "plain/pof2s_tf1/DPUCZDX8G"])
        XCTAssertEqual(plain.status, 1)
        XCTAssertTrue(plain.stderr.contains("has no evaluation set"), plain.stderr)
        XCTAssertEqual(try vaiq(["report", "--sweep", "2"]).status, 2, "--sweep without --layers is a usage error")
    }
}
