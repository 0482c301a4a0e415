import FileIO
import Foundation
import XCTest

/// `vaiq-build all --executor slurm` on a real single-node Slurm (slurmctld, slurmd and munged
/// started by tools/start_slurm.sh for this class, stopped by tools/stop_slurm.sh). They need the
/// daemons, so they run under `make test-cluster` (VAIQ_TEST_CLUSTER=1), which `make test` and CI run.
final class SlurmBuildTests: XCTestCase {
    nonisolated(unsafe) static var clusterDirectory = ""
    nonisolated(unsafe) static var slurmConf: String?
    nonisolated(unsafe) static var startFailure = ""

    override class func setUp() {
        super.setUp()
        guard ProcessInfo.processInfo.environment["VAIQ_TEST_CLUSTER"] == "1" else { return }
        clusterDirectory = NSTemporaryDirectory() + "vaiq-slurm-\(UUID().uuidString.prefix(8))"
        let run = RemoteBuildTests.script("start_slurm.sh", clusterDirectory)
        let conf = run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        if run.status == 0, conf.hasSuffix("slurm.conf") { slurmConf = conf } else {
            startFailure = "tools/start_slurm.sh failed (\(run.status)): \(run.stderr)"
        }
    }

    override class func tearDown() {
        if !clusterDirectory.isEmpty {
            let run = RemoteBuildTests.script("stop_slurm.sh", clusterDirectory)
            if run.status != 0 { print("tools/stop_slurm.sh failed (\(run.status)): \(run.stderr)") }
            try? FileManager.default.removeItem(atPath: clusterDirectory)
        }
        super.tearDown()
    }

    private var scratch = ""

