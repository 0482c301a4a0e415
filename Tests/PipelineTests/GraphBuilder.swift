import Foundation
import TFProto
import TensorFlowIO
import Tensors

/// Small float GraphDefs for tests, node by node, with the attributes TensorFlow's ops need.
struct GraphBuilder {
    var graph = Tensorflow_GraphDef()

    private static var float: Tensorflow_AttrValue {
        var a = Tensorflow_AttrValue()
        a.type = .dtFloat
        return a
    }

    /// An op on float tensors (`T: float`); control inputs start with `^`.
    mutating func op(_ name: String, _ op: String, _ inputs: [String], _ attrs: [String: Tensorflow_AttrValue] = [:]) {
        var n = Tensorflow_NodeDef()
        n.name = name
        n.op = op
        n.input = inputs
        n.attr = attrs
        if op != "NoOp" { n.attr["T"] = Self.float }
        graph.node.append(n)
    }

    mutating func placeholder(_ name: String, shape: [Int]) {
        var s = Tensorflow_AttrValue()
        s.shape = Tensorflow_TensorShapeProto(dims: shape)
        var n = Tensorflow_NodeDef()
        n.name = name
        n.op = "Placeholder"
        n.attr = ["dtype": Self.float, "shape": s]
        graph.node.append(n)
    }

    mutating func constant(_ name: String, _ values: [Float], shape: [Int]) {
        var v = Tensorflow_AttrValue()
        v.tensor = TensorProtoCodec.encode(Tensor(values, shape: shape))
        var n = Tensorflow_NodeDef()
        n.name = name
        n.op = "Const"
        n.attr = ["dtype": Self.float, "value": v]
        graph.node.append(n)
    }

    /// A stride-1 SAME convolution.
    mutating func conv(_ name: String, _ input: String, _ filter: String) {
        var strides = Tensorflow_AttrValue()
        strides.list.i = [1, 1, 1, 1]
        var padding = Tensorflow_AttrValue()
        padding.s = Data("SAME".utf8)
        op(name, "Conv2D", [input, filter], ["strides": strides, "padding": padding])
    }
}
