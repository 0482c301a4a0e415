import FileIO
import TFProto
import Tensors

/// Reads a TensorFlow 2 SavedModel natively and makes the frozen graph of one signature: the
/// signature's function call (and every call inside it) inlined into one GraphDef, each captured
/// variable a `Const` holding its value from `variables/variables.index|data-*`.
///
/// - The signature's inputs become `Placeholder`s named by their keys (`image`), its outputs
///   `Identity` nodes named by theirs (`output_0`), so manifests and flags name them as the
///   signature does; the function bodies keep their own node names (`functional_1/conv_1/...`),
///   a name already taken getting `_1`, `_2`, ... in the order nodes are reached.
/// - Function-body tensor names (`node:output_arg:index`, bare argument names) are resolved to
///   graph tensors through the ops' output arguments (`TFOp.outputIndex`); `Identity`/`IdentityN`
///   pass their inputs through; control inputs, `NoOp`s and nodes no output needs are dropped.
/// - A captured variable is found through the object graph: the signature's concrete function
///   lists the object ids it binds (`bound_inputs`, in the order of the call's trailing inputs);
///   object id i of the SavedObjectGraph is node i of the bundle's `_CHECKPOINTABLE_OBJECT_GRAPH`,
///   whose `VARIABLE_VALUE` attribute names the checkpoint key.
public enum SavedModelReader {
    /// One signature input: its key (the placeholder's name), dtype and shape (-1: any).
    public struct Port: Sendable, Equatable {
        public let key: String
        public let dtype: Tensorflow_DataType
        public let shape: [Int]?
    }

    public struct Result {
        public var graph: Tensorflow_GraphDef
        public var inputs: [Port]
        /// The output keys, sorted (each an `Identity` node of that name).
        public var outputs: [String]
        /// Checkpoint keys of the variables that became constants, in the order first read.
        public var variables: [String]
    }

    /// Nested calls deeper than this are refused (a hostile library could recurse forever).
    static let maxCallDepth = 64

    /// The files a SavedModel's frozen graph depends on (what a build hashes): saved_model.pb and
    /// the variables bundle's index and data shards.
    public static func files(directory: String) throws(TensorFlowIOError) -> [String] {
        let index = "\(directory)/variables/variables.index"
        guard FileIO.exists("\(directory)/saved_model.pb") else {
            throw .savedModel(path: directory, reason: "no saved_model.pb; expected a TensorFlow SavedModel directory")
        }
        guard FileIO.exists(index) else { return ["\(directory)/saved_model.pb"] }
        let reader = try CheckpointReader(prefix: "\(directory)/variables/variables")
        return ["\(directory)/saved_model.pb", index] + reader.shardPaths
    }

    /// The signature names of the SavedModel's serving meta graph, sorted.
    public static func signatures(directory: String) throws(TensorFlowIOError) -> [String] {
        try metaGraph(directory).signatureDef.keys.filter { !$0.hasPrefix("__") }.sorted()
    }

    /// The inputs and output keys of `signature`, without reading variables or functions.
    public static func signature(directory: String, name: String) throws(TensorFlowIOError) -> (inputs: [Port], outputs: [String]) {
        try signature(try metaGraph(directory), directory: directory, name: name)
    }

    static func signature(_ meta: Tensorflow_MetaGraphDef, directory: String, name: String) throws(TensorFlowIOError)
        -> (inputs: [Port], outputs: [String]) {
        guard let sig = meta.signatureDef[name] else {
            let names = meta.signatureDef.keys.filter { !$0.hasPrefix("__") }.sorted()
            throw .savedModel(path: directory, reason: "no signature '\(name)'" + (names.isEmpty ? " (it has none)" : "; it has: " + names.joined(separator: ", ")))
        }
        let inputs = sig.inputs.keys.sorted().map { key in
            let info = sig.inputs[key]!
            return Port(key: key, dtype: info.dtype,
                        shape: info.hasTensorShape && !info.tensorShape.unknownRank ? info.tensorShape.dim.map { Int($0.size) } : nil)
        }
        return (inputs, sig.outputs.keys.sorted())
    }