    override func setUpWithError() throws {
        guard ProcessInfo.processInfo.environment["VAIQ_TEST_CLUSTER"] == "1" else {
            throw XCTSkip("needs a local Slurm: run `make test-cluster`")
        }
        _ = try XCTUnwrap(Self.slurmConf, Self.startFailure)
        scratch = NSTemporaryDirectory() + "vaiq-slurm-build-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { if !scratch.isEmpty { try? FileManager.default.removeItem(atPath: scratch) } }

    private var environment: [String: String] { ["SLURM_CONF": Self.slurmConf ?? "", "CI": "true"] }

    private func clone(_ name: String) throws -> String { try cloneExample("digits", to: "\(scratch)/\(name)") }

    private func outputs(_ repo: String) throws -> [String: Data] { try placedOutputs(repo) }

    private func squeue() throws -> [(id: String, state: String, name: String)] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["squeue", "--noheader", "--format", "%i %T %j"]
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ", maxSplits: 2).map(String.init)
            return f.count == 3 ? (f[0], f[1], f[2]) : nil
        }
    }

    func testTheDigitsMatrixThroughSlurmIsByteIdenticalToALocalBuild() throws {
        let local = try clone("local")
        let l = try CLITests.run(["all", "-C", local, "-j2"], environment: ["CI": "true"])
        XCTAssertEqual(l.status, 0, l.stderr)

        let cluster = try clone("cluster")
        let c = try CLITests.run(["all", "-C", cluster, "--executor", "slurm", "-j4", "--json"], environment: environment)
        XCTAssertEqual(c.status, 0, c.stderr)
        XCTAssertEqual(c.stderr, "")
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(c.stdout.utf8)) as? [String: Any])
        XCTAssertGreaterThan(json["ran"] as? Int ?? 0, 40)
        // Every stage that ran did so as a job.
        let stages = try XCTUnwrap(json["stages"] as? [[String: Any]])
        for stage in stages where stage["outcome"] as? String == "ran" {
            XCTAssertNotNil((stage["phases"] as? [String: Double])?["job"], "\(stage["id"] ?? "?") did not run as a job")
        }
        XCTAssertEqual(try outputs(local), try outputs(cluster))
        XCTAssertGreaterThan(try outputs(cluster).count, 100)
        // Nothing of the jobs is left: their folders are removed once their outputs are stored.
        XCTAssertEqual((try? FileManager.default.contentsOfDirectory(atPath: "\(cluster)/cache/jobs")) ?? [], [])
        // A second run is a no-op.
        let again = try CLITests.run(["all", "-C", cluster, "--executor", "slurm"], environment: environment)
        XCTAssertTrue(again.stdout.hasPrefix("vaiq-build: nothing to do"), again.stdout)
    }

    func testAJobCancelledMidRunIsSubmittedAgainAndTheBuildSucceeds() throws {
        let local = try clone("local")
        XCTAssertEqual(try CLITests.run(["all", "-C", local, "-j2", "digits/pof2s/*"], environment: ["CI": "true"]).status, 0)
        var cancelled: String?
        var stderr = ""
        var cluster = ""
        // A job can finish between squeue seeing it and scancel: then the build is tried afresh.
        for attempt in 1...4 where cancelled == nil {
            cluster = try clone("cluster-\(attempt)")
            let p = Process()
            p.executableURL = URL(fileURLWithPath: CLITests.binary)
            p.arguments = ["all", "-C", cluster, "--executor", "slurm", "-j2", "digits/pof2s/*"]
            p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            let err = Pipe()
            p.standardOutput = FileHandle.nullDevice
            p.standardError = err
            let collected = Collected(Data())
            err.fileHandleForReading.readabilityHandler = { handle in
                let chunk = handle.availableData
                collected.update { $0.append(chunk) }
            }
            try p.run()
            // The first calibration job seen running is cancelled.
            let deadline = Date().addingTimeInterval(120)
            while p.isRunning, cancelled == nil, Date() < deadline {
                if let job = try squeue().first(where: { $0.state == "RUNNING" && $0.name.contains("calibrate/") }) {
                    let s = Process()
                    s.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                    s.arguments = ["scancel", job.id]
                    s.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
                    try s.run()
                    s.waitUntilExit()
                    cancelled = job.id
                }
                usleep(20_000)
            }
            p.waitUntilExit()
            err.fileHandleForReading.readabilityHandler = nil
            stderr = String(decoding: collected.value + err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            XCTAssertEqual(p.terminationStatus, 0, stderr)
            if cancelled != nil && !stderr.contains("submitting it again") { cancelled = nil }
            if let cancelled { print("cancelled Slurm job \(cancelled) on attempt \(attempt)") }
        }
        let job = try XCTUnwrap(cancelled, "never caught a calibration job running")
        let warnings = stderr.split(separator: "\n")
        XCTAssertEqual(warnings.count, 1, stderr)
        XCTAssertTrue(warnings[0].hasPrefix("warning: stage 'calibrate/digits/"), stderr)
        XCTAssertTrue(warnings[0].contains("Slurm job \(job) ended CANCELLED"), stderr)
        XCTAssertTrue(warnings[0].hasSuffix("; submitting it again"), stderr)
        XCTAssertEqual(try outputs(local), try outputs(cluster))
    }

    func testAJobThatFailsTwiceNamesItsJobAndLog() throws {
        let repo = try clone("broken")
        // A calibration file that is not an array: the job fails, and fails again.
        try Data("not npy".utf8).write(to: URL(fileURLWithPath: "\(repo)/data/calib.npy"))
        // That cell alone: one calibration (`all` would also build the float-scale cells' own).
        let r = try CLITests.run(["build", "-C", repo, "--executor", "slurm", "digits/pof2s/DPUCZDX8G"], environment: environment)
        XCTAssertEqual(r.status, 1, r.stderr)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, r.stderr)
        XCTAssertTrue(r.stdout.contains("FAILED calibrate/digits/"), r.stdout)
        XCTAssertTrue(lines[0].contains("submitting it again"), r.stderr)
        XCTAssertTrue(r.stdout.contains("ended FAILED (exit code 1:0)"), r.stdout)
        XCTAssertTrue(r.stdout.contains("its log ends: error: "), r.stdout)
        XCTAssertTrue(r.stdout.contains("(twice; its files are in "), r.stdout)
        // The failed job's folder is kept for a look, and `cache gc` removes it.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: "\(repo)/cache/jobs").count, 1)
        let gc = try CLITests.run(["cache", "gc", "--max-size", "100G", "-C", repo])
        XCTAssertEqual(gc.status, 0, gc.stderr)
        XCTAssertTrue(gc.stdout.contains("1 failed jobs' folders"), gc.stdout)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: "\(repo)/cache/jobs"), [])
    }

    func testAPartitionSlurmDoesNotHaveIsOneErrorLine() throws {
        let repo = try clone("partition")
        try "settings: {executor: slurm, slurm: {partition: nosuch}}\n".write(toFile: "\(repo)/manifests/cluster.yaml", atomically: true, encoding: .utf8)
        let r = try CLITests.run(["all", "-C", repo], environment: environment)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.hasPrefix("error: --executor slurm: sinfo found no usable node in partition 'nosuch'"), r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(repo)/build"))
    }
}
