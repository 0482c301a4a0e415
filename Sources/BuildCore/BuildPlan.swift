/// The DAG of stages of one build: validated (unique ids, every input produced, no cycle) and
/// ordered. Cheap to construct: it only looks at ids and inputs, never runs or hashes anything.
public struct BuildPlan: Sendable {
    public let stages: [StageID: any Stage]
    /// Producers before consumers; ties broken by id, so the order is the same on every run.
    public let order: [StageID]
    /// Stage -> the stages it reads from.
    public let dependencies: [StageID: Set<StageID>]

    public enum Failure: Error, CustomStringConvertible, Equatable {
        case duplicateStage(StageID)
        case unknownProducer(stage: StageID, input: String, producer: StageID)
        case unknownOutput(stage: StageID, input: String, producer: StageID, output: String)
        case cycle([StageID])

        public var description: String {
            switch self {
            case .duplicateStage(let id):
                "two stages are both named '\(id)'"
            case let .unknownProducer(stage, input, producer):
                "stage '\(stage)': input '\(input)' reads stage '\(producer)', which is not part of the build"
            case let .unknownOutput(stage, input, producer, output):
                "stage '\(stage)': input '\(input)' reads output '\(output)' of '\(producer)', which has no such output"
            case .cycle(let path):
                "dependency cycle: " + path.map(\.rawValue).joined(separator: " -> ")
            }
        }
    }

    public init(_ list: [any Stage]) throws(Failure) {
        var stages: [StageID: any Stage] = [:]
        for stage in list {
            guard stages[stage.id] == nil else { throw .duplicateStage(stage.id) }
            stages[stage.id] = stage
        }
        var dependencies: [StageID: Set<StageID>] = [:]
        for stage in list {
            var deps = Set<StageID>()
            for (name, input) in stage.inputs.sorted(by: { $0.key < $1.key }) {
                guard case let .output(producer, output) = input else { continue }
                guard let p = stages[producer] else { throw .unknownProducer(stage: stage.id, input: name, producer: producer) }
                guard p.outputNames.contains(output) else {
                    throw .unknownOutput(stage: stage.id, input: name, producer: producer, output: output)
                }
                deps.insert(producer)
            }
            dependencies[stage.id] = deps
        }
        self.stages = stages
        self.dependencies = dependencies
        self.order = try BuildPlan.topologicalOrder(dependencies)
    }

    /// `targets` and everything they depend on.
    public func closure(of targets: [StageID]) -> Set<StageID> {
        var seen = Set<StageID>()
        var stack = targets
        while let id = stack.popLast() {
            guard seen.insert(id).inserted else { continue }
            stack.append(contentsOf: dependencies[id] ?? [])
        }
        return seen
    }

    private static func topologicalOrder(_ deps: [StageID: Set<StageID>]) throws(Failure) -> [StageID] {
        enum Mark { case visiting, done }
        var marks: [StageID: Mark] = [:]
        var order: [StageID] = []
        var path: [StageID] = []
        // Iterative DFS in sorted order: deterministic, and the path on the stack is the cycle.
        for root in deps.keys.sorted() where marks[root] == nil {
            var stack: [(StageID, [StageID])] = [(root, (deps[root] ?? []).sorted().reversed())]
            marks[root] = .visiting
            path.append(root)
            while !stack.isEmpty {
                let top = stack.count - 1
                if let next = stack[top].1.popLast() {
                    switch marks[next] {
                    case .done?: continue
                    case .visiting?:
                        let start = path.firstIndex(of: next)!
                        throw .cycle(Array(path[start...]) + [next])
                    case nil:
                        marks[next] = .visiting
                        path.append(next)
                        stack.append((next, (deps[next] ?? []).sorted().reversed()))
                    }
                } else {
                    let (id, _) = stack.removeLast()
                    marks[id] = .done
                    path.removeLast()
                    order.append(id)
                }
            }
        }
        return order
    }
}
