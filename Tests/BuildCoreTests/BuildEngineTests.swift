import BuildCore
import FileIO
import Foundation
import XCTest

final class BuildEngineTests: XCTestCase {
    private func repository(_ name: String = #function) throws -> FakeRepository {
        let repo = try FakeRepository(test: String(name.prefix(while: { $0 != "(" })))
        addTeardownBlock { repo.remove() }
        return repo
    }

    private func ran(_ report: BuildReport) -> [String] {
        report.outcomes.filter { if case .ran = $0.value { true } else { false } }.keys.map(\.rawValue).sorted()
    }

    /// Objects are written without fsync and checked when read: a damaged object that a stage
    /// would read is a miss: it moves to quarantine/, the stage that made it runs again in the same
    /// build (making the same bytes as before the damage), and the build succeeds, counting it.
    func testADamagedObjectIsAMissRepairedInTheSameBuild() throws {
        var repo = try repository()
        _ = try repo.build()
        let cache = try BuildCache(root: "\(repo.root)/cache")
        let calibrate = StageID("calibrate/digits")
        let digest = try XCTUnwrap(cache.lastRecord(of: calibrate)?.outputs["out"])
        let object = cache.objectPath(digest)
        var bytes = try FileIO.read(object)
        bytes[0] ^= 0x01
        try FileIO.writeAtomically(bytes, to: object)
        // A new weight bit width reruns w4a8's quantize stages, which read calibrate's output.
        repo.strategies["w4a8"] = 3
        let calibrations = repo.log.runs[calibrate] ?? 0
        let repaired = try repo.build()
        XCTAssertTrue(repaired.succeeded, "\(repaired.outcomes)")
        XCTAssertEqual(repaired.repaired, 1)
        // Both w4a8 quantize stages read it: the first to check it quarantines it and runs
        // calibrate again; the other then finds it checked.
        XCTAssertEqual(repo.log.runs[calibrate], calibrations + 1)
        XCTAssertEqual(try FileIO.read(object), bytes.enumerated().map { $0.offset == 0 ? $0.element ^ 0x01 : $0.element })
        XCTAssertEqual(try FileIO.read("\(cache.quarantinePath)/\(digest)"), bytes, "the damaged bytes are kept for inspection")
        let again = try repo.build()
        XCTAssertTrue(again.succeeded)
        XCTAssertEqual(again.ranCount, 0)
    }

    func testFirstBuildRunsEverythingAndSecondRunsNothing() throws {
        let repo = try repository()
        let first = try repo.build()
        XCTAssertTrue(first.succeeded)
        XCTAssertEqual(first.ranCount, 2 * (2 + 2 * 2 * 2))
        let second = try repo.build()
        XCTAssertTrue(second.succeeded)
        XCTAssertEqual(second.ranCount, 0)
        XCTAssertEqual(second.cachedCount, first.ranCount)
        XCTAssertEqual(repo.log.runs.values.reduce(0, +), first.ranCount, "no stage ran twice")
    }

    func testTouchingAFileWithoutChangingItRerunsNothing() throws {
        let repo = try repository()
        _ = try repo.build()
        // Rewrite with identical bytes: new mtime and inode, same content.
        try repo.write("models/digits/model.ckpt-1.data", "weights of digits v1")
        let report = try repo.build()
        XCTAssertEqual(ran(report), [])
    }

    func testChangingOneCheckpointRerunsOnlyThatModelsChain() throws {
        let repo = try repository()
        _ = try repo.build()
        try repo.write("models/faces/model.ckpt-1.data", "weights of faces v2")
        let report = try repo.build()
        XCTAssertTrue(ran(report).allSatisfy { $0.hasSuffix("/faces") || $0.contains("/faces/") }, "\(ran(report))")
        XCTAssertEqual(ran(report).count, 1 + 1 + 4 + 4)
        XCTAssertEqual(report.outcomes[StageID("freeze/faces")], .ran(reasons: ["input checkpoint changed (models/faces/model.ckpt-1.data)"]))
    }

