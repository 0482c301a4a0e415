import TFProto
import TensorFlowIO
import Tensors
import XCTest

final class TensorProtoCodecTests: XCTestCase {
    private func proto(_ dtype: Tensorflow_DataType, _ dims: [Int], _ fill: (inout Tensorflow_TensorProto) -> Void) -> Tensorflow_TensorProto {
        var p = Tensorflow_TensorProto()
        p.dtype = dtype
        p.tensorShape = Tensorflow_TensorShapeProto(dims: dims)
        fill(&p)
        return p
    }

    func testSingleValueIsBroadcastToTheShape() throws {
        let t = try TensorProtoCodec.decode(proto(.dtFloat, [3, 4]) { $0.floatVal = [1.5] }, context: "c")
        XCTAssertEqual(t.scalars(as: Float.self), [Float](repeating: 1.5, count: 12))
    }

    func testLastValueFillsTheRestAndNoValuesMeansZeros() throws {
        let t = try TensorProtoCodec.decode(proto(.dtInt32, [5]) { $0.intVal = [1, 2] }, context: "c")
        XCTAssertEqual(t.scalars(as: Int32.self), [1, 2, 2, 2, 2])
        let z = try TensorProtoCodec.decode(proto(.dtInt64, [2, 2]) { _ in }, context: "c")
        XCTAssertEqual(z.scalars(as: Int64.self), [0, 0, 0, 0])
    }

    func testTypedFieldsForSmallIntsBoolAndHalf() throws {
        let i8 = try TensorProtoCodec.decode(proto(.dtInt8, [3]) { $0.intVal = [-1, 2, 127] }, context: "c")
        XCTAssertEqual(i8.scalars(as: Int8.self), [-1, 2, 127])
        let b = try TensorProtoCodec.decode(proto(.dtBool, [2]) { $0.boolVal = [true, false] }, context: "c")
        XCTAssertEqual(b.scalars(as: Bool.self), [true, false])
        let h = try TensorProtoCodec.decode(proto(.dtHalf, [2]) { $0.halfVal = [0x3E00, 0xBC00] }, context: "c")
        XCTAssertEqual(h.floatValues(), [1.5, -1])
    }

    func testTensorContentRoundTrip() throws {
        let t = Tensor([1, -2, 3.25, 4] as [Float], shape: [2, 2])
        let p = TensorProtoCodec.encode(t)
        XCTAssertEqual(p.dtype, .dtFloat)
        XCTAssertEqual(p.tensorContent.count, 16)
        XCTAssertEqual(try TensorProtoCodec.decode(p, context: "c"), t)
    }

    func testErrorsNameTheNode() {
        XCTAssertThrowsError(try TensorProtoCodec.decode(proto(.dtFloat, [2]) { $0.floatVal = [1, 2, 3] }, context: "node 'w'")) {
            XCTAssertEqual("\($0)", "node 'w': malformed tensor: 3 values for a shape of 2 elements")
        }
        XCTAssertThrowsError(try TensorProtoCodec.decode(proto(.dtFloat, [2]) { $0.tensorContent = Data([0, 0, 0]) }, context: "node 'w'")) {
            XCTAssertEqual("\($0)", "node 'w': malformed tensor: tensor_content: a float32 tensor of shape [2] needs 8 bytes, got 3")
        }
        XCTAssertThrowsError(try TensorProtoCodec.decode(proto(.dtString, [1]) { $0.stringVal = [Data("a".utf8)] }, context: "node 's'")) {
            XCTAssertEqual("\($0)", "node 's': unsupported dtype DT_STRING")
        }
        XCTAssertThrowsError(try TensorProtoCodec.decode(proto(.dtFloat, [1 << 40, 1 << 40]) { $0.floatVal = [1] }, context: "node 'big'")) {
            XCTAssertEqual("\($0)", "node 'big': malformed tensor: shape [1099511627776, 1099511627776] is too large")
        }
        XCTAssertThrowsError(try TensorProtoCodec.decode(proto(.dtFloat, [-1, 2]) { _ in }, context: "node 'p'")) {
            XCTAssertEqual("\($0)", "node 'p': malformed tensor: shape is not fully known")
        }
    }
}
