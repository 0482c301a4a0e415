import Foundation
import Runtime
import TFProto
import TensorFlowIO
import Tensors

/// `simulate_dpu` (spec 4): graph rewrites after which TensorFlow computes what the DPU
/// computes, in the reference's order.
enum DPUSimulation {
    static func apply(_ g: inout GraphEdit, _ o: OptimizeOptions, path: String) {
        reorderHardSwish(&g)
        if o.rewrites.replaceSigmoid { replaceSigmoids(&g) }
        let shapes = staticShapes(g, o, path: path)
        meansToAvgPool(&g, shapes)
        splitLargePools(&g)
        scaleAvgPools(&g, all: o.rewrites.scaleAllAvgpool)
        leakyReluAlpha(&g)
        hardSigmoidScale(&g)
    }

    /// Output shapes at batch 1 (placeholders with unknown inner dimensions give none).
    static func staticShapes(_ g: GraphEdit, _ o: OptimizeOptions, path: String) -> [String: [Int]] {
        var feeds: [String: [Int]] = [:]
        for node in g.nodes where node.tfOp == .placeholder {
            guard case let .shape(proto)? = node.attr["shape"]?.value, let dims = proto.dims, !dims.isEmpty,
                  !dims.dropFirst().contains(where: { $0 < 0 }) else { return [:] }
            feeds[node.name] = [dims[0] < 0 ? 1 : dims[0]] + dims.dropFirst()
        }
        guard let imported = try? GraphImporter.importGraph(g.graphDef, outputs: o.outputNodes, path: path) else { return [:] }
        let runtime = Runtime(graph: imported.graph, outputs: Array(zip(o.outputNodes, imported.outputs)), options: PlanOptions(fuse: false, shapesOnly: true))
        return (try? runtime.plan(for: feeds).shapesByName) ?? [:]
    }

    static func node(_ name: String, _ op: TFOp, _ inputs: [String], _ attrs: [String: Tensorflow_AttrValue] = [:]) -> Tensorflow_NodeDef {
        var n = Tensorflow_NodeDef()
        n.name = name
        n.op = op.rawValue
        n.input = inputs
        n.attr = attrs
        return n
    }

    static func ints(_ values: [Int]) -> Tensorflow_AttrValue {
        var a = Tensorflow_AttrValue()
        a.list.i = values.map(Int64.init)
        return a
    }

    static func pool(_ name: String, _ op: TFOp, _ input: String, kh: Int, kw: Int, padding: String = "VALID") -> Tensorflow_NodeDef {
        node(name, op, [input], ["T": attrType(.dtFloat), "ksize": ints([1, kh, kw, 1]), "strides": ints([1, kh, kw, 1]),
                                  "padding": attrString(padding), "data_format": attrString("NHWC")])
    }

    /// 3.2 step 5: Mul|RealDiv(Mul(x, Relu6(Add(x, c3))), c6) -> Mul(x, Mul|RealDiv(Relu6(Add(x, c3)), c6)).
    static func reorderHardSwish(_ g: inout GraphEdit) {
        for outer in g.nodes where TFOp.scalingOps.contains(outer.tfOp) {
            let ins = g.inputs(of: outer)
            guard ins.count == 2, g.constant(ins[1]) != nil, let inner = g[ins[0]], inner.tfOp == .mul else { continue }
            let iins = g.inputs(of: inner)
            guard iins.count == 2, let relu = g[iins[1]], relu.tfOp == .relu6, g.uses(of: inner.name).count == 1 else { continue }
            // outer := Mul(x, scaled) where scaled := outer.op(relu6, c6), reusing the inner node's name.
            var scaled = outer
            scaled.name = inner.name
            scaled.input = [iins[1], ins[1]]
            var product = outer
            product.op = TFOp.mul.rawValue
            product.input = [iins[0], inner.name]
            product.attr = ["T": attrType(.dtFloat)]
            g.nodes[g.index(inner.name)!] = scaled
            g.nodes[g.index(outer.name)!] = product
        }
    }

