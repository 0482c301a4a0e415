import BuildCore
import XCTest

final class ParameterEncoderTests: XCTestCase {
    struct Inner: Encodable { var bits: Int; var name: String }
    enum Scheme: String, Encodable { case pof2s, fs }
    struct Settings: Encodable {
        var weightBit = 8
        var ratio = 0.5
        var flag = true
        var scheme = Scheme.fs
        var nodes = ["a", "b"]
        var shapes = [[-1, 3], [2]]
        var perNode = ["conv": 4, "fc": 6]
        var missing: Int? = nil
        var present: Bool? = false
        var inner = [Inner(bits: 4, name: "x"), Inner(bits: 8, name: "y")]
        enum CodingKeys: String, CodingKey {
            case weightBit = "weight_bit", ratio, flag, scheme, nodes, shapes, perNode = "per_node", missing, present, inner
        }
    }

    func testEncodesTypedSettingsAsCanonicalParameters() {
        let encoded = ParameterEncoder.encode(Settings())
        XCTAssertEqual(encoded, [
            "weight_bit": .int(8), "ratio": .double(0.5), "flag": .bool(true), "scheme": .string("fs"),
            "nodes": .list([.string("a"), .string("b")]), "shapes": .list([.list([.int(-1), .int(3)]), .list([.int(2)])]),
            "per_node": .map(["conv": .int(4), "fc": .int(6)]), "present": .bool(false),
            "inner": .list([.map(["bits": .int(4), "name": .string("x")]), .map(["bits": .int(8), "name": .string("y")])]),
        ])
        XCTAssertNil(encoded["missing"], "a nil optional is not hashed")
        XCTAssertEqual(ParameterValue.map(encoded).canonical,
                       #"{"flag":true,"inner":[{"bits":4,"name":"x"},{"bits":8,"name":"y"}],"nodes":["a","b"],"per_node":{"conv":4,"fc":6},"present":false,"ratio":0.5,"scheme":"fs","shapes":[[-1,3],[2]],"weight_bit":8}"#)
        XCTAssertEqual(ParameterEncoder.encodeValue([[Int]]()), .list([]))
    }

    struct CamelCase: Encodable {
        var foldBN = true
        var simulateDPU = false
        var replaceRelu6 = true
        var scaleAllAvgpool = true
        var nodesBit = ["convA/BiasAdd": 4, "Relu_3": 6]
    }

    struct Range: InlineParameters { var inputNodes = ["x"]; var outputNodes = ["y"] }
    struct Holder: Encodable { var range = Range(); var batchSize = 2 }

    func testInlineGroupsEncodeAsTheHoldersOwnFields() {
        XCTAssertEqual(ParameterEncoder.encode(Holder()),
                       ["input_nodes": .list([.string("x")]), "output_nodes": .list([.string("y")]), "batch_size": .int(2)])
    }

    func testPropertyNamesBecomeSnakeCaseButDictionaryKeysStay() {
        XCTAssertEqual(ParameterEncoder.encode(CamelCase()), [
            "fold_bn": .bool(true), "simulate_dpu": .bool(false), "replace_relu6": .bool(true), "scale_all_avgpool": .bool(true),
            "nodes_bit": .map(["convA/BiasAdd": .int(4), "Relu_3": .int(6)]),
        ])
    }
}
