import CKernels
@testable import Kernels
import XCTest

/// The C epilogue (bias, residual, activation in one pass) behind the sgemm kernels gives exactly
/// the bits of the scalar Swift it replaced, with the AVX2 body and with the portable one, on odd
/// widths, row strides, and special values (-0, +-inf, NaN).
final class EpilogueCTests: XCTestCase {
    /// The Swift epilogue before the C one (Kernels.swift), kept here as the specification.
    func swiftEpilogue(_ out: UnsafeMutablePointer<Float>, rows: Int, channels: Int, stride: Int, bias: UnsafePointer<Float>?,
                       residual: UnsafePointer<Float>?, activation: Activation) {
        if bias == nil && residual == nil && activation == .none { return }
        for r in 0..<rows {
            let row = out + r * stride
            if let bias { for c in 0..<channels { row[c] += bias[c] } }
            if let residual { let add = residual + r * stride; for c in 0..<channels { row[c] += add[c] } }
            switch activation {
            case .none: break
            case .relu: for c in 0..<channels { row[c] = max(row[c], 0) }
            case .relu6: for c in 0..<channels { row[c] = min(max(row[c], 0), 6) }
            case let .leakyRelu(alpha): for c in 0..<channels { let v = row[c]; row[c] = v >= 0 ? v : alpha * v }
            }
        }
    }

    func testMatchesScalarSwiftBitForBit() {
        var r = FastKernelTests.Random(state: 21)
        let previous = ck_force_portable(0)
        defer { _ = ck_force_portable(previous) }
        let specials: [Float] = [0, -0.0, .infinity, -.infinity, .nan, 6, -6, 1e-30, -1e-30]
        for trial in 0..<200 {
            let rows = r.int(1...5), channels = [1, 3, 7, 8, 13, 24, 37, 100][r.int(0...7)], stride = channels + r.int(0...3)
            var out = r.floats(rows * stride).map { $0 * 4 }
            for i in out.indices where r.int(0...9) == 0 { out[i] = specials[r.int(0...specials.count - 1)] }
            let bias = r.floats(channels), residual = r.floats(rows * stride)
            let activation: Activation = [.none, .relu, .relu6, .leakyRelu(alpha: 0.3)][r.int(0...3)]
            let hasBias = r.int(0...2) != 0, hasResidual = r.int(0...2) == 0
            var expected = out
            bias.withUnsafeBufferPointer { b in residual.withUnsafeBufferPointer { res in
                swiftEpilogue(&expected, rows: rows, channels: channels, stride: stride, bias: hasBias ? b.baseAddress : nil,
                              residual: hasResidual ? res.baseAddress : nil, activation: activation)
            } }
            for portable in [0, 1] as [Int32] {
                _ = ck_force_portable(portable)
                var got = out
                bias.withUnsafeBufferPointer { b in residual.withUnsafeBufferPointer { res in
                    epilogue(&got, rows: rows, channels: channels, stride: stride, bias: hasBias ? b.baseAddress : nil,
                             residual: hasResidual ? res.baseAddress : nil, activation: activation)
                } }
                let differing = zip(got, expected).filter { $0.bitPattern != $1.bitPattern }.count
                XCTAssertEqual(differing, 0, "trial \(trial) portable \(portable) \(activation) \(rows)x\(channels)/\(stride)")
            }
        }
    }
}
