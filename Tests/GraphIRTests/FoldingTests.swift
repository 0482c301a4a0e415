import GraphIR
import Tensors
import XCTest

/// Load-time folding: the shape-computation chains Keras exports, evaluated exactly as TensorFlow
/// does (integer division truncates, floor division floors, slices follow the masks).
final class FoldingTests: XCTestCase {
    func ints(_ values: [Int], _ shape: [Int]? = nil) -> Folding.Value {
        Folding.Value(dtype: .int32, shape: shape ?? [values.count], values: values.map(Double.init))
    }

    func floats(_ values: [Double], _ shape: [Int]) -> Folding.Value {
        Folding.Value(dtype: .float32, shape: shape, values: values)
    }

    /// `tf.reshape(x, [tf.shape(x)[0], -1])` as Keras writes it: Shape -> StridedSlice -> Pack.
    func testKerasFlattenChain() throws {
        let x = floats(Array(repeating: 0, count: 2 * 3 * 4), [2, 3, 4])
        let shape = try Folding.evaluate(.shape(dtype: .int32), [x])
        XCTAssertEqual(shape, ints([2, 3, 4]))
        let batch = try Folding.evaluate(.stridedSlice(StridedSliceMasks(shrinkAxis: 1)), [shape, ints([0]), ints([1]), ints([1])])
        XCTAssertEqual(batch.shape, [], "shrink_axis_mask makes a scalar")
        XCTAssertEqual(batch.ints, [2])
        let target = try Folding.evaluate(.pack(axis: 0), [batch, ints([-1], [])])
        XCTAssertEqual(target, ints([2, -1]))
        let flat = try Folding.evaluate(.reshape, [x, target])
        XCTAssertEqual(flat.shape, [2, 12])
    }

    func testStridedSliceMasksAndNegativeStride() throws {
        let x = ints([0, 1, 2, 3, 4, 5])
        let reversed = try Folding.evaluate(.stridedSlice(StridedSliceMasks(begin: 1, end: 1)), [x, ints([0]), ints([0]), ints([-1])])
        XCTAssertEqual(reversed.ints, [5, 4, 3, 2, 1, 0])
        let everyOther = try Folding.evaluate(.stridedSlice(StridedSliceMasks()), [x, ints([1]), ints([-1]), ints([2])])
        XCTAssertEqual(everyOther.ints, [1, 3])
    }

    func testIntegerArithmeticMatchesTensorFlow() throws {
        let a = ints([-7, 7]), b = ints([2], [])
        XCTAssertEqual(try Folding.evaluate(.binary(.div), [a, b]).ints, [-3, 3], "integer division truncates")
        XCTAssertEqual(try Folding.evaluate(.binary(.floorDiv), [a, b]).ints, [-4, 3])
        XCTAssertEqual(try Folding.evaluate(.binary(.floorMod), [a, b]).ints, [1, 1], "floor mod takes the divisor's sign")
        let half = try Folding.evaluate(.binary(.div), [floats([-7, 7], [2]), floats([2], [])])
        XCTAssertEqual(half.values, [-3.5, 3.5])
        XCTAssertEqual(try Folding.evaluate(.cast(.int32), [floats([-2.7, 2.7], [2])]).ints, [-2, 2], "casts truncate")
    }

    func testReduceConcatTransposeAndGather() throws {
        let m = floats([1, 2, 3, 4, 5, 6], [2, 3])
        let mean = try Folding.evaluate(.reduce(.mean, keepDims: true), [m, ints([-1])])
        XCTAssertEqual(mean, floats([2, 5], [2, 1]))
        XCTAssertEqual(try Folding.evaluate(.reduce(.max, keepDims: false), [m, ints([0])]), floats([4, 5, 6], [3]))
        let joined = try Folding.evaluate(.concat, [m, floats([7, 8], [2, 1]), ints([1], [])])
        XCTAssertEqual(joined, floats([1, 2, 3, 7, 4, 5, 6, 8], [2, 4]))
        XCTAssertEqual(try Folding.evaluate(.transpose, [m, ints([1, 0])]), floats([1, 4, 2, 5, 3, 6], [3, 2]))
        XCTAssertEqual(try Folding.evaluate(.gather, [m, ints([2, 0]), ints([1], [])]), floats([3, 1, 6, 4], [2, 2]))
        XCTAssertThrowsError(try Folding.evaluate(.gather, [m, ints([3]), ints([1], [])])) { error in
            XCTAssertEqual("\(error)", "gather index 3 out of range [0, 3)")
        }
    }

    /// Only ops whose value is a function of constant inputs fold; a convolution or a sigmoid waits
    /// for the runtime.
    func testWhatFolds() throws {
        XCTAssertTrue(Folding.canFold(.binary(.mul)))
        XCTAssertTrue(Folding.canFold(.unary(.relu6)))
        XCTAssertFalse(Folding.canFold(.unary(.sigmoid)))
        XCTAssertFalse(Folding.canFold(.conv2d(Convolution(padding: .same))))
        XCTAssertThrowsError(try Folding.evaluate(.softmax, [floats([1], [1])]))
        let clamped = try Folding.Value(dtype: .int32, shape: [2], values: [3e9, -3e9]).tensor()
        XCTAssertEqual(clamped.scalars(as: Int32.self), [Int32.max, Int32.min], "int32 results saturate")
    }
}
