import BuildCore
import PTQ
import TensorFlowIO

/// dump(quantized model, data): vai_q's dump of every FixNeuron's integer values (and with
/// dump_float every node's float output) on the first batches of the build's calibration set.
/// Its outputs are a directory: one output per file, named `dump/<relative path>`.
struct DumpStage: TypedStage {
    /// 2: tensors over 8 bits dump as int16.
    static let identity = StageKind(name: "dump", version: 2)

    struct Settings: Encodable, Sendable, Equatable {
        /// batch_size, max_dump_batches, dump_float, naming.
        var request: QuantizeJob.Dump
        var archType: DPUTarget.ArchType
    }

    /// The directory every output name starts with.
    static let directory = "dump/"
    /// A listing of the dumped files (one per line), so the stage always has one declared output.
    static let listing = directory + "files.txt"

    let declaration: StageDeclaration<Settings>
    let outputNames = [Self.listing]
    let maxThreads = 1

    init(job: QuantizeJob, dump: QuantizeJob.Dump, quantize: QuantizeStage) {
        let id = StageID("dump/\(job.name)")
        let settings = Settings(request: dump, archType: job.target.archType)
        var inputs: [String: StageInput] = ["model": .output(quantize.id, QuantizeStage.evalModel)]
        for (node, source) in job.calibration.inputs { inputs[StageIO.dataPrefix + node] = source }
        declaration = StageDeclaration(id: id, settings: settings, inputs: inputs)
    }

    func run(_ context: StageContext) throws -> [String: [UInt8]] {
        let request = settings.request
        let batches = try StageIO.batches(context.inputPaths, batchSize: request.batchSize, iterations: request.maxDumpBatches)
        let options = Dumper.Options(maxBatches: request.maxDumpBatches, float: request.dumpFloat, naming: request.naming,
                                     narrowActivations: settings.archType == .dpucadf8h)
        let result = try Dumper.dump(try GraphDefIO.read(context.inputPaths["model"]!), batches: batches, options: options, path: "\(id)")
        var outputs = [Self.listing: Array(result.files.keys.sorted().map { "\($0)\n" }.joined().utf8)]
        for (name, bytes) in result.files { outputs[Self.directory + name] = bytes }
        return outputs
    }
}