    func testWeightBitReachesOnlyQuantizeAndDeployOfItsStrategy() throws {
        var repo = try repository()
        _ = try repo.build()
        repo.strategies["w4a8"] = 3
        let report = try repo.build()
        let expected = ["digits", "faces"].flatMap { m in
            ["DPUCADF8H", "DPUCZDX8G"].flatMap { t in ["deploy/\(m)/w4a8/\(t)", "quantize/\(m)/w4a8/\(t)"] }
        }.sorted()
        XCTAssertEqual(ran(report), expected)
        XCTAssertEqual(report.outcomes[StageID("quantize/digits/w4a8/DPUCZDX8G")],
                       .ran(reasons: ["parameter weight_bit changed from 4 to 3"]))
    }

    func testMatrixOf4x4CalibratesOncePerModel() throws {
        var repo = try repository()
        repo.strategies = ["a": 8, "b": 6, "c": 4, "d": 2]
        repo.targets = ["DPUCZDX8G", "DPUCAHX8H", "DPUCADF8H", "DPUCVDX8G"]
        let report = try repo.build()
        XCTAssertTrue(report.succeeded)
        XCTAssertEqual(repo.log.runs[StageID("calibrate/digits")], 1)
        XCTAssertEqual(repo.log.runs[StageID("calibrate/faces")], 1)
        XCTAssertEqual(repo.log.runs.filter { $0.key.rawValue.hasPrefix("quantize/") }.count, 2 * 16)
    }

    func testStagesSharingAKeyRunItOnceEvenWhenReadyTogether() throws {
        let repo = try repository()
        // Three cells whose quantize reads nothing that tells them apart (targets of one arch_type),
        // each followed by a stage that does differ; all three quantizes are ready at once.
        var stages: [any Stage] = []
        for target in ["DPUCZDX8G", "DPUCVDX8G", "DPUCV2DX8G"] {
            let quantize = StageID("quantize/\(target)")
            stages.append(FakeStage(id: quantize, kind: "quantize", parameters: ["arch_type": .string("DEFAULT")],
                                    inputs: ["data": .file("data/calib.npy")], sleep: 0.2, log: repo.log))
            stages.append(FakeStage(id: StageID("report/\(target)"), kind: "report", parameters: ["target": .string(target)],
                                    inputs: ["model": .output(quantize, "out")], log: repo.log))
        }
        let report = try repo.build(jobs: 3, stages: stages)
        XCTAssertTrue(report.succeeded)
        XCTAssertEqual(repo.log.runs.filter { $0.key.rawValue.hasPrefix("quantize/") }.values.reduce(0, +), 1)
        XCTAssertEqual(repo.log.runs.filter { $0.key.rawValue.hasPrefix("report/") }.count, 3)
        let quantizes = report.outcomes.filter { $0.key.rawValue.hasPrefix("quantize/") }.values
        XCTAssertEqual(quantizes.filter { $0 == .cached }.count, 2)
        XCTAssertEqual(Set(report.outputs.filter { $0.key.rawValue.hasPrefix("quantize/") }.values).count, 1)
        XCTAssertLessThanOrEqual(repo.log.peakThreads, 3)
    }

    func testOneAndTwoJobsGiveIdenticalOutputs() throws {
        let a = try repository("jobs1"), b = try repository("jobs2")
        let r1 = try a.build(jobs: 1), r2 = try b.build(jobs: 2)
        XCTAssertEqual(r1.outputs, r2.outputs)
        for (_, outputs) in r1.outputs {
            for digest in outputs.values {
                XCTAssertEqual(try FileIO.read("\(a.root)/cache/objects/\(digest.description.prefix(2))/\(digest)"),
                               try FileIO.read("\(b.root)/cache/objects/\(digest.description.prefix(2))/\(digest)"))
            }
        }
    }

