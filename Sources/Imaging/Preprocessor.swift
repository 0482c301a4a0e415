/// Applies a `Preprocess` to a decoded image, reproducing TensorFlow and Keras in float32:
///
/// - resize: `tf.image.resize(method='bilinear', antialias=False)`, i.e. TensorFlow's
///   ResizeBilinear with half-pixel centers (resize_bilinear_op.cc), with the same float32
///   operations in the same order: `scale = in / out`, `src = (i + 0.5) * scale - 0.5`,
///   `lower = max(floor(src), 0)`, `upper = min(ceil(src), in - 1)`, `lerp = src - floor(src)`,
///   `top = tl + (tr - tl) * xlerp`, `bottom = bl + (br - bl) * xlerp`,
///   `out = top + (bottom - top) * ylerp`. An unchanged size only converts the pixels to float.
/// - center crop: rows from (H - h) / 2 and columns from (W - w) / 2, rounded down.
/// - channel order: `.bgr` reverses the three channels.
/// - normalization: a preset exactly as Keras's `imagenet_utils._preprocess_numpy_input` computes it
///   on float32 RGB (`tf`: x / 127.5 - 1; `torch`: x / 255, minus the mean, divided by the std;
///   `caffe`: channels reversed to BGR, minus [103.939, 116.779, 123.68]), or `(x - mean) / std`,
///   or `(x - mean) * scale`. A preset requires `channelOrder` `.rgb` and no mean, std or scale;
///   `caffe` itself produces BGR output.
///
/// Only the output pixels are interpolated (the crop window of the resized image), so the cost is
/// proportional to the output size plus the weights' setup.
public enum Preprocessor {
    /// The largest output accepted, in pixels: 2^28 (as for decoded images).
    public static let maxPixels = ImageDecoder.maxPixels

    /// The size after resize and center crop. Does not validate: `apply` reports a crop larger than
    /// the resized image, a wrong crop shape and empty sizes.
    public static func outputSize(height: Int, width: Int, _ p: Preprocess) -> (height: Int, width: Int) {
        if let crop = p.centerCrop, crop.count == 2 {
            return (crop[0], crop[1])
        }
        return resizedSize(height: height, width: width, p.resize)
    }

    /// The size after the resize step alone.
    public static func resizedSize(height: Int, width: Int, _ resize: Preprocess.Resize) -> (height: Int, width: Int) {
        switch resize {
        case .none:
            return (height, width)
        case .exact(let h, let w):
            return (h, w)
        case .shorter(let n):
            if height == width { return (n, n) }
            if height < width { return (n, floorScaled(width, n, height)) }
            return (floorScaled(height, n, width), n)
        }
    }

    /// floor(a * n / d) for the non-negative case; saturates instead of overflowing, 0 for d <= 0.
    private static func floorScaled(_ a: Int, _ n: Int, _ d: Int) -> Int {
        guard d > 0 else { return 0 }
        let (product, overflow) = a.multipliedReportingOverflow(by: n)
        if overflow { return (a < 0) == (n < 0) ? Int.max : Int.min }
        let q = product / d
        return product % d != 0 && product < 0 ? q - 1 : q
    }

