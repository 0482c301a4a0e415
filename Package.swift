// swift-tools-version:6.1
// vaiq-build: a declarative, content-hashed build runner that quantizes TensorFlow models for DPUs.
// The numeric half (Tensors, TensorFlowIO, ...) and the build half (BuildCore, ...) never import
// each other; the Pipeline module is the one bridge that turns manifests into stages.
import PackageDescription

let package = Package(
    name: "vaiq-build",
    platforms: [.macOS(.v15)],
    products: [.executable(name: "vaiq-build", targets: ["vaiq-build"])],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // traits: [] keeps SwiftPM 6.3 from recompiling SwiftProtobuf on every re-plan (trait flag order).
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0", traits: []),
    ],
    targets: [
        // System libraries (Debian -dev packages; `make deps` installs them).
        .systemLibrary(name: "CXXHash", pkgConfig: "libxxhash", providers: [.apt(["libxxhash-dev"])]),
        .systemLibrary(name: "CSnappy", providers: [.apt(["libsnappy-dev"])]),
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-pthread-dev"])]),
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // CRC32C (Castagnoli) with the SSE4.2 instruction when the CPU has it; TF checkpoints use it.
        .target(name: "CCRC32C"),
        // Hot loops in C with AVX2+FMA bodies chosen at run time and bit-identical portable fallbacks.
        // -O2 even in debug builds: the tests run these kernels on real shapes.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O2"])]),

        // Generated from Protos/ by `make proto` (protoc + protoc-gen-swift); committed.
        .target(name: "TFProto", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        // Whole-file reads with path-naming errors, and atomic (temp + fsync + rename) writes.
        .target(name: "FileIO"),
        // The one lock type (pthread, so ThreadSanitizer sees it).
        .target(name: "Locking"),
        // Dense host tensors, dtypes, shapes, and NumPy .npy/.npz files. Knows no graphs.
        .target(name: "Tensors", dependencies: ["CZlib"]),
        // Float kernels: scalar reference kernels (the spec) and fast paths (packed-weight convs, Winograd, im2col + OpenBLAS).
        .target(name: "Kernels", dependencies: ["Tensors", "COpenBLAS", "CKernels"]),
        // Image decoding (JPEG via libjpeg-turbo, PNG via libpng) and declared preprocessing (resize, crop,
        // channel order, normalization) into float tensors, as TensorFlow / Keras compute them.
        .target(name: "Imaging", dependencies: ["CTurboJPEG", "CPNG", "FileIO"]),
        // The graph IR: ops, attributes, shape inference; no file format, no TensorFlow op names.
        .target(name: "GraphIR", dependencies: ["Tensors"]),
        // Plans and runs a GraphIR graph (float, and fixed point simulated through FixNeuron/FakeQuant) with per-node hooks.
        .target(name: "Runtime", dependencies: ["GraphIR", "Kernels", "Tensors", "Quantizer", "Locking"]),
        // Vitis-AI-compatible quantization: power-of-two fix positions, rounding, calibration statistics.
        .target(name: "Quantizer", dependencies: ["Tensors", "CKernels", "Kernels"]),
        // TensorFlow's file formats (GraphDef .pb/.pbtxt, tensor-bundle checkpoints), freeze, inspect, and the op
        // table: the one place that knows TensorFlow op names, their quantize roles, patterns and DPU operations.
        .target(name: "TensorFlowIO", dependencies: ["TFProto", "Tensors", "GraphIR", "FileIO", "CSnappy", "CCRC32C",
                                                     .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        // Quantization passes on GraphDefs: optimize, locate, calibrate, positions, eval/stock-TF/QAT/deploy models, evaluate.
        .target(name: "PTQ", dependencies: ["TFProto", "TensorFlowIO", "GraphIR", "Runtime", "Quantizer", "Tensors",
                                            .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        // The build engine: stage protocol, keys (XXH3-128), plan (DAG), content store + action cache, executor, lock.
        .target(name: "BuildCore", dependencies: ["CXXHash", "FileIO", "Locking"]),
        // A client of a shared cache server speaking Bazel's HTTP caching protocol (/ac/<key>, /cas/<sha256>)
        // over libcurl, and SHA-256 (OpenSSL) for the content names.
        .target(name: "RemoteCache", dependencies: ["CCurl", "CCrypto", "FileIO", "Locking", "BuildCore"]),
        // YAML manifests (libyaml) -> typed, validated specs; every error names file:line:column.
        .target(name: "Manifest", dependencies: ["CYAML", "FileIO", "BuildCore", "TensorFlowIO"]),
        // The only bridge between the halves: typed strategies and targets, QuantizeJob, one type per stage kind
        // wrapping the passes, the build session (run, place outputs, log) and the matrix report.
        .target(name: "Pipeline", dependencies: ["Manifest", "BuildCore", "TensorFlowIO", "FileIO", "PTQ", "Quantizer", "Tensors", "TFProto", "Imaging", "Locking", "Runtime", "GraphIR"]),
        // The command-line tool: swift-argument-parser commands that parse, call Pipeline or a pass, and print.
        .executableTarget(name: "vaiq-build", dependencies: [
            "TensorFlowIO", "Tensors", "BuildCore", "Manifest", "Pipeline", "FileIO", "Runtime", "PTQ", "Locking", "Imaging", "RemoteCache",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ]),
        // Fuzz targets (readers, manifests, optimize + quantize): `make fuzz` builds them under libFuzzer
        // and AddressSanitizer; a plain build replays a corpus (CI).
        .executableTarget(name: "vaiq-fuzz", dependencies: ["BuildCore", "FileIO", "Imaging", "Manifest", "PTQ", "RemoteCache", "TFProto", "TensorFlowIO", "Tensors"]),
        // Benchmark driver for bench/run.sh (times our readers; TensorFlow is timed in the same run).
        .executableTarget(name: "vaiq-bench", dependencies: ["TensorFlowIO", "BuildCore", "Runtime", "Kernels", "Tensors", "Quantizer", "CKernels", "COpenBLAS", "PTQ", "FileIO"],
                          path: "bench/Sources/vaiq-bench"),

        .testTarget(name: "TensorsTests", dependencies: ["Tensors"]),
        .testTarget(name: "TensorFlowIOTests", dependencies: ["TensorFlowIO", "TFProto", "Tensors", "CCRC32C", "GraphIR",
                                                              .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .testTarget(name: "FileIOTests", dependencies: ["FileIO"]),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging"]),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "Tensors", "CKernels"]),
        .testTarget(name: "GraphIRTests", dependencies: ["GraphIR", "Tensors"]),
        .testTarget(name: "RuntimeTests", dependencies: ["Runtime", "GraphIR", "Kernels", "Tensors", "TensorFlowIO"]),
        .testTarget(name: "QuantizerTests", dependencies: ["Quantizer", "CKernels"]),
        .testTarget(name: "PTQTests", dependencies: ["PTQ", "TensorFlowIO", "TFProto", "Runtime", "GraphIR", "Quantizer", "Tensors"]),
        .testTarget(name: "BuildCoreTests", dependencies: ["BuildCore", "FileIO", "Locking"]),
        // Against a real server: nginx with WebDAV, started by tools/start_nginx.sh.
        .testTarget(name: "RemoteCacheTests", dependencies: ["RemoteCache", "FileIO"]),
        .testTarget(name: "ManifestTests", dependencies: ["Manifest", "FileIO"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "Manifest", "BuildCore", "FileIO", "TensorFlowIO", "TFProto", "Tensors"]),
        // Runs the built binary; imports Pipeline for the strategy table it checks the flags against.
        .testTarget(name: "CLITests", dependencies: ["vaiq-build", "Pipeline", "Tensors", "FileIO"]),
    ],
    swiftLanguageModes: [.v6]
)
