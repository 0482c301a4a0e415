import BuildCore
import FileIO
import Foundation

/// The stage outcomes and times of a repository's builds (`build/.vaiq_build_log.json`, JSON:
/// `{"stages": {"<stage id>": {"outcome": "ran"|"cached"|"remote-hit"|"failed", "seconds": 0.12,
/// "remote": true}}}`). A cached stage keeps the time of its last real run, so the report shows
/// what each stage costs, and `remote` while its outputs are the ones downloaded from the remote
/// cache (`why` says so). Not hashed into anything; rewritten by temp file + rename after every build.
public struct BuildLog: Codable, Sendable {
    public struct Entry: Codable, Sendable {
        public var outcome: String
        public var seconds: Double?
        /// The stage's current outputs came from the remote cache (set by a remote hit, kept while
        /// it stays cached, cleared when it runs here).
        public var remote: Bool?
    }
    public var stages: [String: Entry] = [:]

    static func path(_ repo: String) -> String { FileIO.resolve("build/.vaiq_build_log.json", relativeTo: repo) }

    public static func load(_ repo: String) -> BuildLog {
        (try? FileIO.read(path(repo))).flatMap { try? JSONDecoder().decode(BuildLog.self, from: Data($0)) } ?? BuildLog()
    }

    /// Adds `report`'s outcomes to the repository's log.
    public static func record(_ report: BuildReport, repo: String) {
        var log = load(repo)
        for (id, outcome) in report.outcomes {
            let name: String
            switch outcome {
            case .ran: name = "ran"
            case .cached: name = "cached"
            case .fetched: name = "remote-hit"
            default: name = "failed"
            }
            let previous = log.stages[id.rawValue]
            let remote = name == "remote-hit" || (name == "cached" && previous?.remote == true)
            log.stages[id.rawValue] = Entry(outcome: name, seconds: name == "ran" ? report.seconds[id] : previous?.seconds,
                                            remote: remote ? true : nil)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        if let data = try? encoder.encode(log) {
            try? FileIO.createDirectories(FileIO.resolve("build", relativeTo: repo))
            try? FileIO.writeAtomically(Array(data), to: path(repo))
        }
    }
}