    /// The frozen graph of `signature`.
    public static func load(directory: String, signature: String = "serving_default") throws(TensorFlowIOError) -> Result {
        let meta = try metaGraph(directory)
        _ = try self.signature(meta, directory: directory, name: signature)
        let sig = meta.signatureDef[signature]!
        var inliner = Inliner(directory: directory, meta: meta)
        var result = Result(graph: Tensorflow_GraphDef(), inputs: [], outputs: [], variables: [])
        result.graph.versions = meta.graphDef.versions
        // Inputs: placeholders named by their keys.
        for key in sig.inputs.keys.sorted() {
            let info = sig.inputs[key]!
            let tensor = TensorName(info.name)
            guard case .name = info.encoding, let node = inliner.top[tensor.node] else {
                throw .savedModel(path: directory, reason: "signature '\(signature)': input '\(key)' names no node of the graph ('\(info.name)')")
            }
            let dims: [Int]? = info.hasTensorShape && !info.tensorShape.unknownRank ? info.tensorShape.dim.map { Int($0.size) } : nil
            let name = inliner.claim(key)
            guard name == key else {
                throw .savedModel(path: directory, reason: "signature '\(signature)': input key '\(key)' is used twice")
            }
            var placeholder = Tensorflow_NodeDef()
            placeholder.name = key
            placeholder.op = TFOp.placeholder.rawValue
            placeholder.attr["dtype"] = attrType(info.dtype)
            if info.hasTensorShape { var shape = Tensorflow_AttrValue(); shape.shape = info.tensorShape; placeholder.attr["shape"] = shape }
            inliner.nodes.append(placeholder)
            inliner.topValues[node.name] = [.tensor(key)]
            result.inputs.append(Port(key: key, dtype: info.dtype, shape: dims))
        }
        // Outputs: Identity nodes named by their keys, reading the inlined calls' results.
        for key in sig.outputs.keys.sorted() {
            let info = sig.outputs[key]!
            let value = try inliner.topLevel(TensorName(info.name), context: "signature '\(signature)': output '\(key)'")
            guard case .tensor(let source) = value else {
                throw .savedModel(path: directory, reason: "signature '\(signature)': output '\(key)' is a variable handle, not a tensor")
            }
            guard inliner.claim(key) == key else {
                throw .savedModel(path: directory, reason: "signature '\(signature)': output key '\(key)' is also the name of an input")
            }
            var identity = Tensorflow_NodeDef()
            identity.name = key
            identity.op = TFOp.identity.rawValue
            identity.input = [source]
            identity.attr["T"] = attrType(info.dtype)
            inliner.nodes.append(identity)
            result.outputs.append(key)
        }
        result.graph.node = inliner.nodes
        result.variables = inliner.variableOrder
        return result
    }

    static func metaGraph(_ directory: String) throws(TensorFlowIOError) -> Tensorflow_MetaGraphDef {
        let path = "\(directory)/saved_model.pb"
        guard FileIO.exists(path) else {
            throw .savedModel(path: directory, reason: "no saved_model.pb; expected a TensorFlow SavedModel directory")
        }
        let bytes: [UInt8]
        do { bytes = try FileIO.read(path) } catch { throw .file(error) }
        let model: Tensorflow_SavedModel
        do { model = try Tensorflow_SavedModel(serializedBytes: bytes) } catch {
            throw .savedModel(path: path, reason: "does not decode as a SavedModel (\(error))")
        }
        guard let meta = model.metaGraphs.first(where: { $0.metaInfoDef.tags.contains("serve") }) ?? model.metaGraphs.first else {
            throw .savedModel(path: path, reason: "holds no meta graph")
        }
        return meta
    }

    fileprivate static func attrType(_ dtype: Tensorflow_DataType) -> Tensorflow_AttrValue {
        var a = Tensorflow_AttrValue()
        a.type = dtype
        return a
    }
}

