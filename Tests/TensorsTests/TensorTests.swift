import Tensors
import XCTest

final class TensorTests: XCTestCase {
    func testScalarsRoundTripAndShape() {
        let t = Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
        XCTAssertEqual(t.dtype, .float32)
        XCTAssertEqual(t.elementCount, 6)
        XCTAssertEqual(t.bytes.count, 24)
        XCTAssertEqual(t.scalars(as: Float.self), [1, 2, 3, 4, 5, 6])
    }

    func testByteCountMustMatchShape() {
        XCTAssertThrowsError(try Tensor(dtype: .int32, shape: [2, 2], bytes: [UInt8](repeating: 0, count: 12))) { error in
            XCTAssertEqual("\(error)", "a int32 tensor of shape [2, 2] needs 16 bytes, got 12")
        }
        XCTAssertThrowsError(try Tensor(dtype: .int32, shape: [-1], bytes: [])) { error in
            XCTAssertEqual("\(error)", "shape [-1] has a negative dimension")
        }
    }

    func testHalfAndBfloat16Widen() throws {
        // 1.5 in IEEE half is 0x3E00; in bfloat16 it is 0x3FC0 (the top half of float32 0x3FC00000).
        let half = try Tensor(dtype: .float16, shape: [2], bytes: [0x00, 0x3E, 0x00, 0xBC])   // 1.5, -1.0
        XCTAssertEqual(half.floatValues(), [1.5, -1.0])
        let bf = try Tensor(dtype: .bfloat16, shape: [1], bytes: [0xC0, 0x3F])
        XCTAssertEqual(bf.floatValues(), [1.5])
    }

    func testScalarTensorHasOneElement() {
        let t = Tensor([Int64(7)], shape: [])
        XCTAssertEqual(t.elementCount, 1)
        XCTAssertEqual(t.floatValues(), [7])
    }
}