    static func replaceSigmoids(_ g: inout GraphEdit) {
        for sig in g.nodes where sig.tfOp == .sigmoid && g["\(sig.name)/offset"] == nil {
            guard let x = g.inputs(of: sig).first, let at = g.index(sig.name) else { continue }
            let base = "\(sig.name)/h_sigmoid"
            g.addConstant("\(sig.name)/offset", [3], shape: [], before: at)
            g.addConstant("\(base)/scale", [Float(1) / 6], shape: [], before: at)
            let add = node("\(base)/add", .addV2, [x, "\(sig.name)/offset"], ["T": attrType(.dtFloat)])
            let relu = node("\(base)/relu6", .relu6, [add.name], ["T": attrType(.dtFloat)])
            let mul = node("\(base)/mul", .mul, [relu.name, "\(base)/scale"], ["T": attrType(.dtFloat)])
            g.replaceUses(of: sig.name, with: mul.name)
            g.nodes.replaceSubrange(g.index(sig.name)!...g.index(sig.name)!, with: [add, relu, mul])
        }
    }

    /// 4.1: Mean over [1, 2] -> AvgPool (+ Squeeze without keep_dims).
    static func meansToAvgPool(_ g: inout GraphEdit, _ shapes: [String: [Int]]) {
        for mean in g.nodes where mean.tfOp == .mean {
            let ins = g.inputs(of: mean)
            guard ins.count == 2, let axes = g.constant(ins[1])?.floatValues().map({ Int($0) }), Set(axes) == [1, 2],
                  let inShape = shapes[ins[0]], inShape.count == 4 else { continue }
            let keep = mean.attr["keep_dims"]?.b ?? false
            let pooled = pool(mean.name, .avgPool, ins[0], kh: inShape[1], kw: inShape[2])
            let at = g.index(mean.name)!
            g.nodes[at] = pooled
            if !keep {
                let squeeze = node(g.freshName("\(mean.name)/squeeze"), .squeeze, [mean.name], ["T": attrType(.dtFloat), "squeeze_dims": ints([1, 2])])
                g.replaceUses(of: mean.name, with: squeeze.name, except: [squeeze.name])
                g.nodes.insert(squeeze, at: at + 1)
            }
        }
    }

    /// 4.2: pools with kh * kw >= 512 become two pools of factors f1 <= sqrt(k) and k / f1.
    static func splitLargePools(_ g: inout GraphEdit) {
        func factors(_ k: Int) -> (Int, Int) {
            var f1 = 1
            var d = 2
            while d * d <= k { if k % d == 0 { f1 = d }; d += 1 }
            return (f1, k / f1)
        }
        for p in g.nodes {
            guard let op = p.tfOp, TFOp.poolOps.contains(op), let (kh, kw) = window(p), kh * kw >= 512,
                  g["\(p.name)_viti_split"] == nil, let input = g.inputs(of: p).first, let at = g.index(p.name) else { continue }
            let (h1, h2) = factors(kh), (w1, w2) = factors(kw)
            let padding = p.attr["padding"].map { String(decoding: $0.s, as: UTF8.self) } ?? "VALID"
            let first = pool("\(p.name)_viti_split", op, input, kh: h1, kw: w1, padding: padding)
            g.nodes[at] = pool(p.name, op, first.name, kh: h2, kw: w2, padding: padding)
            g.nodes.insert(first, at: at)
        }
    }

    /// A pool's window (ksize's height and width) when both are 1 ... 65536: anything else is no
    /// window these rewrites touch (import refuses such a graph with its own message).
    static func window(_ p: Tensorflow_NodeDef) -> (kh: Int, kw: Int)? {
        guard let k = p.attr["ksize"]?.list.i, k.count == 4, (1...65536).contains(k[1]), (1...65536).contains(k[2]) else { return nil }
        return (Int(k[1]), Int(k[2]))
    }