/// What a tensor of a function body is once inlined.
private enum Value: Equatable {
    /// A tensor of the output graph, `node` or `node:i`.
    case tensor(String)
    /// A captured variable's handle, by checkpoint key.
    case variable(String)
}

private struct Inliner {
    let directory: String
    let meta: Tensorflow_MetaGraphDef
    let top: [String: Tensorflow_NodeDef]
    let functions: [String: Tensorflow_FunctionDef]
    /// The output graph so far.
    var nodes: [Tensorflow_NodeDef] = []
    var taken: Set<String> = []
    /// Top-level node -> its outputs once inlined.
    var topValues: [String: [Value]] = [:]
    var variableOrder: [String] = []
    var variableNodes: [String: String] = [:]
    private var bundle: CheckpointReader?
    private var trackable: Tensorflow_TrackableObjectGraph?

    init(directory: String, meta: Tensorflow_MetaGraphDef) {
        self.directory = directory
        self.meta = meta
        var top: [String: Tensorflow_NodeDef] = [:]
        for node in meta.graphDef.node { top[node.name] = node }
        self.top = top
        var functions: [String: Tensorflow_FunctionDef] = [:]
        for f in meta.graphDef.library.function { functions[f.signature.name] = f }
        self.functions = functions
    }

    func failure(_ reason: String) -> TensorFlowIOError { .savedModel(path: directory, reason: reason) }

    /// `base` if no node has it yet, else `base_1`, `base_2`, ...; the name is then taken.
    mutating func claim(_ base: String) -> String {
        var name = base, k = 0
        while taken.contains(name) { k += 1; name = "\(base)_\(k)" }
        taken.insert(name)
        return name
    }

    /// A tensor of the top-level graph: a signature input's placeholder or a call's output.
    mutating func topLevel(_ tensor: TensorName, context: String) throws(TensorFlowIOError) -> Value {
        if let values = topValues[tensor.node] {
            guard tensor.outputIndex < values.count else { throw failure("\(context): '\(tensor)' has no output \(tensor.outputIndex)") }
            return values[tensor.outputIndex]
        }
        guard let node = top[tensor.node] else { throw failure("\(context): '\(tensor.node)' is not a node of the graph") }
        switch node.tfOp {
        case .statefulPartitionedCall?, .partitionedCall?:
            let name = node.attr["f"]?.func.name ?? ""
            let data = node.input.filter { !$0.hasPrefix("^") }
            let bound = meta.objectGraphDef.concreteFunctions[name]?.boundInputs ?? []
            guard bound.count <= data.count else { throw failure("\(context): call '\(node.name)' binds \(bound.count) variables but has \(data.count) inputs") }
            var args: [Value] = []
            for (i, input) in data.enumerated() {
                if i >= data.count - bound.count {
                    args.append(.variable(try checkpointKey(objectID: Int(bound[i - (data.count - bound.count)]), context: "call '\(node.name)'")))
                } else {
                    args.append(try topLevel(TensorName(input), context: "call '\(node.name)'"))
                }
            }
            topValues[node.name] = try inline(name, args: args, depth: 0, context: "call '\(node.name)'")
        case .identity?:
            guard let input = node.input.first(where: { !$0.hasPrefix("^") }) else { throw failure("\(context): '\(node.name)' has no input") }
            topValues[node.name] = [try topLevel(TensorName(input), context: context)]
        default:
            throw failure("\(context): '\(node.name)' is a \(node.op), not a function call or a signature input")
        }
        return try topLevel(tensor, context: context)
    }

