// swift-tools-version:6.0
import PackageDescription

// Optimise the numeric hand loops even in debug builds: tests run real models.
let fast: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"])]

let package = Package(
    name: "dnd",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "dnd", targets: ["dnd"]),
        .library(name: "DNDKit", targets: ["TensorCore", "SafeTensors", "GGUF", "LoRA", "Pipeline", "TextEncoder"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CInotifyTools", providers: [.apt(["libinotifytools0-dev"])]),
        // The bottom: the error type and the file-system toolkit (atomic files and folders, renames, file kinds).
        .target(name: "FileKit"),
        .target(name: "TensorCore", dependencies: ["CBLAS", "FileKit"], swiftSettings: fast),
        // Chat-template rendering (a Jinja2 subset); Foundation only. Optimised but with safety checks kept:
        // it runs on user-supplied templates.
        .target(name: "Jinja", swiftSettings: [.unsafeFlags(["-O"])]),
        .target(name: "SafeTensors", dependencies: ["TensorCore"], swiftSettings: fast),
        .target(name: "GGUF", dependencies: ["TensorCore"], swiftSettings: fast),
        .target(name: "LoRA", dependencies: ["TensorCore", "SafeTensors", "GGUF"], swiftSettings: fast),
        .target(name: "TextEncoder", dependencies: ["TensorCore", "SafeTensors"], swiftSettings: fast),
        .target(name: "Generator", dependencies: ["TensorCore", "SafeTensors"], swiftSettings: fast),
        // The root's on-disk contract: its folders, the generator store, job names, the instance lock.
        .target(name: "Workspace", dependencies: ["FileKit", .product(name: "TOMLKit", package: "TOMLKit")]),
        // Prompt records and prompt files: what every layer above the engines reads.
        .target(name: "Prompts", dependencies: ["TensorCore"]),
        .target(name: "LLM", dependencies: ["TensorCore", "SafeTensors", "GGUF", "Jinja", "LoRA", "Prompts"], swiftSettings: fast),
        .target(name: "Pipeline", dependencies: [
            "TensorCore", "SafeTensors", "LoRA", "TextEncoder", "Generator", "LLM", "Prompts", "Workspace",
        ], swiftSettings: fast),
        .target(name: "Demo", dependencies: ["Workspace", "TensorCore", "LoRA", "TextEncoder", "Prompts", "Pipeline", "LLM", "Daemon"]),
        .target(name: "DNDCLI", dependencies: [
            "TensorCore", "SafeTensors", "LoRA", "TextEncoder", "LLM", "Generator", "Prompts", "Workspace", "Pipeline", "Demo", "Daemon",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .target(name: "Daemon", dependencies: [
            "TensorCore", "Workspace", "Prompts", "Pipeline", "LLM", "TextEncoder", "LoRA", "CInotifyTools",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "TOMLKit", package: "TOMLKit"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .executableTarget(name: "dnd", dependencies: ["DNDCLI"]),
        // Tests only, under Tests/Support: fixtures and helpers shared by the test targets; a deterministic stand-in for
        // the pipeline, and `dnd-testhost`, a real daemon process running it.
        .target(name: "DNDTestSupport", dependencies: ["TensorCore"], path: "Tests/Support/DNDTestSupport"),
        .target(name: "DaemonTestSupport", dependencies: ["Workspace", "Daemon", "LoRA", "Prompts", "Pipeline", "TensorCore", "DNDTestSupport"],
                path: "Tests/Support/DaemonTestSupport"),
        .executableTarget(name: "dnd-testhost", dependencies: ["Daemon", "DaemonTestSupport"], path: "Tests/Support/dnd-testhost"),
        .testTarget(name: "FileKitTests", dependencies: ["FileKit", "DNDTestSupport"]),
        .testTarget(name: "WorkspaceTests", dependencies: ["Workspace", "FileKit", "DaemonTestSupport", "DNDTestSupport"]),
        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore", "DNDTestSupport"]),
        .testTarget(name: "JinjaTests", dependencies: ["Jinja"], exclude: ["Fixtures"]),
        .testTarget(name: "SafeTensorsTests", dependencies: ["SafeTensors", "TensorCore", "DNDTestSupport"]),
        .testTarget(name: "GGUFTests", dependencies: ["GGUF", "SafeTensors", "TensorCore", "DNDTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "LoRATests", dependencies: ["LoRA", "GGUF", "SafeTensors", "TensorCore", "DNDTestSupport"]),
        .testTarget(name: "PromptsTests", dependencies: ["Prompts", "TensorCore", "DNDTestSupport"]),
        .testTarget(name: "PipelineTests", dependencies: ["Prompts", "Pipeline", "LoRA", "TensorCore", "SafeTensors", "TextEncoder", "Generator", "LLM", "DNDTestSupport"]),
        .testTarget(name: "TextEncoderTests", dependencies: ["TextEncoder", "SafeTensors", "TensorCore", "DNDTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "GeneratorTests", dependencies: ["Generator", "SafeTensors", "TensorCore", "DNDTestSupport"]),
        .testTarget(name: "LLMTests", dependencies: ["Prompts", "LLM", "LoRA", "GGUF", "SafeTensors", "TensorCore", "DNDTestSupport"]),
        .testTarget(name: "DaemonTests", dependencies: ["Workspace", "Prompts", "Daemon", "DaemonTestSupport", "LoRA", "Pipeline", "TensorCore", "DNDTestSupport", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "DemoTests", dependencies: ["Workspace", "Prompts", "Demo", "Pipeline", "LLM", "Daemon", "DNDTestSupport"]),
        .testTarget(name: "DNDCLITests", dependencies: ["Workspace", "Prompts", "Daemon", "SafeTensors", "TensorCore", "LLM", "LoRA", "Pipeline", "DaemonTestSupport", "DNDTestSupport"]),
    ],
    swiftLanguageModes: [.v5]
)
