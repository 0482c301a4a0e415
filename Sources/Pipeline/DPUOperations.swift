/// The DPU operation names a target's `supported_ops` may list.
enum DPUOperations {
    static let names: Set<String> = [
        "conv2d", "depthwise_conv2d", "conv2d_transpose", "dense", "relu", "relu6", "leaky_relu", "hard_sigmoid",
        "add", "mul", "concat", "max_pool", "avg_pool", "mean", "pad", "reshape", "resize", "depth_to_space",
    ]
}