    func testThreadBudgetNeverExceedsJobs() throws {
        let repo = try repository()
        _ = try repo.build(jobs: 2)
        XCTAssertLessThanOrEqual(repo.log.peakThreads, 2)
        let wide = try repository("wide")
        _ = try wide.build(jobs: 5)
        XCTAssertLessThanOrEqual(wide.log.peakThreads, 5)
    }

    func testEarlyCutoffWhenAnUpstreamRerunReproducesTheSameBytes() throws {
        let repo = try repository()
        var stages = repo.stages()
        _ = try repo.build(stages: stages)
        // freeze gets a new parameter that does not change what it writes.
        stages = stages.map { stage in
            guard var fake = stage as? FakeStage, fake.kind == "freeze" else { return stage }
            fake.parameters["log_level"] = .int(3)
            fake.inertParameters = ["log_level"]
            return fake
        }
        let report = try repo.build(stages: stages)
        XCTAssertEqual(ran(report), ["freeze/digits", "freeze/faces"])
        XCTAssertEqual(report.outcomes[StageID("calibrate/digits")], .cached)
    }

    func testFailureSkipsDependentsAndKeepGoingBuildsTheRest() throws {
        var repo = try repository()
        repo.failing = ["calibrate/faces"]
        let stop = try repo.build(jobs: 1)
        XCTAssertFalse(stop.succeeded)
        XCTAssertEqual(stop.outcomes[StageID("calibrate/faces")], .failed(message: "stage 'calibrate/faces' (calibrate): deliberate failure"))
        XCTAssertEqual(stop.outcomes[StageID("deploy/faces/w4a8/DPUCZDX8G")], .skipped(reason: "'calibrate/faces' failed"))

        let keepGoing = try repo.build(jobs: 1, keepGoing: true)
        XCTAssertFalse(keepGoing.succeeded)
        XCTAssertTrue(keepGoing.outcomes[StageID("deploy/digits/w4a8/DPUCZDX8G")]!.isSuccess)
        XCTAssertEqual(keepGoing.outcomes.filter { if case .skipped = $0.value { true } else { false } }.count, 8)
    }

    func testDryRunRunsNothingAndSaysWhy() throws {
        var repo = try repository()
        _ = try repo.build()
        repo.calibBatch = 20
        let report = try repo.build(dryRun: true)
        XCTAssertEqual(repo.log.runs.values.reduce(0, +), 20, "only the first build ran stages")
        XCTAssertEqual(report.outcomes[StageID("calibrate/digits")], .wouldRun(reasons: ["parameter batch_size changed from 10 to 20"]))
        XCTAssertEqual(report.outcomes[StageID("quantize/digits/w4a8/DPUCZDX8G")],
                       .wouldRun(reasons: ["input stats comes from 'calibrate/digits', which would run"]))
        XCTAssertEqual(report.outcomes[StageID("freeze/digits")], .cached)
    }

    func testCycleAndDuplicateAndDanglingInputsAreReportedWithTheirPath() throws {
        let log = RunLog()
        let a = FakeStage(id: StageID("a"), kind: "k", inputs: ["x": .output(StageID("c"), "out")], log: log)
        let b = FakeStage(id: StageID("b"), kind: "k", inputs: ["x": .output(StageID("a"), "out")], log: log)
        let c = FakeStage(id: StageID("c"), kind: "k", inputs: ["x": .output(StageID("b"), "out")], log: log)
        XCTAssertThrowsError(try BuildPlan([a, b, c])) { XCTAssertEqual("\($0)", "dependency cycle: a -> c -> b -> a") }
        XCTAssertThrowsError(try BuildPlan([a, a])) { XCTAssertEqual("\($0)", "two stages are both named 'a'") }
        XCTAssertThrowsError(try BuildPlan([a])) {
            XCTAssertEqual("\($0)", "stage 'a': input 'x' reads stage 'c', which is not part of the build")
        }
        let d = FakeStage(id: StageID("d"), kind: "k", inputs: ["x": .output(StageID("e"), "nope")], log: log)
        let e = FakeStage(id: StageID("e"), kind: "k", log: log)
        XCTAssertThrowsError(try BuildPlan([d, e])) {
            XCTAssertEqual("\($0)", "stage 'd': input 'x' reads output 'nope' of 'e', which has no such output")
        }
    }

