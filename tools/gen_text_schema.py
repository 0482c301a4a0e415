#!/usr/bin/env python3
"""Writes Sources/TensorFlowIO/TextFormatSchema.swift from Protos/tensorflow/*.proto.

TextFormatLocator reports `line:column` and what was expected when a `.pbtxt` file is malformed;
for that it needs each message's field names and kinds. They are read here from the .proto files,
so the table cannot drift from the messages SwiftProtobuf decodes (`make proto` runs this script
after protoc).

    python3 tools/gen_text_schema.py [--check]

`--check` writes nothing and exits 1 when the committed file differs from what the .proto files
generate. Stdlib only. The parser covers the subset Protos/ uses: messages and enums (nested too),
scalar, repeated, map<K, V> and oneof fields, field options, comments.
"""
import argparse
import difflib
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROTOS = "Protos/tensorflow/*.proto"
OUTPUT = "Sources/TensorFlowIO/TextFormatSchema.swift"

# Messages the locator checks for syntax only: they stay out of the table, and so do the messages
# reachable only through them. A field of such a type still names it (`.message("...")`).
SYNTAX_ONLY = {
    # Functions are carried through unchanged (the quantizer works on the top-level graph), so
    # the locator checks the library for syntax only.
    "tensorflow.FunctionDefLibrary",
}

# Proto scalar type -> FieldKind case.
SCALARS = {
    "string": "string", "bytes": "string",
    "int32": "int", "int64": "int", "sint32": "int", "sint64": "int", "sfixed32": "int", "sfixed64": "int",
    "uint32": "uint", "uint64": "uint", "fixed32": "uint", "fixed64": "uint",
    "float": "float", "double": "float",
    "bool": "bool",
}

WIDTH = 120

TOKEN = re.compile(r"""\s+|//[^\n]*|/\*.*?\*/|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|[\w.]+|.""", re.S)


class Message:
    def __init__(self, full_name):
        self.full_name = full_name
        self.fields = []   # (field name, type as written)


def tokens(text):
    return [t for t in TOKEN.findall(text) if not (t.isspace() or t.startswith(("//", "/*")))]


class ProtoParser:
    """Collects the messages and enums of one .proto file into `messages` and `enums` (by full name)."""

    def __init__(self, text, path, messages, enums):
        self.toks, self.i, self.path = tokens(text), 0, path
        self.messages, self.enums = messages, enums

    def take(self, expected=None):
        if self.i >= len(self.toks):
            sys.exit(f"{self.path}: unexpected end of file")
        tok = self.toks[self.i]
        if expected is not None and tok != expected:
            sys.exit(f"{self.path}: expected '{expected}', found '{tok}'")
        self.i += 1
        return tok

    def skip_statement(self):
        while self.take() != ";":
            pass

    def parse_file(self):
        package = ""
        while self.i < len(self.toks):
            tok = self.take()
            if tok == "package":
                package = self.take() + "."
                self.take(";")
            elif tok == "message":
                self.parse_message(package)
            elif tok == "enum":
                self.parse_enum(package)
            elif tok in ("syntax", "import", "option"):
                self.skip_statement()
            else:
                sys.exit(f"{self.path}: unexpected '{tok}' at the top level")

    def parse_message(self, scope):
        message = Message(scope + self.take())
        self.messages[message.full_name] = message
        self.take("{")
        self.parse_body(message)

    def parse_body(self, message):
        """Fields up to the closing '}'; a oneof's fields belong to the enclosing message."""
        while (tok := self.take()) != "}":
            if tok == "message":
                self.parse_message(message.full_name + ".")
            elif tok == "enum":
                self.parse_enum(message.full_name + ".")
            elif tok == "oneof":
                self.take()
                self.take("{")
                self.parse_body(message)
            elif tok in ("option", "reserved", "extensions"):
                self.skip_statement()
            elif tok == "map":
                self.parse_map(message)
            else:
                type_name = self.take() if tok in ("repeated", "optional", "required") else tok
                message.fields.append((self.take(), type_name))
                self.skip_statement()   # '= N', options, ';'

    def parse_map(self, message):
        """`map<K, V> name = N;` is a repeated message NameEntry {K key = 1; V value = 2;} nested in
        the message (protobuf's own convention, which text format follows)."""
        self.take("<")
        key = self.take()
        self.take(",")
        value = self.take()
        self.take(">")
        name = self.take()
        entry = Message(f"{message.full_name}.{camel(name)}Entry")
        entry.fields = [("key", key), ("value", value)]
        self.messages[entry.full_name] = entry
        message.fields.append((name, "." + entry.full_name))
        self.skip_statement()

    def parse_enum(self, scope):
        name = scope + self.take()
        self.take("{")
        values = []
        while (tok := self.take()) != "}":
            if tok not in ("option", "reserved"):
                values.append(tok)
            self.skip_statement()
        self.enums[name] = values


def camel(snake):
    return "".join(part[:1].upper() + part[1:] for part in snake.split("_"))


def short(full_name):
    return full_name.rsplit(".", 1)[-1]


