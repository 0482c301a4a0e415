/// An 8-bit image as decoded: `height` x `width` x `channels` (1 gray, 3 RGB), row-major HWC.
public struct DecodedImage: Sendable, Equatable {
    public let height: Int
    public let width: Int
    public let channels: Int
    public var pixels: [UInt8]

    public init(height: Int, width: Int, channels: Int, pixels: [UInt8]) {
        self.height = height
        self.width = width
        self.channels = channels
        self.pixels = pixels
    }
}

/// A float image after preprocessing: `height` x `width` x `channels`, row-major HWC (NHWC rows).
public struct ImageTensor: Sendable, Equatable {
    public let height: Int
    public let width: Int
    public let channels: Int
    public var values: [Float]

    public init(height: Int, width: Int, channels: Int, values: [Float]) {
        self.height = height
        self.width = width
        self.channels = channels
        self.values = values
    }
}

/// A bad image: one line naming the file and what was expected.
public struct ImageError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(path): \(reason)" }
}

/// What the decoder produces: RGB (3 channels) or gray (1 channel).
public enum ImageColor: String, Sendable, Codable {
    case rgb, gray
}

/// The declared preprocessing of an image input, applied in this order:
///
///  1. decode to 8-bit RGB (or gray when `channelOrder` is `.gray`);
///  2. `resize` to float32 with TensorFlow's `tf.image.resize` bilinear (half-pixel centers, no antialias);
///  3. `centerCrop` [h, w], starting at ((H - h) / 2, (W - w) / 2) rounded down (Keras's `CenterCrop`);
///  4. `channelOrder` (`.bgr` reverses the three channels);
///  5. normalization: a Keras `preset`, or `(x - mean) / std`, or `(x - mean) * scale`
///     (`mean` and `std` hold one value or one per channel, in the output channel order).
public struct Preprocess: Sendable, Equatable, Codable {
    public enum Resize: Sendable, Equatable, Codable {
        case none
        /// The shorter side becomes N; the longer one floor(longer * N / shorter).
        case shorter(Int)
        case exact(height: Int, width: Int)
    }

    public enum ChannelOrder: String, Sendable, Codable {
        case rgb, bgr, gray
    }

    /// `keras.applications` `preprocess_input` modes, on RGB input in 0...255.
    public enum Preset: String, Sendable, Codable {
        /// RGB -> BGR, then minus the ImageNet means [103.939, 116.779, 123.68] (BGR order).
        case caffe
        /// x / 127.5 - 1.
        case tf
        /// x / 255, minus [0.485, 0.456, 0.406], divided by [0.229, 0.224, 0.225] (RGB).
        case torch
    }

    public var resize: Resize = .none
    /// [height, width]
    public var centerCrop: [Int]? = nil
    public var channelOrder: ChannelOrder = .rgb
    public var preset: Preset? = nil
    public var mean: [Float] = []
    public var std: [Float] = []
    public var scale: Float? = nil

    public init() {}

    /// The decoder's color for this preprocessing.
    public var color: ImageColor { channelOrder == .gray ? .gray : .rgb }
    /// Channels of the output.
    public var channels: Int { channelOrder == .gray ? 1 : 3 }
}
