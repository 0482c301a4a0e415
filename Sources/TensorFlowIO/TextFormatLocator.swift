/// Finds the first syntax or schema error in a protobuf text-format document and says where.
///
/// SwiftProtobuf decodes `.pbtxt` files but its errors carry no position. When a decode fails we
/// scan the text again with this small parser, which knows the text-format grammar and the field
/// names and kinds of the GraphDef messages (`TextFormatSchema`, generated from the .proto files),
/// to report `line:column` and what was expected. Messages outside the schema (e.g. the function
/// library) are checked for syntax only.
struct TextFormatLocator {
    struct Problem: Equatable {
        let line: Int
        let column: Int
        let message: String
    }

    private enum Token: Equatable {
        case identifier(String)
        case number(String)
        case string
        case punct(UInt8)
        case end
    }

    private let text: [UInt8]
    private var pos = 0
    private var line = 1
    private var lineStart = 0
    private var token: Token = .end
    private var tokenLine = 1
    private var tokenColumn = 1

    private struct Stop: Error { let problem: Problem }

    static func firstProblem(in text: [UInt8], rootMessage: String) -> Problem? {
        var scanner = TextFormatLocator(text: text)
        do throws(Stop) {
            try scanner.advance()
            try scanner.parseFields(of: rootMessage, closer: nil)
            return nil
        } catch {
            return error.problem
        }
    }

    private init(text: [UInt8]) { self.text = text }

    // MARK: grammar

    /// `field*` up to `closer` ('}' or '>') or the end of the text.
    private mutating func parseFields(of message: String?, closer: UInt8?) throws(Stop) {
        while true {
            switch token {
            case .end:
                if let closer { throw fail("expected '\(Character(UnicodeScalar(closer)))' before the end of the file") }
                return
            case .punct(let c) where c == closer:
                return
            case .identifier(let name):
                try parseField(name, in: message)
            case .punct(UInt8(ascii: "[")):
                throw fail("extension and Any fields ('[...]') are not supported in a GraphDef")
            default:
                throw fail("expected a field name, found \(describe(token))")
            }
        }
    }

    private mutating func parseField(_ name: String, in message: String?) throws(Stop) {
        let kind: TextFormatSchema.FieldKind?
        if let message, let fields = TextFormatSchema.messages[message] {
            guard let known = fields[name] else {
                let expected = fields.keys.sorted().joined(separator: ", ")
                throw fail("unknown field '\(name)' in \(message); expected one of: \(expected)")
            }
            kind = known
        } else {
            kind = nil   // outside the schema: syntax only
        }
        try advance()
        var sawColon = false
        if token == .punct(UInt8(ascii: ":")) {
            sawColon = true
            try advance()
        }
        if token == .punct(UInt8(ascii: "[")) {
            guard sawColon else { throw fail("expected ':' before '[' in field '\(name)'") }
            try advance()
            if token == .punct(UInt8(ascii: "]")) {
                try advance()
            } else {
                while true {
                    try parseValue(name, kind: kind)
                    if token == .punct(UInt8(ascii: ",")) { try advance(); continue }
                    guard token == .punct(UInt8(ascii: "]")) else { throw fail("expected ',' or ']' in the list of '\(name)', found \(describe(token))") }
                    try advance()
                    break
                }
            }
        } else {
            if !sawColon, !isMessageOpener(token) {
                throw fail("expected ':' or '{' after field name '\(name)', found \(describe(token))")
            }
            try parseValue(name, kind: kind)
        }
        if token == .punct(UInt8(ascii: ",")) || token == .punct(UInt8(ascii: ";")) { try advance() }
    }

    private func isMessageOpener(_ t: Token) -> Bool {
        t == .punct(UInt8(ascii: "{")) || t == .punct(UInt8(ascii: "<"))
    }