    /// Inlines function `name` called with `args`; returns its outputs in `output_arg` order.
    mutating func inline(_ name: String, args: [Value], depth: Int, context: String) throws(TensorFlowIOError) -> [Value] {
        guard depth < SavedModelReader.maxCallDepth else { throw failure("\(context): calls nest deeper than \(SavedModelReader.maxCallDepth)") }
        guard let function = functions[name] else { throw failure("\(context): calls function '\(name)', which the library does not define") }
        let signature = function.signature
        guard signature.inputArg.count == args.count else {
            throw failure("function '\(name)' takes \(signature.inputArg.count) inputs but is called with \(args.count)")
        }
        var body = Body(function: function, args: Dictionary(zip(signature.inputArg.map(\.name), args), uniquingKeysWith: { a, _ in a }))
        var outputs: [Value] = []
        for arg in signature.outputArg {
            guard let ref = function.ret[arg.name] else { throw failure("function '\(name)': output '\(arg.name)' has no ret entry") }
            outputs.append(try resolve(ref, in: &body, depth: depth))
        }
        return outputs
    }

    /// One inlined call: its arguments, its nodes by name, and the values of those emitted so far.
    struct Body {
        let function: Tensorflow_FunctionDef
        let args: [String: Value]
        var byName: [String: Tensorflow_NodeDef] = [:]
        var values: [String: [Value]] = [:]
        var visiting: Set<String> = []

        init(function: Tensorflow_FunctionDef, args: [String: Value]) {
            self.function = function
            self.args = args
            for node in function.nodeDef { byName[node.name] = node }
        }
    }

    /// A body tensor reference (`arg`, `node:out_arg:i`, or `node`) as a value of the output graph.
    mutating func resolve(_ ref: String, in body: inout Body, depth: Int) throws(TensorFlowIOError) -> Value {
        let fname = body.function.signature.name
        let parts = ref.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        if parts.count == 1, let arg = body.args[ref] { return arg }
        let nodeName = parts[0]
        guard let node = body.byName[nodeName] else { throw failure("function '\(fname)': '\(ref)' names no node or argument") }
        let values = try emit(node, in: &body, depth: depth)
        var index = 0
        if parts.count == 3 {
            guard let i = Int(parts[2]), i >= 0 else { throw failure("function '\(fname)': bad tensor reference '\(ref)'") }
            guard let offset = node.tfOp.map({ $0.outputArgOffset(parts[1]) }) ?? 0 else {
                throw failure("function '\(fname)': node '\(nodeName)' (\(node.op)) has no output '\(parts[1])'")
            }
            index = offset + i
        } else if parts.count != 1 {
            throw failure("function '\(fname)': bad tensor reference '\(ref)'")
        }
        guard index < values.count else { throw failure("function '\(fname)': '\(ref)': node '\(nodeName)' has \(values.count) outputs") }
        return values[index]
    }

    /// The outputs of body node `node`, emitting it (and what it reads) into the output graph once.
    mutating func emit(_ node: Tensorflow_NodeDef, in body: inout Body, depth: Int) throws(TensorFlowIOError) -> [Value] {
        if let done = body.values[node.name] { return done }
        let fname = body.function.signature.name
        guard body.visiting.insert(node.name).inserted else { throw failure("function '\(fname)': node '\(node.name)' is part of a cycle") }
        defer { body.visiting.remove(node.name) }
        var inputs: [Value] = []
        for input in node.input where !input.hasPrefix("^") { inputs.append(try resolve(input, in: &body, depth: depth)) }
        let values: [Value]
        switch node.tfOp {
        case .statefulPartitionedCall?, .partitionedCall?:
            let callee = node.attr["f"]?.func.name ?? ""
            values = try inline(callee, args: inputs, depth: depth + 1, context: "function '\(fname)': call '\(node.name)'")
        case .identity?, .identityN?, .snapshot?, .stopGradient?:
            values = inputs
        case .readVariableOp?:
            guard inputs.count == 1, case .variable(let key) = inputs[0] else {
                throw failure("function '\(fname)': '\(node.name)' reads a variable that is not captured from the SavedModel")
            }
            values = [.tensor(try constant(key, dtype: node.attr["dtype"]?.type, context: "function '\(fname)': '\(node.name)'"))]
        default:
            var out = node
            out.name = claim(node.name)
            out.device = ""
            out.input = []
            for (i, value) in inputs.enumerated() {
                guard case .tensor(let tensor) = value else {
                    throw failure("function '\(fname)': '\(node.name)' (\(node.op)) takes a variable handle as input \(i); only ReadVariableOp may")
                }
                out.input.append(tensor)
            }
            for key in out.attr.keys where key.hasPrefix("_") { out.attr[key] = nil }
            nodes.append(out)
            let count = max(1, node.tfOp?.outputCount(out) ?? 1)
            values = (0..<count).map { .tensor($0 == 0 ? out.name : "\(out.name):\($0)") }
        }
        body.values[node.name] = values
        return values
    }

