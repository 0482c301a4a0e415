import Quantizer
import Runtime
import TFProto
import TensorFlowIO
import Tensors

/// `deploy_model.pb`, the legacy extended format the DNNC-era DPU compiler reads (spec 7.2): no
/// FixNeuron nodes; positions as `[bit_width, pos]` attributes (`wpos` weights, `bpos` biases,
/// `opos` outputs, `ipos` inputs); conv-like ops carry their quantized weights and bias as
/// tensor attributes and read only their data input; batch 1 static shapes. Stock TensorFlow
/// cannot load it (by design, as the reference's).
public enum Deployer {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public static func deployModel(_ eval: Tensorflow_GraphDef, path: String) throws -> Tensorflow_GraphDef {
        var g = GraphEdit(eval, path: path)
        let shapes = try staticShapes(&g, path: path)
        foldFixNeurons(&g)
        convertPatterns(&g)
        foldParameters(&g)
        addInputPositions(&g)
        // Every node's output shape at batch 1 (its placeholders' batch), as the vendor's deploy
        // models carry them, so the compiler and Netron see shapes.
        for i in g.nodes.indices {
            let node = g.nodes[i]
            var dims = shapes[node.name]
            if dims == nil, node.tfOp == .const, let proto = node.attr["value"]?.tensor { dims = proto.tensorShape.dims }
            guard let dims else { continue }
            var list = Tensorflow_AttrValue()
            list.list.shape = [Tensorflow_TensorShapeProto(dims: dims)]
            g.nodes[i].attr["_output_shapes"] = list
        }
        for i in g.nodes.indices where g.nodes[i].tfOp == .placeholder {
            if case let .shape(proto)? = g.nodes[i].attr["shape"]?.value, var dims = proto.dims, !dims.isEmpty {
                dims[0] = 1
                var shape = Tensorflow_AttrValue()
                shape.shape = Tensorflow_TensorShapeProto(dims: dims)
                g.nodes[i].attr["shape"] = shape
            }
        }
        return g.graphDef
    }

    /// Reshape targets and nearest-neighbour sizes become batch-1 constants; returns every node's
    /// output shape at batch 1.
    static func staticShapes(_ g: inout GraphEdit, path: String) throws -> [String: [Int]] {
        var feeds: [String: [Int]] = [:], declared: [String: [Int]] = [:]
        for (i, node) in g.nodes.enumerated() where node.tfOp == .placeholder {
            guard case let .shape(proto)? = node.attr["shape"]?.value, let dims = proto.dims, !dims.isEmpty, !dims.dropFirst().contains(where: { $0 < 0 }) else {
                throw Failure(description: "\(path): input '\(node.name)' needs a known shape (all but the batch dimension) to deploy; give the model input_shapes")
            }
            feeds[node.name] = [1] + dims.dropFirst()
            declared[node.name] = dims.first! < 0 ? feeds[node.name]! : dims
            var shape = Tensorflow_AttrValue()
            shape.shape = Tensorflow_TensorShapeProto(dims: [-1] + dims.dropFirst())
            g.nodes[i].attr["shape"] = shape
        }
        let shaped = Set<TFOp>([.reshape, .resizeNearestNeighbor])
        let outputs = GraphOrder.sinks(g.graphDef)
        let imported = try GraphImporter.importGraph(g.graphDef, outputs: outputs, path: path)
        let runtime = Runtime(graph: imported.graph, outputs: Array(zip(outputs, imported.outputs)),
                              options: PlanOptions(fuse: false, shapesOnly: true))
        // Batch 1, as the reference; a graph that fixes its batch elsewhere keeps its own.
        let shapes = try ((try? runtime.plan(for: feeds)) ?? runtime.plan(for: declared)).shapesByName
        for node in g.nodes where shaped.contains(node.tfOp) {
            guard let shape = shapes[node.name], let i = g.index(node.name), g.nodes[i].input.count >= 2 else { continue }
            let name = g.freshName("\(node.name)/shape")
            let value = node.tfOp == .reshape ? shape : Array(shape[1...2])
            var c = Tensorflow_NodeDef()
            c.name = name
            c.op = TFOp.const.rawValue
            c.attr["dtype"] = attrType(.dtInt32)
            c.attr["value"] = attrTensor(Tensor(value.map { Int32($0) }, shape: [value.count]))
            g.nodes[i].input[1] = name
            g.nodes.insert(c, at: i)
        }
        return shapes
    }

    static func positionAttr(_ bits: Int64, _ pos: Int64) -> Tensorflow_AttrValue {
        var a = Tensorflow_AttrValue()
        a.list.i = [bits, pos]
        return a
    }

    /// Every FixNeuron disappears: a constant takes the quantized values (round half away from
    /// zero) and `wpos`/`opos`; any other tensor gets `opos`; consumers read the tensor itself.
    static func foldFixNeurons(_ g: inout GraphEdit) {
        for fix in g.nodes where fix.tfOp == .fixNeuron {
            guard let x = g.inputs(of: fix).first, let xi = g.index(x) else { continue }
            let bits = fix.attr["bit_width"]?.i ?? 8, pos = fix.attr["quantize_pos"]?.i ?? 0, mode = fix.attr["mode"]?.i ?? 1
            if let value = g.constant(x) {
                // Weight rounding (half away from zero) and range [-2^(b-1), 2^(b-1) - 1], in bulk.
                let q = Pof2Quantizer(bitWidth: Int(bits), mode: .weight).quantize(value.floatValues(), position: Int(pos))
                g.setConstant(x, q, shape: value.shape)
                g.nodes[xi].attr[mode == 1 ? "opos" : "wpos"] = positionAttr(bits, pos)
            } else {
                g.nodes[xi].attr["opos"] = positionAttr(bits, pos)
            }
            g.replaceUses(of: fix.name, with: x)
            g.remove(fix.name)
        }
    }

