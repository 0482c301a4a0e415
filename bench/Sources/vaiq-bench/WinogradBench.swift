import Foundation
import Kernels
import Runtime
import TensorFlowIO
import Tensors

/// ResNet50's 3x3/1 convolutions at one batch: direct (im2col + sgemm) against Winograd F(4x4, 3x3)
/// with several tile blocks, alternating in one process; best of `iters` per variant, plus the
/// per-call filter transform. One JSON line per layer shape.
func winogradBenchmark(_ a: [String]) {
    // As Runtime does: keep freed work buffers in the heap instead of unmapping them.
    _ = benchMallopt(-3, 1 << 30)
    _ = benchMallopt(-1, 1 << 30)
    let batch = Int(a[0])!, threads = Int(a[1])!, iters = a.count > 2 ? Int(a[2])! : 10
    let blocks = a.count > 3 ? a[3].split(separator: ",").map { Int($0)! } : [0]
    let shapes = a.count > 4 ? a[4].split(separator: ";").map { $0.split(separator: "x").map { Int($0)! } }
        : [[56, 64, 64], [28, 128, 128], [14, 256, 256], [7, 512, 512]]
    for s in shapes {
        let (hw, inC, outC) = (s[0], s[1], s[2])
        let g = try! ConvGeometry.make(batch: batch, inH: hw, inW: hw, inC: inC, kernelH: 3, kernelW: 3, padding: .same)
        let relu = ProcessInfo.processInfo.environment["VAIQ_BENCH_RELU"] == "1"
        let x = (0..<batch * hw * hw * inC).map { _ in relu ? max(0, Float.random(in: -1...1)) : Float.random(in: -1...1) }
        let w = (0..<9 * inC * outC).map { _ in Float.random(in: -0.1...0.1) }
        let bias = (0..<outC).map { _ in Float.random(in: -0.1...0.1) }
        var out = [Float](repeating: 0, count: batch * hw * hw * outC), ref = out
        let u = Fast.winogradPackedFilter(w, inC: inC, outC: outC)
        var best = [Double](repeating: .infinity, count: blocks.count + 1)
        for _ in 0..<iters {
            best[0] = min(best[0], seconds {
                Fast.directConv2d(input: x, filter: w, bias: bias, activation: .relu, geometry: g, outC: outC, output: &ref, threads: threads)
            })
            for (i, block) in blocks.enumerated() {
                best[i + 1] = min(best[i + 1], seconds {
                    Fast.winogradConv2d(input: x, transformedFilter: u, bias: bias, activation: .relu, geometry: g, outC: outC,
                                        output: &out, threads: threads, tileBlock: block == 0 ? nil : block)
                })
            }
        }
        let filterTime = seconds { _ = Fast.winogradPackedFilter(w, inC: inC, outC: outC) }
        let scale = ref.map(abs).max()!
        let error = zip(out, ref).map { abs($0 - $1) }.max()! / scale
        let variants = zip(blocks, best.dropFirst()).map { #""\#($0 == 0 ? "default" : String($0))": \#($1 * 1e3)"# }.joined(separator: ", ")
        print(#"{"what": "winograd", "shape": "\#(batch)x\#(hw)x\#(hw)x\#(inC)->\#(outC)", "threads": \#(threads), "direct_ms": \#(best[0] * 1e3), \#(variants), "filter_transform_ms": \#(filterTime * 1e3), "rel_error_vs_direct": \#(error)}"#)
    }
}

/// `infer` for the Winograd runtime and the direct one (PlanOptions.winograd off), alternating
/// in one process; medians of `iters` runs each.
func inferenceABBenchmark(_ a: [String]) throws {
    let (graphPath, inputPath, inputNode, outputNode) = (a[0], a[1], a[2], a[3])
    let (batch, threads, iters) = (Int(a[4])!, Int(a[5])!, Int(a[6])!)
    let imported = try GraphImporter.importGraph(try GraphDefIO.read(graphPath), outputs: [outputNode], path: graphPath)
    let runtimes = [false, true].map {
        Runtime(graph: imported.graph, outputs: [(outputNode, imported.outputs[0])], options: PlanOptions(winograd: $0))
    }
    let all = try NPY.decode(Array(try Data(contentsOf: URL(fileURLWithPath: inputPath))), name: inputPath)
    let per = all.elementCount / all.shape[0]
    let x = Tensor(Array(all.scalars(as: Float.self).prefix(batch * per)), shape: [batch] + all.shape.dropFirst())
    for r in runtimes { for _ in 0..<2 { _ = try r.run([inputNode: x], threads: threads) } }
    var times: [[Double]] = [[], []], cpu: [[Double]] = [[], []]
    for _ in 0..<iters {
        for (k, r) in runtimes.enumerated() {
            let c0 = cpuSeconds()
            times[k].append(try seconds { _ = try r.run([inputNode: x], threads: threads) })
            cpu[k].append(cpuSeconds() - c0)
        }
    }
    let medians = times.map { $0.sorted()[$0.count / 2] * 1e3 }, best = times.map { $0.min()! * 1e3 }
    let cpuMedians = cpu.map { $0.sorted()[$0.count / 2] * 1e3 }
    print(#"{"what": "infer_ab", "graph": "\#(graphPath)", "batch": \#(batch), "threads": \#(threads), "direct_median_ms": \#(medians[0]), "winograd_median_ms": \#(medians[1]), "direct_best_ms": \#(best[0]), "winograd_best_ms": \#(best[1]), "direct_cpu_median_ms": \#(cpuMedians[0]), "winograd_cpu_median_ms": \#(cpuMedians[1])}"#)
}

@_silgen_name("mallopt")
private func benchMallopt(_ parameter: Int32, _ value: Int32) -> Int32
