// Times vaiq-build's TensorFlow file readers for bench/run.sh, which times TensorFlow on the same
// files in the same run. Prints one JSON object per measurement (best of N runs, page cache warm).
//
//   vaiq-bench graph PATH [RUNS]          parse + validate a GraphDef
//   vaiq-bench checkpoint PREFIX [RUNS]   read and CRC-check every tensor of a checkpoint
//   vaiq-bench freeze GRAPH CKPT OUT NODES [RUNS]   the whole freeze command's work
//   vaiq-bench engine CELLS ITERATIONS     a matrix of CPU-bound stages at -j1 and -j2
//   vaiq-bench infer GRAPH INPUT.npy INPUT_NODE OUTPUT_NODE BATCH THREADS ITERS   float inference (median)
//   vaiq-bench sgemm THREADS               OpenBLAS sgemm 1024^3 peak, and our tiled matmul
//   vaiq-bench profile GRAPH INPUT.npy INPUT_NODE OUTPUT_NODE BATCH THREADS   ms per op kind (VAIQ_WINOGRAD=0: direct 3x3 convs)
//   vaiq-bench infer-ab GRAPH INPUT.npy INPUT_NODE OUTPUT_NODE BATCH THREADS ITERS   direct vs Winograd 3x3 convs, alternating
//   vaiq-bench positions GRAPH X.npy IN OUT ROWS  statistics' positions vs the exhaustive search (PositionCheck)
//   vaiq-bench stats COUNT THREADS [BITS [ISA]]  calibration statistics (BatchStatistics) of COUNT relu6-like values
//                                      (kernel bodies up to ISA: avx512 (default), avx2, portable)
//                                          for bit widths BITS (e.g. 8 or 4,8; default 1-16)
//   vaiq-bench winograd BATCH THREADS [ITERS [BLOCKS [HWxINCxOUTC;...]]]   ResNet50's 3x3 convs, direct vs Winograd
import Foundation
import TensorFlowIO

/// CLOCK_MONOTONIC seconds.
func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = now()
    try body()
    return now() - start
}

/// CPU seconds of the whole process (all threads): steadier than wall time when other jobs share the cores.
func cpuSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

func best(_ runs: Int, _ body: () throws -> Void) rethrows -> Double {
    var times: [Double] = []
    for _ in 0..<runs { times.append(try seconds(body)) }
    return times.min()!
}

let args = CommandLine.arguments
guard args.count >= 3 else {
    FileHandle.standardError.write(Data("usage: vaiq-bench graph|checkpoint|freeze ...\n".utf8))
    exit(2)
}
do {
    switch args[1] {
    case "graph":
        let runs = args.count > 3 ? Int(args[3])! : 3
        var nodes = 0
        let t = try best(runs) { nodes = try GraphDefIO.read(args[2]).node.count }
        let size = (try FileManager.default.attributesOfItem(atPath: args[2])[.size] as? Int) ?? 0
        print(#"{"what": "graph", "bytes": \#(size), "nodes": \#(nodes), "seconds": \#(t)}"#)
    case "checkpoint":
        let runs = args.count > 3 ? Int(args[3])! : 3
        var bytes = 0
        let t = try best(runs) {
            let reader = try CheckpointReader(prefix: args[2])
            bytes = 0
            for info in reader.tensorInfos where info.dtype.hostDType != nil {
                bytes += try reader.tensor(named: info.name).bytes.count
            }
        }
        print(#"{"what": "checkpoint", "bytes": \#(bytes), "seconds": \#(t)}"#)
    case "freeze":
        let runs = args.count > 6 ? Int(args[6])! : 3
        let t = try best(runs) {
            let graph = try GraphDefIO.read(args[2])
            let reader = try CheckpointReader(prefix: try CheckpointLocation.resolve(args[3]).prefix)
            let frozen = try GraphFreezer.freeze(graph, checkpoint: reader, outputNodes: args[5].components(separatedBy: ","), graphPath: args[2])
            try GraphDefIO.write(frozen.graph, to: args[4])
        }
        print(#"{"what": "freeze", "seconds": \#(t)}"#)
    case "engine":
        let cells = Int(args[2])!, iterations = args.count > 3 ? Int(args[3])! : 20_000_000
        let one = try engineBenchmark(cells: cells, iterations: iterations, jobs: 1)
        let two = try engineBenchmark(cells: cells, iterations: iterations, jobs: 2)
        print(#"{"what": "engine", "cells": \#(cells), "j1": \#(one), "j2": \#(two)}"#)
    case "verify":
        try verifyBenchmark(objects: Int(args[2])!, megabytes: args.count > 3 ? Int(args[3])! : 10, runs: args.count > 4 ? Int(args[4])! : 3)
    case "infer":
        try inferenceBenchmark(Array(args[2...]))
    case "profile":
        try profileBenchmark(Array(args[2...]))
    case "infer-ab":
        try inferenceABBenchmark(Array(args[2...]))
    case "winograd":
        winogradBenchmark(Array(args[2...]))
    case "sgemm":
        sgemmBenchmark(threads: Int(args[2])!)
    case "positions":
        try positionsBenchmark(Array(args[2...]))
    case "stats":
        statisticsBenchmark(count: Int(args[2])!, threads: Int(args[3])!,
                            bits: args.count > 4 ? args[4].split(separator: ",").compactMap { Int($0) } : Array(1...16),
                            isa: args.count > 5 ? args[5] : "avx512")
    default:
        FileHandle.standardError.write(Data("unknown measurement \(args[1])\n".utf8))
        exit(2)
    }
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
