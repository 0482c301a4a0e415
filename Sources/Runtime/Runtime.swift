import GraphIR
import Kernels
import Locking
import Tensors

/// Runs a graph on float32 inputs. Plans are made per distinct set of input shapes and cached, so
/// a calibration loop over equal batches plans once.
///
/// Threads: every run takes a `threads` budget from its caller (the build executor hands each
/// numeric stage its share of `-j`). Kernels split work into tiles of fixed size and run at most
/// `threads` of them at once; OpenBLAS itself is kept single-threaded. Results are therefore
/// bit-identical for any budget, and parallel stages never oversubscribe the machine.
public final class Runtime: Sendable {
    public let graph: Graph
    public let outputNames: [String]
    let outputRefs: [ValueRef]
    let options: PlanOptions
    private let plans = Locked<[[String: [Int]]: Plan]>([:])

    /// What an observer sees after each step: the node (for a fused chain, its last node), the
    /// value's shape, and the values (valid only during the call).
    public typealias Observer = (_ node: String, _ shape: [Int], _ values: UnsafeBufferPointer<Float>) -> Void

    public init(graph: Graph, outputs: [(name: String, ref: ValueRef)], options: PlanOptions = PlanOptions()) {
        Runtime.configureHeap()
        self.graph = graph
        self.outputNames = outputs.map(\.name)
        self.outputRefs = outputs.map(\.ref)
        self.options = options
    }

    /// The process's heap policy for large, short-lived buffers (activations, graphs, serialized
    /// models). Call it at the start of a process, before it starts threads; a `Runtime` calls it too.
    public static func configureHeap() { _ = heap }

    /// Keep glibc from returning large blocks to the kernel with munmap on every free, which made
    /// each run page-fault its whole working set again; and use one arena: glibc gives each thread
    /// (stages run on Dispatch workers) an arena of its own, whose blocks over 64 MB are mmapped
    /// fresh and unmapped on free, and whose free memory no other thread can reuse, so parallel
    /// stages each kept their own copy of that memory.
    private static let heap: Void = {
        _ = glibcMallopt(-3, 1 << 30)  // M_MMAP_THRESHOLD (malloc.h)
        _ = glibcMallopt(-1, 1 << 30)  // M_TRIM_THRESHOLD
        _ = glibcMallopt(-8, 1)        // M_ARENA_MAX
    }()

    /// The plan for these input shapes (made once, then cached).
    public func plan(for inputShapes: [String: [Int]]) throws(RuntimeError) -> Plan {
        if let cached = plans.withLock({ $0[inputShapes] }) { return cached }
        var planner = Planner(graph: graph, options: options)
        let plan = try planner.plan(outputs: Array(zip(outputNames, outputRefs)), inputShapes: inputShapes)
        plans.withLock { $0[inputShapes] = plan }
        return plan
    }

    /// Runs the graph; returns the outputs by name, in the order they were requested. `feeds`
    /// gives the placeholders' values, and may give any other node's: that value replaces the
    /// node's output (as a TensorFlow feed), and what only that node needed does not run.
    public func run(_ feeds: [String: Tensor], threads: Int = 1, observe: Observer? = nil) throws(RuntimeError) -> [(name: String, tensor: Tensor)] {
        for name in feeds.keys where graph.index(of: name) == nil {
            throw RuntimeError("input '\(name)' is not a node of the graph")
        }
        guard !options.shapesOnly else { throw RuntimeError("a plan made for its shapes only cannot run") }
        let plan = try self.plan(for: feeds.mapValues(\.shape))
        var values = plan.constants
        for (input, slot) in zip(plan.inputs, plan.inputSlots) {
            let tensor = feeds[input.name]!
            guard tensor.dtype.isFloatingPoint else {
                throw RuntimeError("input '\(input.name)': expected float32 values, got \(tensor.dtype)")
            }
            values[slot] = tensor.dtype == .float32 ? tensor.scalars(as: Float.self) : tensor.floatValues()
            if let observe { values[slot]!.withUnsafeBufferPointer { observe(input.name, input.shape, $0) } }
        }
        for step in plan.steps {
            values[step.output] = Executor.execute(step, plan: plan, values: values, threads: max(1, threads))
            if let observe { values[step.output]!.withUnsafeBufferPointer { observe(step.name, plan.shapes[step.output], $0) } }
            for slot in step.releases { values[slot] = nil }
        }
        return plan.outputs.map { name, slot in
            if let folded = plan.foldedOutputs[slot] { return (name, folded) }
            return (name, Tensor(values[slot]!, shape: plan.shapes[slot]))
        }
    }
}

/// glibc's mallopt(3); <malloc.h> is not part of the Glibc module.
@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