    /// Conv-like layers absorb their weights and bias; unfolded batch norms become `Scale`;
    /// resizes become `DeephiResize`; `AddV2` is written `Add`.
    static func convertPatterns(_ g: inout GraphEdit) {
        var consumers: [String: [String]] = [:]
        for node in g.nodes { for input in g.inputs(of: node) { consumers[input, default: []].append(node.name) } }
        for conv in g.nodes where TFOp.convolutionOps.contains(conv.tfOp) {
            let ins = g.inputs(of: conv)
            guard ins.count >= 2, let weights = g.constant(ins[1]), var node = g[conv.name] else { continue }
            let data = conv.tfOp == .conv2DBackpropInput ? ins[2] : ins[0]
            node.attr["weights"] = attrTensor(weights)
            if let wpos = g[ins[1]]?.attr["wpos"] { node.attr["wpos"] = wpos }
            var removed = [ins[1]]
            if let add = (consumers[conv.name] ?? []).compactMap({ g[$0] }).first(where: {
                TFOp.biasAddOps.contains($0.tfOp) && g.inputs(of: $0).count == 2 && g.constant(g.inputs(of: $0)[1]) != nil
            }), consumers[conv.name]?.count == 1 {
                let b = g.inputs(of: add)[1]
                node.attr["bias"] = attrTensor(g.constant(b)!)
                if let bpos = g[b]?.attr["wpos"] { node.attr["bpos"] = bpos }
                if let opos = add.attr["opos"] { node.attr["opos"] = opos }
                g.replaceUses(of: add.name, with: conv.name)
                g.remove(add.name)
                removed.append(b)
            }
            if conv.tfOp == .conv2DBackpropInput { node.op = DeployOp.deconv2d.rawValue }
            node.input = [data]
            g.nodes[g.index(conv.name)!] = node
            for name in removed where g.uses(of: name).isEmpty { g.remove(name) }
        }
        for add in g.nodes where TFOp.biasAddOps.contains(add.tfOp) {
            let ins = g.inputs(of: add)
            guard ins.count == 2, let offset = g.constant(ins[1]), let mul = g[ins[0]], mul.tfOp == .mul,
                  g.uses(of: mul.name).count == 1 else { continue }
            let mins = g.inputs(of: mul)
            guard mins.count == 2, let scale = g.constant(mins[1]) else { continue }
            var node = add
            node.op = DeployOp.scale.rawValue
            node.input = [mins[0]]
            node.attr["weights"] = attrTensor(scale)
            node.attr["bias"] = attrTensor(offset)
            if let w = g[mins[1]]?.attr["wpos"] { node.attr["wpos"] = w }
            if let b = g[ins[1]]?.attr["wpos"] { node.attr["bpos"] = b }
            g.nodes[g.index(add.name)!] = node
            for name in [mul.name, mins[1], ins[1]] where name == mul.name || g.uses(of: name).isEmpty { g.remove(name) }
        }
        for i in g.nodes.indices {
            switch g.nodes[i].tfOp {
            case .addV2?: g.nodes[i].op = TFOp.add.rawValue
            case .resizeBilinear?, .resizeNearestNeighbor?:
                let type = g.nodes[i].tfOp == .resizeBilinear ? "Bilinear" : "Nearest"
                if let size = g.inputs(of: g.nodes[i]).dropFirst().first.flatMap({ g.constant($0) })?.floatValues(), size.count == 2 {
                    g.nodes[i].attr["size_h"] = attrInt(Int(size[0]))
                    g.nodes[i].attr["size_w"] = attrInt(Int(size[1]))
                }
                g.nodes[i].attr["resize_type"] = attrString(type)
                g.nodes[i].op = DeployOp.deephiResize.rawValue
            default: break
            }
        }
    }

    /// The constant last input of Mean, Pad, Concat, Reshape, ExpandDims becomes an attribute.
    static func foldParameters(_ g: inout GraphEdit) {
        let keys: [TFOp: String] = [.mean: "reduction_indices", .pad: "paddings", .concat: "axis", .concatV2: "axis", .reshape: "shape",
                                    .expandDims: "dim", .argMax: "dimension"]
        for node in g.nodes {
            guard let key = node.tfOp.flatMap({ keys[$0] }), let last = g.inputs(of: node).last, let value = g.constant(last), let i = g.index(node.name) else { continue }
            g.nodes[i].attr[key] = attrTensor(value)
            g.nodes[i].input.removeLast()
            if g.uses(of: last).isEmpty { g.remove(last) }
        }
    }

    /// `ipos`: the `[bit_width, pos]` of each input's `opos`, concatenated.
    static func addInputPositions(_ g: inout GraphEdit) {
        for i in g.nodes.indices where g.nodes[i].tfOp != .const {
            let positions = g.inputs(of: g.nodes[i]).compactMap { g[$0]?.attr["opos"]?.list.i }
            guard !positions.isEmpty, positions.count == g.inputs(of: g.nodes[i]).count else { continue }
            var a = Tensorflow_AttrValue()
            a.list.i = positions.flatMap { $0 }
            g.nodes[i].attr["ipos"] = a
        }
    }
}
