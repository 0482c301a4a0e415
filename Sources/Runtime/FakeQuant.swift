/// TensorFlow's FakeQuantWithMinMaxVars arithmetic (fake_quant_ops_functor.h), in float32 as
/// TensorFlow computes it: the range is nudged so that zero is exactly representable, values are
/// clamped to it and rounded half up on the grid. Used to run the stock-TensorFlow twins of
/// quantized models, and any graph with fake quantization, exactly as TensorFlow does.
public struct FakeQuantRanges: Sendable {
    let nudgedMin: [Float]
    let nudgedMax: [Float]
    let scale: [Float]

    public init(min: [Float], max: [Float], bits: Int, narrow: Bool) {
        let quantMin: Float = narrow ? 1 : 0
        let quantMax = Float((1 << bits) - 1)
        var lows: [Float] = [], highs: [Float] = [], scales: [Float] = []
        for (lo, hi) in zip(min, max) {
            let scale = (hi - lo) / (quantMax - quantMin)
            let zeroFromMin = quantMin - lo / scale
            let zero: Float = zeroFromMin < quantMin ? quantMin : zeroFromMin > quantMax ? quantMax : zeroFromMin.rounded(.toNearestOrAwayFromZero)
            lows.append((quantMin - zero) * scale)
            highs.append((quantMax - zero) * scale)
            scales.append(scale)
        }
        nudgedMin = lows
        nudgedMax = highs
        scale = scales
    }

    @inline(__always)
    func quantize(_ x: Float, channel c: Int) -> Float {
        let clamped = Swift.min(Swift.max(x, nudgedMin[c]), nudgedMax[c])
        let inverse = 1 / scale[c]
        return ((clamped - nudgedMin[c]) * inverse + 0.5).rounded(.down) * scale[c] + nudgedMin[c]
    }
}
