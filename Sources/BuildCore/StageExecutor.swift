/// Runs a stage somewhere other than in the building process (a Slurm job): the engine hands it
/// the stage, its action and its inputs' paths, and gets the outputs' bytes back, which it checks,
/// stores and records itself, so whatever happens to the job, no half entry reaches the cache.
public protocol StageExecutor: Sendable {
    /// Runs `stage` (whose action key is `action.key`) with `inputPaths`; returns every output by
    /// name, or throws a one-line error naming what failed. Polls `isCancelled` while it waits, and
    /// then stops the run and throws.
    func execute(_ stage: any Stage, action: ActionRecord, inputPaths: [String: String],
                 isCancelled: @escaping @Sendable () -> Bool) throws -> [String: [UInt8]]
}