    private mutating func parseValue(_ name: String, kind: TextFormatSchema.FieldKind?) throws(Stop) {
        if case .punct(let open) = token, isMessageOpener(token) {
            var nested: String?
            if let kind {
                guard case .message(let type) = kind else {
                    throw fail("field '\(name)' holds a \(kind.noun), not a message; expected a value after ':'")
                }
                nested = type
            }
            let closer = open == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: ">")
            try advance()
            try parseFields(of: nested, closer: closer)
            try advance()   // past the closer
            return
        }
        if let kind, case .message(let type) = kind {
            throw fail("field '\(name)' is a \(type) message; expected '{', found \(describe(token))")
        }
        var negative = false
        if token == .punct(UInt8(ascii: "-")) {
            negative = true
            try advance()
        }
        switch token {
        case .number(let digits):
            if let kind { try check(number: digits, negative: negative, for: name, kind: kind) }
        case .identifier(let word):
            if let kind { try check(identifier: word, negative: negative, for: name, kind: kind) }
        case .string:
            if negative { throw fail("expected a number after '-', found a string") }
            if let kind, kind != .string { throw fail("field '\(name)' holds a \(kind.noun), found a string") }
            while token == .string { try advance() }   // adjacent strings concatenate
            return
        default:
            throw fail("expected a value for field '\(name)', found \(describe(token))")
        }
        try advance()
    }

    private func check(number: String, negative: Bool, for name: String, kind: TextFormatSchema.FieldKind) throws(Stop) {
        let isInteger = !number.contains(".") && !number.lowercased().contains("e") || number.hasPrefix("0x")
        switch kind {
        case .int, .enumeration:
            if !isInteger { throw fail("field '\(name)' holds an integer, found '\(number)'") }
        case .uint:
            if negative { throw fail("field '\(name)' holds an unsigned integer, found '-\(number)'") }
            if !isInteger { throw fail("field '\(name)' holds an integer, found '\(number)'") }
        case .bool:
            if number != "0" && number != "1" { throw fail("field '\(name)' holds a bool (true/false), found '\(number)'") }
        case .float:
            break
        case .string:
            throw fail("field '\(name)' holds a string (in quotes), found '\(number)'")
        case .message:
            break   // handled by the caller
        }
    }

    private func check(identifier word: String, negative: Bool, for name: String, kind: TextFormatSchema.FieldKind) throws(Stop) {
        switch kind {
        case .enumeration(let enumName, let values):
            if !values.contains(word) {
                throw fail("'\(word)' is not a \(enumName) value for field '\(name)'")
            }
        case .bool:
            if !["true", "false", "True", "False", "t", "f"].contains(word) {
                throw fail("field '\(name)' holds a bool (true/false), found '\(word)'")
            }
        case .float:
            if !["inf", "infinity", "nan", "Inf", "Infinity", "NaN"].contains(word) {
                throw fail("field '\(name)' holds a number, found '\(word)'")
            }
        case .string:
            throw fail("field '\(name)' holds a string (in quotes), found '\(word)'")
        default:
            throw fail("field '\(name)' holds a \(kind.noun), found '\(word)'")
        }
    }

    // MARK: tokens

    private func fail(_ message: String) -> Stop {
        Stop(problem: Problem(line: tokenLine, column: tokenColumn, message: message))
    }

    private func describe(_ t: Token) -> String {
        switch t {
        case .identifier(let s): "'\(s)'"
        case .number(let s): "'\(s)'"
        case .string: "a string"
        case .punct(let c): "'\(Character(UnicodeScalar(c)))'"
        case .end: "the end of the file"
        }
    }

    private mutating func advance() throws(Stop) {
        skipSpaceAndComments()
        tokenLine = line
        tokenColumn = pos - lineStart + 1
        guard pos < text.count else {
            token = .end
            return
        }
        let c = text[pos]
        if isIdentStart(c) {
            let start = pos
            while pos < text.count, isIdentStart(text[pos]) || isDigit(text[pos]) || text[pos] == UInt8(ascii: ".") { pos += 1 }
            token = .identifier(String(decoding: text[start..<pos], as: UTF8.self))
        } else if isDigit(c) || (c == UInt8(ascii: ".") && pos + 1 < text.count && isDigit(text[pos + 1])) {
            let start = pos
            while pos < text.count, isDigit(text[pos]) || isIdentStart(text[pos]) || text[pos] == UInt8(ascii: ".")
                || ((text[pos] == UInt8(ascii: "-") || text[pos] == UInt8(ascii: "+"))
                    && (text[pos - 1] == UInt8(ascii: "e") || text[pos - 1] == UInt8(ascii: "E"))) { pos += 1 }
            token = .number(String(decoding: text[start..<pos], as: UTF8.self))
        } else if c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") {
            try scanString(quote: c)
            token = .string
        } else if "{}<>[]:,;-".utf8.contains(c) {
            pos += 1
            token = .punct(c)
        } else {
            throw fail("unexpected character '\(Character(UnicodeScalar(c)))'")
        }
    }

    private mutating func scanString(quote: UInt8) throws(Stop) {
        pos += 1
        while pos < text.count {
            let c = text[pos]
            if c == quote { pos += 1; return }
            if c == UInt8(ascii: "\n") { throw fail("string not closed before the end of the line") }
            pos += c == UInt8(ascii: "\\") ? 2 : 1
        }
        throw fail("string not closed before the end of the file")
    }

    private mutating func skipSpaceAndComments() {
        while pos < text.count {
            let c = text[pos]
            if c == UInt8(ascii: "\n") {
                pos += 1
                line += 1
                lineStart = pos
            } else if c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") || c == UInt8(ascii: "\r") {
                pos += 1
            } else if c == UInt8(ascii: "#") {
                while pos < text.count, text[pos] != UInt8(ascii: "\n") { pos += 1 }
            } else {
                return
            }
        }
    }

    private func isIdentStart(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z")) || c == UInt8(ascii: "_")
    }

    private func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
}

// Hand-written, unlike the table it types: the wording of the locator's messages lives here.
extension TextFormatSchema {
    enum FieldKind: Equatable {
        case message(String)
        case string, int, uint, float, bool
        case enumeration(String, Set<String>)

        var noun: String {
            switch self {
            case .message(let m): "\(m) message"
            case .string: "string"
            case .int: "integer"
            case .uint: "unsigned integer"
            case .float: "number"
            case .bool: "bool"
            case .enumeration(let e, _): "\(e) value"
            }
        }
    }
}
