import CKernels
import Dispatch
import Synchronization

// Float32 kernels over raw pointers in TensorFlow's layouts: activations NHWC, Conv2D filters
// HWIO, depthwise filters [kh, kw, c, multiplier], transposed-conv filters [kh, kw, outC, inC],
// matrices row-major. Callers own all memory; a kernel writes exactly its output.
//
// Two namespaces with the same signatures: `Reference` holds the scalar kernels written straight
// from TensorFlow's definitions (the specification, used by tests), `Fast` the production ones.
//
// Threads: a kernel takes the caller's budget. Work is cut into tiles whose boundaries depend
// only on the shapes, never on the budget, and at most `threads` tiles run at once; OpenBLAS is
// forced to one thread, so it starts no workers of its own. Every output value is therefore
// computed by the same instructions in the same order at any budget (bit-identical results at
// any -j), and stages running side by side never oversubscribe the cores.

/// The activation applied to a conv/matmul result while it is still in cache.
public enum Activation: Sendable, Equatable {
    case none, relu, relu6
    /// TensorFlow's LeakyRelu: x >= 0 ? x : alpha * x.
    case leakyRelu(alpha: Float)
}

public enum Padding: Sendable, Equatable {
    case same, valid
    case explicit(top: Int, bottom: Int, left: Int, right: Int)
}

public struct KernelError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public var description: String { message }
}

/// The geometry of a 2-D window operation (conv, depthwise conv, pooling) over NHWC data.
public struct ConvGeometry: Sendable, Equatable {
    public var batch, inH, inW, inC: Int
    public var outH, outW: Int
    public var kernelH, kernelW: Int
    public var strideH, strideW: Int
    public var dilationH, dilationW: Int
    public var padTop, padLeft: Int

    /// TensorFlow's output size and padding rules (SAME puts the odd padding row at the bottom/right).
    public static func make(batch: Int, inH: Int, inW: Int, inC: Int, kernelH: Int, kernelW: Int,
                            strideH: Int = 1, strideW: Int = 1, dilationH: Int = 1, dilationW: Int = 1,
                            padding: Padding) throws(KernelError) -> ConvGeometry {
        func axis(_ size: Int, _ k: Int, _ s: Int, _ d: Int, _ before: Int, _ after: Int) throws(KernelError) -> (Int, Int) {
            guard size >= 1, k >= 1, s >= 1, d >= 1 else {
                throw KernelError(message: "input \(size), window \(k), stride \(s), dilation \(d) must all be positive")
            }
            let effective = (k - 1) * d + 1
            let out: Int, pad: Int
            switch padding {
            case .valid:
                out = size >= effective ? (size - effective) / s + 1 : 0
                pad = 0
            case .same:
                out = (size + s - 1) / s
                pad = max((out - 1) * s + effective - size, 0) / 2
            case .explicit:
                let padded = size + before + after
                out = padded >= effective ? (padded - effective) / s + 1 : 0
                pad = before
            }
            guard out > 0 else {
                throw KernelError(message: "a window of \(k) with dilation \(d) does not fit an input of \(size)")
            }
            return (out, pad)
        }
        var t = 0, b = 0, l = 0, r = 0
        if case let .explicit(top, bottom, left, right) = padding {
            guard min(top, bottom, left, right) >= 0 else { throw KernelError(message: "explicit padding must not be negative") }
            (t, b, l, r) = (top, bottom, left, right)
        }
        let (oh, pt) = try axis(inH, kernelH, strideH, dilationH, t, b)
        let (ow, pl) = try axis(inW, kernelW, strideW, dilationW, l, r)
        return ConvGeometry(batch: batch, inH: inH, inW: inW, inC: inC, outH: oh, outW: ow, kernelH: kernelH, kernelW: kernelW,
                            strideH: strideH, strideW: strideW, dilationH: dilationH, dilationW: dilationW, padTop: pt, padLeft: pl)
    }
}

public enum BinaryOp: Sendable, Equatable { case add, sub, mul, div, maximum, minimum, squaredDifference }

public enum UnaryOp: Sendable, Equatable {
    case relu, relu6, sigmoid, tanh, exp, neg, sqrt, rsqrt, square, abs
    case leakyRelu(alpha: Float)
    /// relu6(x + 3) / 6
    case hardSigmoid
    /// x * relu6(x + 3) / 6
    case hardSwish
    /// x * sigmoid(x)
    case swish
}

/// Runs `body(tile)` for every tile in `0..<tiles`, at most `threads` at a time. Which thread runs
/// a tile varies; what a tile computes does not.
package func parallelFor(tiles: Int, threads: Int, _ body: @Sendable (Int) -> Void) {
    let workers = min(max(threads, 1), tiles)
    if workers <= 1 {
        for t in 0..<tiles { body(t) }
        return
    }
    let next = TileCounter()
    DispatchQueue.concurrentPerform(iterations: workers) { _ in
        while true {
            let t = next.take()
            if t >= tiles { break }
            body(t)
        }
    }
}

final class TileCounter: Sendable {
    private let value = Atomic<Int>(0)
    func take() -> Int { value.wrappingAdd(1, ordering: .relaxed).oldValue }
}

/// Pointers crossing into `@Sendable` tile closures. Tiles write disjoint ranges; the caller
/// keeps the memory alive for the duration of the call.
struct SendablePointer<T>: @unchecked Sendable {
    let p: UnsafeMutablePointer<T>
    init(_ p: UnsafeMutablePointer<T>) { self.p = p }
    init(_ p: UnsafePointer<T>) { self.p = UnsafeMutablePointer(mutating: p) }
}

extension Activation {
    @inline(__always)
    public func apply(_ x: Float) -> Float {
        switch self {
        case .none: x
        case .relu: max(x, 0)
        case .relu6: min(max(x, 0), 6)
        case let .leakyRelu(alpha): x >= 0 ? x : alpha * x
        }
    }
}

/// Adds the per-channel bias and the residual (same layout as `out`), then applies the
/// activation, on `rows` rows of `channels` values `stride` floats apart: one pass in C
/// (Sources/CKernels/epilogue.c), v + bias + residual then max(v, 0) / min(r, 6) / leaky exactly as
/// scalar Swift would, on any machine.
@inline(__always)
func epilogue(_ out: UnsafeMutablePointer<Float>, rows: Int, channels: Int, stride: Int, bias: UnsafePointer<Float>?,
              residual: UnsafePointer<Float>? = nil, activation: Activation) {
    if bias == nil && residual == nil && activation == .none { return }
    let (code, alpha) = activation.ckCode
    ck_epilogue(out, rows, channels, stride, bias, residual, code, alpha)
}

extension Activation {
    /// The CK_ACTIVATION_* code and leaky slope the C kernels take.
    var ckCode: (Int32, Float) {
        switch self {
        case .none: (CK_ACTIVATION_NONE, 0)
        case .relu: (CK_ACTIVATION_RELU, 0)
        case .relu6: (CK_ACTIVATION_RELU6, 0)
        case let .leakyRelu(alpha): (CK_ACTIVATION_LEAKY_RELU, alpha)
        }
    }
}