    /// 4.3: the DPU's average is (sum * k) >> n; TensorFlow's exact average times kh*kw*k/2^n equals it.
    static func avgPoolScale(kh: Int, kw: Int, all: Bool) -> Double? {
        guard kh >= 1, kw >= 1 else { return nil }
        let table: [Int: (Double, Double)] = [3: (7, 64), 5: (10, 256), 6: (7, 256), 7: (21, 1024), 14: (21, 4096)]
        if kh == kw, let (k, d) = table[kh] { return Double(kh * kw) * k / d }
        guard all, kh <= 256, kw <= 256 else { return nil }
        let rec = Double(kh * kw)
        let nMax = Int(Foundation.log2(rec * 128).rounded(.up))
        var best = 1.0, chosen = (1.0, 0)
        for n in 0..<nMax {
            let k = max(1, (pow2(n) / rec).rounded(.toNearestOrAwayFromZero))
            let d = abs(k / pow2(n) - 1 / rec)
            if d < best { best = d; chosen = (k, n) }
        }
        return chosen.0 / pow2(chosen.1) * rec
    }

    static func pow2(_ n: Int) -> Double { Double(sign: .plus, exponent: n, significand: 1) }

    static func scaleAvgPools(_ g: inout GraphEdit, all: Bool) {
        for p in g.nodes where p.tfOp == .avgPool {
            // Once only: a graph written by vaiq-build (e.g. a QAT model) already has the factor.
            guard g["\(p.name)/mul"] == nil, g["\(p.name)/scale_value"] == nil,
                  let (kh, kw) = window(p), let scale = avgPoolScale(kh: kh, kw: kw, all: all),
                  let at = g.index(p.name) else { continue }
            let constant = "\(p.name)/scale_value"
            let mul = node("\(p.name)/mul", .mul, [p.name, constant], ["T": attrType(.dtFloat)])
            g.replaceUses(of: p.name, with: mul.name)
            g.nodes.insert(mul, at: at + 1)
            g.addConstant(constant, [Float(scale)], shape: [], before: at + 1)
        }
    }

    /// 4.4: alpha 0.1 -> 26/256 in LeakyRelu ops and in Maximum(Mul(alpha, x), x).
    static func leakyReluAlpha(_ g: inout GraphEdit) {
        for i in g.nodes.indices where g.nodes[i].tfOp == .leakyRelu {
            if let a = g.nodes[i].attr["alpha"]?.f, abs(a - 0.1) < 1e-5 {
                var attr = Tensorflow_AttrValue()
                attr.f = 26.0 / 256
                g.nodes[i].attr["alpha"] = attr
            }
        }
        for max in g.nodes where max.tfOp == .maximum {
            for input in g.inputs(of: max) {
                guard let mul = g[input], mul.tfOp == .mul else { continue }
                for c in g.inputs(of: mul) {
                    if let v = g.constant(c)?.floatValues(), v.count == 1, abs(v[0] - 0.1) < 1e-5, g.uses(of: c).count == 1 {
                        g.setConstant(c, [26.0 / 256], shape: g.constant(c)!.shape)
                    }
                }
            }
        }
    }

    /// 4.5: Mul|RealDiv(Relu6(Add(x, c)), c6) is followed by Mul(., 6 * 2731 / 16384).
    static func hardSigmoidScale(_ g: inout GraphEdit) {
        for m in g.nodes where TFOp.scalingOps.contains(m.tfOp) {
            let ins = g.inputs(of: m)
            guard ins.count == 2, g.constant(ins[1]) != nil, let relu = g[ins[0]], relu.tfOp == .relu6,
                  let add = g.inputs(of: relu).first.flatMap({ g[$0] }), TFOp.addOps.contains(add.tfOp),
                  g.inputs(of: add).count == 2, g.constant(g.inputs(of: add)[1]) != nil,
                  g[m.name + "/vitis_hard_sigmoid_mul"] == nil, let at = g.index(m.name) else { continue }
            let name = "\(m.name)/vitis_hard_sigmoid_mul"
            let mul = node(name, .mul, [m.name, "\(name)/scale"], ["T": attrType(.dtFloat)])
            g.replaceUses(of: m.name, with: name)
            g.nodes.insert(mul, at: at + 1)
            g.addConstant("\(name)/scale", [Float(6 * 2731) / 16384], shape: [], before: at + 1)
        }
    }
}
