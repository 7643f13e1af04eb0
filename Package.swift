// swift-tools-version:6.0
import PackageDescription

// Optimise the numeric hand loops even in debug builds: tests run real models.
let fast: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"])]

let package = Package(
    name: "dnd",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "dnd", targets: ["dnd"]),
        .library(name: "DNDKit", targets: ["TensorCore", "SafeTensors", "LoRA", "Pipeline", "LLM"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CInotifyTools", providers: [.apt(["libinotifytools0-dev"])]),
        .target(name: "TensorCore", dependencies: ["CBLAS"], swiftSettings: fast),
        .target(name: "SafeTensors", dependencies: ["TensorCore"], swiftSettings: fast),
        .target(name: "LoRA", dependencies: ["TensorCore", "SafeTensors"], swiftSettings: fast),
        .target(name: "Pipeline", dependencies: ["TensorCore", "SafeTensors", "LoRA"], swiftSettings: fast),
        .target(name: "LLM", dependencies: ["TensorCore", "SafeTensors", "LoRA", "Pipeline"], swiftSettings: fast),
        .target(name: "DNDCLI", dependencies: [
            "TensorCore", "SafeTensors", "LoRA", "Pipeline", "LLM",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "dnd", dependencies: ["DNDCLI", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .target(name: "DNDTestSupport", dependencies: ["TensorCore"], path: "Sources/DNDTestSupport"),
        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore", "DNDTestSupport"]),
        .testTarget(name: "SafeTensorsTests", dependencies: ["SafeTensors", "TensorCore", "DNDTestSupport"]),
        .testTarget(name: "LoRATests", dependencies: ["LoRA", "SafeTensors", "TensorCore", "DNDTestSupport"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "LoRA", "TensorCore", "DNDTestSupport"]),
        .testTarget(name: "LLMTests", dependencies: ["LLM", "LoRA", "SafeTensors", "TensorCore", "Pipeline", "DNDTestSupport"]),
        .testTarget(name: "DNDCLITests", dependencies: ["DNDCLI", "SafeTensors", "TensorCore", "LLM", "LoRA", "DNDTestSupport"]),
    ],
    swiftLanguageModes: [.v5]
)
