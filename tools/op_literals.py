#!/usr/bin/env python3
"""Counts TensorFlow op-name string literals in the Swift sources.

TensorFlow op knowledge lives in one table (Sources/TensorFlowIO/OpTable.swift, `enum TFOp`);
everything else uses its typed cases. This script finds string literals exactly equal to an op
name (the table's raw values plus a few names only tests and tools use) and prints a count per
file. `--check` exits 1, listing file:line, when one appears outside the files allowed below.

    python3 tools/op_literals.py [--check] [--sources DIR] [--table FILE]

Stdlib only; the Swift lexing is approximate: comments and multi-line strings are skipped.
"""
import argparse
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Files that may spell op names, relative to the repository root, with why.
ALLOWED = {
    "Sources/TensorFlowIO/OpTable.swift": "the op table itself: the names are its raw values",
    "Sources/TensorFlowIO/GraphImporter.swift": "GraphDef import: maps each TensorFlow name to a GraphIR op",
}

# Generated protobuf code: field names, not op names.
EXCLUDED_DIRS = {"Sources/TFProto"}

# Op names the code base meets outside the table (TensorFlow fixtures and tools), so a new
# literal of one is caught too.
EXTRA_NAMES = {"Swish", "Silu", "HardSigmoid"}

TABLE_CASE = re.compile(r'\b[a-z]\w*\s*=\s*"([A-Z][A-Za-z0-9]*)"')
STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def table_names(table_path):
    """Raw values of the enum cases in the op table (`case conv2D = "Conv2D"`)."""
    names = set()
    in_case = False
    with open(table_path, encoding="utf-8") as f:
        for line in f:
            code = line.split("//", 1)[0]
            stripped = code.strip()
            if stripped.startswith("case "):
                in_case = True
            if in_case:
                names.update(TABLE_CASE.findall(code))
                in_case = stripped.endswith(",")
    return names


def literals(path):
    """(line number, text) of every single-line string literal outside comments."""
    out = []
    closing = None  # inside /* ... */ or """ ... """: what ends it
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            i = 0
            while i < len(line):
                if closing:
                    end = line.find(closing, i)
                    if end < 0:
                        break
                    i, closing = end + len(closing), None
                    continue
                if line.startswith('"""', i) or line.startswith("/*", i):
                    closing = '"""' if line[i] == '"' else "*/"
                    i += len(closing)
                    continue
                if line.startswith("//", i):
                    break
                if line[i] == '"':
                    m = STRING.match(line, i)
                    if m:
                        out.append((number, m.group(1)))
                        i = m.end()
                        continue
                i += 1
    return out


def swift_files(sources):
    for directory, subdirs, files in os.walk(sources):
        subdirs.sort()
        rel = os.path.relpath(directory, os.path.dirname(sources))
        if any(rel == d or rel.startswith(d + os.sep) for d in EXCLUDED_DIRS):
            continue
        for name in sorted(files):
            if name.endswith(".swift"):
                yield os.path.join(directory, name)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a literal is outside the allowed files")
    parser.add_argument("--sources", default=os.path.join(ROOT, "Sources"), help="the Sources directory to scan")
    parser.add_argument("--table", default=os.path.join(ROOT, "Sources/TensorFlowIO/OpTable.swift"),
                        help="the op table whose raw values are the names")
    args = parser.parse_args()

    names = table_names(args.table) | EXTRA_NAMES
    if len(names) < 50:
        sys.exit(f"{args.table}: found only {len(names)} op names; is it the op table?")
    sources = os.path.abspath(args.sources)
    base = os.path.dirname(sources)
    allowed, other, offending = {}, {}, []
    for path in swift_files(sources):
        rel = os.path.relpath(path, base)
        hits = [(n, text) for n, text in literals(path) if text in names]
        if not hits:
            continue
        if rel in ALLOWED:
            allowed[rel] = len(hits)
        else:
            other[rel] = len(hits)
            offending += [f"{rel}:{n}: \"{text}\"" for n, text in hits]

    print(f"op-name literals ({len(names)} names) in {os.path.relpath(sources, os.getcwd())}:")
    for rel, count in sorted(other.items()):
        print(f"  {count:4d}  {rel}")
    print(f"  {sum(other.values()):4d}  total outside the allowed files")
    for rel, count in sorted(allowed.items()):
        print(f"  {count:4d}  {rel}  (allowed: {ALLOWED[rel]})")
    print(f"  {sum(allowed.values()):4d}  total in the allowed files")
    if args.check and offending:
        print("\nop names spelled outside the op table (use TFOp's cases):", file=sys.stderr)
        for line in offending:
            print("  " + line, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