    /// The preprocessed float32 tensor of `image`. The configuration is validated here as well (a
    /// preset with mean/std/scale or a channel order other than rgb, a wrong number of mean or std
    /// values, a zero std, std together with scale, a bad crop); `path` names the image in errors.
    public static func apply(_ image: DecodedImage, _ p: Preprocess, path: String) throws(ImageError) -> ImageTensor {
        func fail(_ reason: String) -> ImageError { ImageError(path: path, reason: reason) }

        let normalize = try Normalization(p, path: path)
        let channels = p.channels

        // The image itself.
        guard image.height > 0, image.width > 0 else {
            throw fail("image is \(image.height)x\(image.width); expected a non-empty image")
        }
        guard image.channels == channels else {
            throw fail("image has \(image.channels) channel\(image.channels == 1 ? "" : "s"); expected \(channels) for channel_order \(p.channelOrder.rawValue)")
        }
        guard image.height <= maxPixels / image.width else {
            throw fail("image is \(image.height)x\(image.width), more than 2^28 pixels; expected a smaller image")
        }
        guard image.pixels.count == image.height * image.width * channels else {
            throw fail("image has \(image.pixels.count) bytes of pixels; expected \(image.height)x\(image.width)x\(channels)")
        }

        // Sizes.
        let (rh, rw) = resizedSize(height: image.height, width: image.width, p.resize)
        guard rh > 0, rw > 0 else {
            throw fail("resize \(describe(p.resize)) gives \(rh)x\(rw); expected a positive height and width")
        }
        guard rh <= maxPixels / rw else {
            throw fail("resize \(describe(p.resize)) gives \(rh)x\(rw), more than 2^28 pixels; expected a smaller size")
        }
        var (oh, ow) = (rh, rw)
        if let crop = p.centerCrop {
            guard crop.count == 2 else {
                throw fail("center_crop has \(crop.count) values; expected [height, width]")
            }
            guard crop[0] > 0, crop[1] > 0 else {
                throw fail("center_crop \(crop[0])x\(crop[1]); expected a positive height and width")
            }
            guard crop[0] <= rh, crop[1] <= rw else {
                let after = p.resize == .none ? "" : " (after resize)"
                throw fail("image is \(rh)x\(rw)\(after), smaller than center_crop \(crop[0])x\(crop[1])")
            }
            (oh, ow) = (crop[0], crop[1])
        }
        let top = (rh - oh) / 2, left = (rw - ow) / 2

        // Resize weights for the output window (exactly the ones TensorFlow uses for those rows and columns).
        let ys = weights(out: rh, in: image.height, from: top, count: oh)
        let xs = weights(out: rw, in: image.width, from: left, count: ow)

        var values = [Float](repeating: 0, count: oh * ow * channels)
        let reverse = p.channelOrder == .bgr || p.preset == .caffe
        image.pixels.withUnsafeBufferPointer { src in
            values.withUnsafeMutableBufferPointer { dst in
                let rowSize = image.width * channels
                var pixel = [Float](repeating: 0, count: channels)
                var o = 0
                for y in ys {
                    let topRow = y.lower * rowSize, bottomRow = y.upper * rowSize
                    for x in xs {
                        let l = x.lower * channels, r = x.upper * channels
                        for c in 0..<channels {
                            let tl = Float(src[topRow + l + c]), tr = Float(src[topRow + r + c])
                            let bl = Float(src[bottomRow + l + c]), br = Float(src[bottomRow + r + c])
                            let top = tl + (tr - tl) * x.lerp
                            let bottom = bl + (br - bl) * x.lerp
                            pixel[c] = top + (bottom - top) * y.lerp
                        }
                        for c in 0..<channels {
                            let v = pixel[reverse ? channels - 1 - c : c]
                            dst[o + c] = normalize.apply(v, channel: c)
                        }
                        o += channels
                    }
                }
            }
        }
        return ImageTensor(height: oh, width: ow, channels: channels, values: values)
    }

    /// One output coordinate's source rows (or columns) and interpolation weight.
    struct Weight {
        var lower: Int
        var upper: Int
        var lerp: Float
    }

    /// TensorFlow's compute_interpolation_weights with HalfPixelScaler, for outputs `from ..< from + count`.
    /// An unchanged size gives weight 0 on the source index itself (TensorFlow's plain cast).
    static func weights(out: Int, in inSize: Int, from: Int, count: Int) -> [Weight] {
        if out == inSize {
            return (from..<(from + count)).map { Weight(lower: $0, upper: $0, lerp: 0) }
        }
        let scale = Float(inSize) / Float(out)
        return (from..<(from + count)).map { i in
            let source = (Float(i) + 0.5) * scale - 0.5
            let floored = source.rounded(.down)
            // TensorFlow clamps only lower to 0 and upper to in - 1; the other two clamps never
            // change an in-range index and keep extreme sizes (float rounding) inside the image.
            let lower = min(max(Int(floored), 0), inSize - 1)
            let upper = max(min(Int(source.rounded(.up)), inSize - 1), 0)
            return Weight(lower: lower, upper: upper, lerp: source - floored)
        }
    }