    /// The node holding variable `key`'s value (one `Const` per variable, however often it is read).
    mutating func constant(_ key: String, dtype: Tensorflow_DataType?, context: String) throws(TensorFlowIOError) -> String {
        if let name = variableNodes[key] { return name }
        let reader = try variables()
        let value: Tensor
        do { value = try reader.tensor(named: key) } catch {
            throw failure("\(context): variable '\(key)' cannot be read from variables/variables.index: \(error)")
        }
        if let dtype, dtype != .dtInvalid, Tensorflow_DataType(value.dtype) != dtype {
            throw failure("\(context): variable '\(key)' holds \(Tensorflow_DataType(value.dtype).tfName) but is read as \(dtype.tfName)")
        }
        // Named after the variable's object path (variables/3 -> variables_3/value).
        let stem = key.replacingOccurrences(of: "/.ATTRIBUTES/VARIABLE_VALUE", with: "").replacingOccurrences(of: "/", with: "_")
        var node = Tensorflow_NodeDef()
        node.name = claim("\(stem)/value")
        node.op = TFOp.const.rawValue
        node.attr["dtype"] = SavedModelReader.attrType(Tensorflow_DataType(value.dtype))
        var tensor = Tensorflow_AttrValue()
        tensor.tensor = TensorProtoCodec.encode(value)
        node.attr["value"] = tensor
        nodes.append(node)
        variableNodes[key] = node.name
        variableOrder.append(key)
        return node.name
    }

    mutating func variables() throws(TensorFlowIOError) -> CheckpointReader {
        if let bundle { return bundle }
        let prefix = "\(directory)/variables/variables"
        guard FileIO.exists(prefix + ".index") else { throw failure("no variables/variables.index, but the signature reads variables") }
        let reader = try CheckpointReader(prefix: prefix)
        bundle = reader
        return reader
    }

    /// The checkpoint key of object `objectID` (a variable) of the object graph.
    mutating func checkpointKey(objectID: Int, context: String) throws(TensorFlowIOError) -> String {
        let objects = meta.objectGraphDef.nodes
        guard objectID >= 0, objectID < objects.count else { throw failure("\(context): binds object \(objectID), which the object graph does not have") }
        guard case .variable? = objects[objectID].kind else {
            throw failure("\(context): binds object \(objectID), which is not a variable")
        }
        if trackable == nil {
            let reader = try variables()
            let elements = try reader.strings(named: "_CHECKPOINTABLE_OBJECT_GRAPH")
            guard elements.count == 1 else { throw failure("variables/variables.index: _CHECKPOINTABLE_OBJECT_GRAPH is not one string") }
            do { trackable = try Tensorflow_TrackableObjectGraph(serializedBytes: elements[0]) } catch {
                throw failure("variables/variables.index: _CHECKPOINTABLE_OBJECT_GRAPH does not decode (\(error))")
            }
        }
        let nodes = trackable!.nodes
        guard objectID < nodes.count, let key = nodes[objectID].attributes.first(where: { $0.name == "VARIABLE_VALUE" })?.checkpointKey else {
            throw failure("\(context): variable '\(objects[objectID].variable.name)' (object \(objectID)) has no value in variables/variables.index")
        }
        return key
    }
}
