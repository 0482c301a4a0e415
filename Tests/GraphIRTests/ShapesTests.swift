import GraphIR
import XCTest

/// Shape arithmetic (NumPy broadcasting, reshape with -1, squeeze, expand_dims, transpose) as
/// TensorFlow defines it, and its refusals, which must name the shapes.
final class ShapesTests: XCTestCase {
    func testBroadcastPadsOnTheLeftAndStretchesOnes() throws {
        XCTAssertEqual(try Shapes.broadcast([2, 1, 3], [4, 1]), [2, 4, 3])
        XCTAssertEqual(try Shapes.broadcast([], [5]), [5])
        XCTAssertThrowsError(try Shapes.broadcast([2, 3], [4])) { error in
            XCTAssertEqual("\(error)", "shapes [2, 3] and [4] do not broadcast")
        }
    }

    /// The indexer maps an element of the broadcast result to the element of the smaller operand
    /// it reads: along a stretched axis the index stays, along a kept one it advances.
    func testBroadcastIndexerReadsTheRightElement() {
        let row = Shapes.broadcastIndexer(from: [3], to: [2, 3])
        XCTAssertEqual((0..<6).map(row), [0, 1, 2, 0, 1, 2])
        let column = Shapes.broadcastIndexer(from: [2, 1], to: [2, 3])
        XCTAssertEqual((0..<6).map(column), [0, 0, 0, 1, 1, 1])
        let same = Shapes.broadcastIndexer(from: [2, 3], to: [2, 3])
        XCTAssertEqual((0..<6).map(same), Array(0..<6))
        XCTAssertEqual(Shapes.strides([2, 3, 4]), [12, 4, 1])
    }

    func testReshapeInfersOneDimension() throws {
        XCTAssertEqual(try Shapes.reshape([2, 3, 4], to: [-1, 4]), [6, 4])
        XCTAssertEqual(try Shapes.reshape([2, 3, 4], to: [2, -1]), [2, 12])
        XCTAssertThrowsError(try Shapes.reshape([2, 3, 4], to: [-1, -1]))
        XCTAssertThrowsError(try Shapes.reshape([2, 3, 4], to: [-1, 5])) { error in
            XCTAssertEqual("\(error)", "cannot reshape [2, 3, 4] (24 elements) to [-1, 5]")
        }
        XCTAssertThrowsError(try Shapes.reshape([2, 3], to: [7]))
    }

    func testSqueezeExpandDimsAndTranspose() throws {
        XCTAssertEqual(try Shapes.squeeze([1, 3, 1, 2], axes: []), [3, 2])
        XCTAssertEqual(try Shapes.squeeze([1, 3, 1, 2], axes: [-2]), [1, 3, 2])
        XCTAssertThrowsError(try Shapes.squeeze([1, 3], axes: [1])) { error in
            XCTAssertEqual("\(error)", "cannot squeeze axis 1 of shape [1, 3]")
        }
        XCTAssertEqual(try Shapes.expandDims([3, 2], axis: -1), [3, 2, 1])
        XCTAssertEqual(try Shapes.expandDims([3, 2], axis: 0), [1, 3, 2])
        XCTAssertThrowsError(try Shapes.expandDims([3, 2], axis: 4))
        XCTAssertEqual(try Shapes.transpose([2, 3, 4], perm: [2, 0, 1]), [4, 2, 3])
        XCTAssertThrowsError(try Shapes.transpose([2, 3, 4], perm: [0, 0, 1]))
    }
}