    func testStageVersionBumpAndMissingInputFile() throws {
        let repo = try repository()
        var stages = repo.stages()
        _ = try repo.build(stages: stages)
        stages = stages.map { stage in
            guard var fake = stage as? FakeStage, fake.id.rawValue == "freeze/digits" else { return stage }
            fake.version = 2
            return fake
        }
        let report = try repo.build(stages: stages)
        XCTAssertEqual(report.outcomes[StageID("freeze/digits")], .ran(reasons: ["stage version changed from 1 to 2"]))
        try FileManager.default.removeItem(atPath: "\(repo.root)/data/calib.npy")
        let missing = try repo.build(keepGoing: true, stages: stages)
        XCTAssertEqual(missing.outcomes[StageID("calibrate/digits")],
                       .failed(message: "stage 'calibrate/digits': input 'data': \(repo.root)/data/calib.npy: cannot stat: No such file or directory"))
    }

    func testNoOpBuildHashesNoFile() throws {
        let repo = try repository()
        _ = try repo.build()
        let cache = try BuildCache(root: "\(repo.root)/cache")
        let stat = StatCache(path: "\(repo.root)/cache/stat")
        let plan = try BuildPlan(repo.stages())
        // Files were written just now (inside the racy window), so age them first.
        for file in ["models/digits/graph.pb", "models/digits/model.ckpt-1.data", "models/faces/graph.pb",
                     "models/faces/model.ckpt-1.data", "data/calib.npy"] {
            var times = [timespec(tv_sec: 1_600_000_000, tv_nsec: 0), timespec(tv_sec: 1_600_000_000, tv_nsec: 0)]
            utimensat(AT_FDCWD, "\(repo.root)/\(file)", &times, 0)
        }
        _ = BuildEngine(plan: plan, cache: cache, statCache: stat, root: repo.root).build(plan.order, options: BuildOptions(jobs: 2))
        try stat.save()
        let again = StatCache(path: "\(repo.root)/cache/stat")
        let report = BuildEngine(plan: plan, cache: cache, statCache: again, root: repo.root).build(plan.order, options: BuildOptions(jobs: 2))
        XCTAssertEqual(report.ranCount, 0)
        XCTAssertEqual(again.hashedCount, 0)
    }

    func testOutputsStoredWhileRunningCountAsReturnedOnes() throws {
        let repo = try repository()
        let cache = try BuildCache(root: "\(repo.root)/cache")
        func outputs(storedEarly: Set<String>) throws -> [String: ContentDigest]? {
            let stage = FakeStage(id: StageID("qat/digits"), kind: "qat", version: storedEarly.count, outputNames: ["a", "b", "c"],
                                  storedEarly: storedEarly, log: repo.log)
            let plan = try BuildPlan([stage])
            let report = BuildEngine(plan: plan, cache: cache, statCache: StatCache(path: "\(repo.root)/cache/stat"), root: repo.root)
                .build(plan.order, options: BuildOptions(jobs: 1))
            XCTAssertEqual(report.ranCount, 1)
            return report.outputs[stage.id]
        }
        let returned = try outputs(storedEarly: [])
        XCTAssertEqual(returned?.count, 3)
        XCTAssertEqual(try outputs(storedEarly: ["a", "c"]), returned)
        XCTAssertEqual(try outputs(storedEarly: ["a", "b", "c"]), returned)
        for digest in try XCTUnwrap(returned).values { XCTAssertTrue(cache.hasObject(digest)) }
    }
}
