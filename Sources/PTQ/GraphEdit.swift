import TFProto
import TensorFlowIO
import Tensors

/// A GraphDef being rewritten by the quantization passes: nodes in order, found by name, with
/// consumers recomputed on demand. Node names and attributes the passes do not touch are kept
/// as they are, so the written model stays recognizable in Netron and to the Vitis AI compiler.
struct GraphEdit {
    var nodes: [Tensorflow_NodeDef]
    let path: String

    init(_ graph: Tensorflow_GraphDef, path: String) {
        nodes = graph.node
        self.path = path
    }

    var graphDef: Tensorflow_GraphDef {
        var g = Tensorflow_GraphDef()
        g.node = nodes
        g.versions.producer = 1
        return g
    }

    func index(_ name: String) -> Int? { nodes.firstIndex { $0.name == name } }

    subscript(_ name: String) -> Tensorflow_NodeDef? { index(name).map { nodes[$0] } }

    /// (consumer index, input slot) for every data use of `name` (output 0).
    func uses(of name: String) -> [(node: Int, slot: Int)] {
        var out: [(Int, Int)] = []
        for (i, node) in nodes.enumerated() {
            for (k, input) in node.input.enumerated() where TensorName.readsOutputZero(input, of: name) { out.append((i, k)) }
        }
        return out
    }

    /// Data inputs of a node (control inputs dropped), as producer node names.
    func inputs(of node: Tensorflow_NodeDef) -> [String] {
        node.input.filter { !$0.hasPrefix("^") }.map { TensorName($0).node }
    }

    func constant(_ name: String) -> Tensor? {
        guard let node = self[name], node.tfOp == .const, let proto = node.attr["value"]?.tensor else { return nil }
        return try? TensorProtoCodec.decode(proto, context: "\(path): node '\(name)'")
    }

    mutating func setConstant(_ name: String, _ values: [Float], shape: [Int]) {
        guard let i = index(name) else { return }
        nodes[i].attr["value"] = attrTensor(Tensor(values, shape: shape))
    }

    mutating func addConstant(_ name: String, _ values: [Float], shape: [Int], before: Int? = nil) {
        var node = Tensorflow_NodeDef()
        node.name = name
        node.op = TFOp.const.rawValue
        node.attr["dtype"] = attrType(.dtFloat)
        node.attr["value"] = attrTensor(Tensor(values, shape: shape))
        nodes.insert(node, at: before ?? nodes.count)
    }

    /// Points every data use of `old` (except by nodes in `except`) at `new`.
    mutating func replaceUses(of old: String, with new: String, except: Set<String> = []) {
        for (i, k) in uses(of: old) where !except.contains(nodes[i].name) { nodes[i].input[k] = new }
    }

    mutating func remove(_ name: String) {
        nodes.removeAll { $0.name == name }
    }

    /// Names not yet used, made from `base` (`base`, `base_1`, ...).
    func freshName(_ base: String) -> String {
        let taken = Set(nodes.map(\.name))
        if !taken.contains(base) { return base }
        var k = 1
        while taken.contains("\(base)_\(k)") { k += 1 }
        return "\(base)_\(k)"
    }
}

func attrTensor(_ tensor: Tensor) -> Tensorflow_AttrValue {
    var a = Tensorflow_AttrValue()
    a.tensor = TensorProtoCodec.encode(tensor)
    return a
}

/// `attrTensor(tensor)`, holding `stored` itself (sharing its bytes rather than a second copy of
/// a large weight) when `stored` is already exactly that encoding.
func attrTensor(_ tensor: Tensor, reusing stored: Tensorflow_TensorProto?) -> Tensorflow_AttrValue {
    var a = attrTensor(tensor)
    if let stored, a.tensor == stored { a.tensor = stored }
    return a
}

func attrType(_ type: Tensorflow_DataType) -> Tensorflow_AttrValue {
    var a = Tensorflow_AttrValue()
    a.type = type
    return a
}

func attrInt(_ value: Int) -> Tensorflow_AttrValue {
    var a = Tensorflow_AttrValue()
    a.i = Int64(value)
    return a
}

func attrString(_ value: String) -> Tensorflow_AttrValue {
    var a = Tensorflow_AttrValue()
    a.s = Array(value.utf8).withUnsafeBufferPointer { Data($0) }
    return a
}

func attrBool(_ value: Bool) -> Tensorflow_AttrValue {
    var a = Tensorflow_AttrValue()
    a.b = value
    return a
}

import Foundation