    private static func describe(_ r: Preprocess.Resize) -> String {
        switch r {
        case .none: return "none"
        case .shorter(let n): return "shorter side \(n)"
        case .exact(let h, let w): return "\(h)x\(w)"
        }
    }
}

/// The normalization step as per-channel float32 operations, in output channel order.
private struct Normalization {
    enum Kind {
        /// x / 127.5 - 1
        case tf
        /// (x / 255 - mean[c]) / std[c]
        case torch(mean: [Float], std: [Float])
        /// x - mean[c]
        case caffe(mean: [Float])
        /// (x - mean[c]) / std[c] or (x - mean[c]) * scale, each part optional
        case custom(mean: [Float]?, std: [Float]?, scale: Float?)
    }

    let kind: Kind

    init(_ p: Preprocess, path: String) throws(ImageError) {
        func fail(_ reason: String) -> ImageError { ImageError(path: path, reason: reason) }
        let channels = p.channels
        if let preset = p.preset {
            var extra: [String] = []
            if !p.mean.isEmpty { extra.append("mean") }
            if !p.std.isEmpty { extra.append("std") }
            if p.scale != nil { extra.append("scale") }
            guard extra.isEmpty else {
                throw fail("preset \(preset.rawValue) combined with \(extra.joined(separator: "/")); expected either a preset or mean/std/scale")
            }
            guard p.channelOrder == .rgb else {
                let note = preset == .caffe ? " (caffe itself produces BGR)" : ""
                throw fail("preset \(preset.rawValue) with channel_order \(p.channelOrder.rawValue); expected channel_order rgb\(note)")
            }
            // Keras's constants are Python floats, rounded to float32 by numpy.
            func f32(_ v: [Double]) -> [Float] { v.map { Float($0) } }
            switch preset {
            case .tf:
                kind = .tf
            case .torch:
                kind = .torch(mean: f32([0.485, 0.456, 0.406]), std: f32([0.229, 0.224, 0.225]))
            case .caffe:
                kind = .caffe(mean: f32([103.939, 116.779, 123.68]))
            }
            return
        }
        func perChannel(_ v: [Float], _ name: String) throws(ImageError) -> [Float]? {
            if v.isEmpty { return nil }
            guard v.count == 1 || v.count == channels else {
                throw fail("\(name) has \(v.count) values; expected 1 or \(channels) (one per channel)")
            }
            guard v.allSatisfy({ $0.isFinite }) else {
                throw fail("\(name) \(v) has a non-finite value; expected finite numbers")
            }
            return v.count == channels ? v : [Float](repeating: v[0], count: channels)
        }
        let mean = try perChannel(p.mean, "mean")
        let std = try perChannel(p.std, "std")
        if let std, std.contains(0) {
            throw fail("std \(p.std) contains 0; expected non-zero values")
        }
        if std != nil, p.scale != nil {
            throw fail("both std and scale given; expected one of them ((x - mean) / std or (x - mean) * scale)")
        }
        if let scale = p.scale, !scale.isFinite {
            throw fail("scale \(scale) is not finite; expected a finite number")
        }
        kind = .custom(mean: mean, std: std, scale: p.scale)
    }

    @inline(__always)
    func apply(_ x: Float, channel c: Int) -> Float {
        switch kind {
        case .tf:
            return x / 127.5 - 1
        case .torch(let mean, let std):
            return (x / 255 - mean[c]) / std[c]
        case .caffe(let mean):
            return x - mean[c]
        case .custom(let mean, let std, let scale):
            var v = x
            if let mean { v = v - mean[c] }
            if let std { v = v / std[c] }
            if let scale { v = v * scale }
            return v
        }
    }
}
