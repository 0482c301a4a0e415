// swift-tools-version:6.1
// vaiq-build: a declarative, content-hashed build runner that quantizes TensorFlow models for DPUs.
// The numeric half (Tensors, TensorFlowIO, ...) and the build half (BuildCore, ...) never import
// each other; the executable is the only place both meet until the Pipeline bridge exists.
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
        // CRC32C (Castagnoli) with the SSE4.2 instruction when the CPU has it; TF checkpoints use it.
        .target(name: "CCRC32C"),

        // Generated from Protos/ by `make proto` (protoc + protoc-gen-swift); committed.
        .target(name: "TFProto", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        // Whole-file reads with path-naming errors, and atomic (temp + fsync + rename) writes.
        .target(name: "FileIO"),
        // Dense host tensors, dtypes, shapes, and NumPy .npy/.npz files. Knows no graphs.
        .target(name: "Tensors"),
        // TensorFlow's file formats: GraphDef (.pb/.pbtxt), tensor-bundle checkpoints, freeze, inspect.
        .target(name: "TensorFlowIO", dependencies: ["TFProto", "Tensors", "FileIO", "CSnappy", "CCRC32C",
                                                     .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        // The build engine: content digests (XXH3-128) now; DAG, store and executor as they land.
        .target(name: "BuildCore", dependencies: ["CXXHash", "FileIO"]),
        // The command-line tool: swift-argument-parser commands, a few lines each.
        .executableTarget(name: "vaiq-build", dependencies: [
            "TensorFlowIO", "Tensors", "BuildCore", "FileIO",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ]),
        // Benchmark driver for bench/run.sh (times our readers; TensorFlow is timed in the same run).
        .executableTarget(name: "vaiq-bench", dependencies: ["TensorFlowIO"], path: "bench/Sources/vaiq-bench"),

        .testTarget(name: "TensorsTests", dependencies: ["Tensors"]),
        .testTarget(name: "TensorFlowIOTests", dependencies: ["TensorFlowIO", "TFProto", "Tensors", "CCRC32C"]),
        .testTarget(name: "FileIOTests", dependencies: ["FileIO"]),
        .testTarget(name: "BuildCoreTests", dependencies: ["BuildCore"]),
        .testTarget(name: "CLITests", dependencies: ["vaiq-build"]),
    ],
    swiftLanguageModes: [.v6]
)
