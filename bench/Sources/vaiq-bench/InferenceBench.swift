import CKernels
import COpenBLAS
import Foundation
import Quantizer
import Kernels
import Runtime
import TensorFlowIO
import Tensors

/// Median time of `iters` runs (after 2 warm-up runs) of a frozen graph on the first `batch`
/// images of an .npy file, with the runtime's thread budget; prints one JSON line.
/// VAIQ_WINOGRAD=0 runs 3x3 convolutions by im2col + sgemm (PlanOptions.winograd off).
func inferenceBenchmark(_ a: [String]) throws {
    let (graphPath, inputPath, inputNode, outputNode) = (a[0], a[1], a[2], a[3])
    let (batch, threads, iters) = (Int(a[4])!, Int(a[5])!, Int(a[6])!)
    let imported = try GraphImporter.importGraph(try GraphDefIO.read(graphPath), outputs: [outputNode], path: graphPath)
    let options = PlanOptions(winograd: ProcessInfo.processInfo.environment["VAIQ_WINOGRAD"] != "0")
    let runtime = Runtime(graph: imported.graph, outputs: [(outputNode, imported.outputs[0])], options: options)
    let all = try NPY.decode(Array(try Data(contentsOf: URL(fileURLWithPath: inputPath))), name: inputPath)
    let per = all.elementCount / all.shape[0]
    let x = Tensor(Array(all.scalars(as: Float.self).prefix(batch * per)), shape: [batch] + all.shape.dropFirst())
    let flops = try runtime.plan(for: [inputNode: x.shape]).flops
    for _ in 0..<2 { _ = try runtime.run([inputNode: x], threads: threads) }
    var times: [Double] = []
    for _ in 0..<iters { times.append(try seconds { _ = try runtime.run([inputNode: x], threads: threads) }) }
    let median = times.sorted()[times.count / 2]
    print(#"{"what": "infer", "graph": "\#(graphPath)", "batch": \#(batch), "threads": \#(threads), "median_ms": \#(median * 1e3), "images_per_s": \#(Double(batch) / median), "gflops": \#(Double(flops) / median / 1e9), "flops": \#(flops), "times_ms": [\#(times.map { String(format: "%.3f", $0 * 1e3) }.joined(separator: ", "))]}"#)
}

/// Best-of-30 GFLOP/s of a 1024^3 sgemm: OpenBLAS with its own `threads`, and our tiled matmul.
func sgemmBenchmark(threads: Int) {
    let n = 1024
    let a = (0..<n * n).map { Float($0 % 7) - 3 }, b = (0..<n * n).map { Float($0 % 5) - 2 }
    var c = [Float](repeating: 0, count: n * n)
    let flops = 2.0 * Double(n * n * n)
    openblas_set_num_threads(Int32(threads))
    let blas = (0..<30).map { _ in
        seconds { cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1, a, Int32(n), b, Int32(n), 0, &c, Int32(n)) }
    }.min()!
    let ours = (0..<30).map { _ in
        seconds {
            c.withUnsafeMutableBufferPointer { out in
                Fast.matmul(a: a, b: b, m: n, k: n, n: n, transposeA: false, transposeB: false, bias: nil, activation: .none,
                            output: out.baseAddress!, threads: threads)
            }
        }
    }.min()!
    print(#"{"what": "sgemm", "threads": \#(threads), "openblas_gflops": \#(flops / blas / 1e9), "tiled_gflops": \#(flops / ours / 1e9)}"#)
}

/// Time per op type (from the gaps between observer calls), largest first: wall and process CPU
/// ms, each the minimum over ITERS runs (default 1) per step.
func profileBenchmark(_ a: [String]) throws {
    let (graphPath, inputPath, inputNode, outputNode) = (a[0], a[1], a[2], a[3])
    let (batch, threads) = (Int(a[4])!, Int(a[5])!)
    let imported = try GraphImporter.importGraph(try GraphDefIO.read(graphPath), outputs: [outputNode], path: graphPath)
    let options = PlanOptions(winograd: ProcessInfo.processInfo.environment["VAIQ_WINOGRAD"] != "0")
    let runtime = Runtime(graph: imported.graph, outputs: [(outputNode, imported.outputs[0])], options: options)
    let all = try NPY.decode(Array(try Data(contentsOf: URL(fileURLWithPath: inputPath))), name: inputPath)
    let per = all.elementCount / all.shape[0]
    let x = Tensor(Array(all.scalars(as: Float.self).prefix(batch * per)), shape: [batch] + all.shape.dropFirst())
    _ = try runtime.run([inputNode: x], threads: threads)
    let plan = try runtime.plan(for: [inputNode: x.shape])
    let kinds = Dictionary(plan.stepKinds.map { ($0.name, $0.kernel) }, uniquingKeysWith: { a, _ in a })
    let stepFlops = Dictionary(zip(plan.stepKinds.map(\.name), plan.stepFlops).map { ($0, $1) }, uniquingKeysWith: +)
    let iters = a.count > 6 ? Int(a[6])! : 1
    nonisolated(unsafe) var wall: [String: Double] = [:], cpu: [String: Double] = [:]
    for _ in 0..<iters {
        nonisolated(unsafe) var last = now(), lastCPU = cpuSeconds()
        _ = try runtime.run([inputNode: x], threads: threads) { name, shape, _ in
            let now = now(), nowCPU = cpuSeconds()
            wall[name] = min(wall[name] ?? .infinity, (now - last) * 1e3)
            cpu[name] = min(cpu[name] ?? .infinity, (nowCPU - lastCPU) * 1e3)
            last = now
            lastCPU = nowCPU
        }
    }
    var byOp: [String: (Double, Double, Int, Int)] = [:]
    for (name, ms) in wall {
        let op = kinds[name] ?? "input"
        byOp[op] = ((byOp[op]?.0 ?? 0) + ms, (byOp[op]?.1 ?? 0) + cpu[name]!, (byOp[op]?.2 ?? 0) + 1,
                    (byOp[op]?.3 ?? 0) + (stepFlops[name] ?? 0))
    }
    for (op, ms) in byOp.sorted(by: { $0.value.0 > $1.value.0 }) {
        print(String(format: "%-34@ %8.2f ms  cpu %8.2f ms  %3d steps %8.1f GFLOP/s", op, ms.0, ms.1, ms.2, Double(ms.3) / ms.0 / 1e6))
    }
    let total = byOp.values.reduce((0.0, 0.0)) { ($0.0 + $1.0, $0.1 + $1.1) }
    if ProcessInfo.processInfo.environment["VAIQ_PROFILE_STEPS"] == "1" {
        let shapes = plan.shapesByName
        for (name, ms) in wall.sorted(by: { $0.value > $1.value }) {
            print(String(format: "  %-60@ %8.2f ms  %@ %@ %.2f GFLOP", name, ms, kinds[name] ?? "", "\(shapes[name] ?? [])", Double(stepFlops[name] ?? 0) / 1e9))
        }
    }
    print(String(format: "%-34@ %8.2f ms  cpu %8.2f ms", "total", total.0, total.1))
}

/// Best-of-5 time of `BatchStatistics` (the candidate positions of `bits`: a build's activation
/// bit widths) on COUNT values shaped like a Relu6 output (a third zeros, the rest spread over
/// [0, 6]), in ns per value, with the kernel bodies limited to `isa` (avx512, avx2 or portable).
func statisticsBenchmark(count: Int, threads: Int, bits: [Int], isa: String) {
    let limits = ["portable": CK_ISA_PORTABLE, "avx2": CK_ISA_AVX2, "avx512": CK_ISA_AVX512]
    guard let limit = limits[isa] else { fatalError("instruction set \(isa): expected one of \(limits.keys.sorted())") }
    let available = ck_has_avx512f() != 0 ? "avx512" : ck_has_avx2_fma() != 0 ? "avx2" : "portable"
    let used = limit == CK_ISA_AVX512 ? available : limit == CK_ISA_AVX2 && available != "portable" ? "avx2" : "portable"
    let previous = ck_force_isa(Int32(limit))
    defer { _ = ck_force_isa(previous) }
    var state: UInt64 = 1
    let values = (0..<count).map { _ -> Float in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        let u = Float(state >> 40) / Float(1 << 24)
        return u < 0.33 ? 0 : (u - 0.33) * 9
    }
    let time = values.withUnsafeBufferPointer { v in best(5) { _ = BatchStatistics(v, bitWidths: bits, threads: threads) } }
    print(#"{"what": "stats", "count": \#(count), "threads": \#(threads), "bits": \#(bits), "isa": "\#(used)", "ms": \#(time * 1e3), "ns_per_value": \#(time / Double(count) * 1e9)}"#)
}