def resolve(type_name, scope, known):
    """Protobuf's lookup: the innermost enclosing scope first, then outwards."""
    if type_name.startswith("."):
        return type_name[1:] if type_name[1:] in known else None
    parts = scope.split(".")
    for n in range(len(parts), -1, -1):
        candidate = ".".join(parts[:n] + [type_name])
        if candidate in known:
            return candidate
    return None


def field_types(messages, enums):
    """Full message name -> [(field name, scalar | ('message', full) | ('enum', full))]."""
    out = {}
    for full, message in messages.items():
        fields = []
        for name, type_name in message.fields:
            if type_name in SCALARS:
                fields.append((name, SCALARS[type_name]))
            elif target := resolve(type_name, full, messages.keys() | enums.keys()):
                fields.append((name, ("message" if target in messages else "enum", target)))
            else:
                sys.exit(f"{full}.{name}: unknown type '{type_name}'")
        out[full] = fields
    return out


def reach(types, starts, stop=frozenset()):
    """The messages reachable from `starts` through message fields, not entering `stop`."""
    seen, todo = set(), list(starts)
    while todo:
        full = todo.pop()
        if full not in seen and full not in stop:
            seen.add(full)
            todo += [kind[1] for _, kind in types[full] if isinstance(kind, tuple) and kind[0] == "message"]
    return seen


def listed_messages(types):
    """Every message except SYNTAX_ONLY and those only they reach."""
    if missing := SYNTAX_ONLY - set(types):
        sys.exit(f"SYNTAX_ONLY names messages the .proto files do not define: {sorted(missing)}")
    behind = reach(types, SYNTAX_ONLY)
    return reach(types, set(types) - behind, stop=SYNTAX_ONLY)


def swift_kind(kind, enum_names):
    if isinstance(kind, str):
        return "." + kind
    what, full = kind
    return f'.message("{short(full)}")' if what == "message" else enum_names[full]


def wrap(items, first, indent, last):
    """`first` + items joined by ', ' + `last`, broken into lines of at most WIDTH columns."""
    lines, line = [], first
    for n, item in enumerate(items):
        piece = item + (", " if n < len(items) - 1 else last)
        if len(line) + len(piece.rstrip()) > WIDTH and line != first:
            lines.append(line.rstrip())
            line = indent
        line += piece
    return lines + [line]


def generate():
    messages, enums = {}, {}
    for path in sorted(glob.glob(os.path.join(ROOT, PROTOS))):
        with open(path, encoding="utf-8") as f:
            ProtoParser(f.read(), os.path.relpath(path, ROOT), messages, enums).parse_file()
    types = field_types(messages, enums)
    listed = listed_messages(types)

    # The locator knows messages by their short name (nested ones too); two map fields of the same
    # name and types (`attr`) share one entry, anything else sharing a name is an error.
    table = {}
    used_enums = set()
    for full in sorted(listed):
        fields = dict(types[full])
        if short(full) in table and table[short(full)] != fields:
            sys.exit(f"two different messages are named {short(full)}; the locator cannot tell them apart")
        table[short(full)] = fields
        used_enums |= {kind[1] for kind in fields.values() if isinstance(kind, tuple) and kind[0] == "enum"}
    enum_names = {full: short(full)[:1].lower() + short(full)[1:] for full in used_enums}
    if len(set(enum_names.values())) < len(enum_names):
        sys.exit(f"two enums share a name: {sorted(enum_names)}")

    out = [
        "// Generated by tools/gen_text_schema.py from Protos/tensorflow/*.proto (`make proto` regenerates it).",
        "// Do not edit: change the .proto files (or the script) and regenerate.",
        "",
        "/// Field names and kinds of the messages in Protos/tensorflow/*.proto, for `TextFormatLocator`'s",
        "/// error positions. `FieldKind` is declared next to the locator.",
        "enum TextFormatSchema {",
    ]
    for full in sorted(used_enums, key=lambda f: enum_names[f]):
        # Values in .proto order, so the list reads like the enum it comes from.
        values = [f'"{v}"' for v in enums[full]]
        out.append(f'    static let {enum_names[full]} = FieldKind.enumeration("{short(full)}", [')
        out += wrap(values, " " * 8, " " * 8, "")
        out += ["    ])", ""]
    out += [
        "    /// Message name -> field name -> kind. Map fields appear as messages with `key` and `value`.",
        "    /// Absent on purpose (checked for syntax only): " + ", ".join(sorted(map(short, SYNTAX_ONLY))) + ".",
        "    static let messages: [String: [String: FieldKind]] = [",
    ]
    for name in sorted(table):
        first = f'        "{name}": ['
        fields = [f'"{field}": {swift_kind(kind, enum_names)}' for field, kind in sorted(table[name].items())]
        out += wrap(fields, first, " " * len(first), "],")
    out += ["    ]", "}"]
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed file is out of date")
    args = parser.parse_args()
    text = generate()
    path = os.path.join(ROOT, OUTPUT)
    if args.check:
        with open(path, encoding="utf-8") as f:
            committed = f.read()
        if committed != text:
            sys.stdout.writelines(difflib.unified_diff(committed.splitlines(True), text.splitlines(True),
                                                       OUTPUT + " (in the tree)", OUTPUT + " (generated)"))
            print(f"{OUTPUT} is out of date with {PROTOS}: run `make proto` (or python3 tools/gen_text_schema.py)")
            return 1
        return 0
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
