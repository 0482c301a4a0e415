#!/usr/bin/env bash
# Writes Sources/Manifest/BuiltinManifests.swift from manifests/*.yaml (the built-ins embedded in
# the binary). Run by `make builtins`; a test fails when the two disagree.
set -euo pipefail
cd "$(dirname "$0")/.."
out=Sources/Manifest/BuiltinManifests.swift
{
  echo "// Generated from manifests/*.yaml by tools/embed_manifests.sh (make builtins). Do not edit."
  echo "public enum BuiltinManifests {"
  echo "    /// (file name, YAML text) of every built-in manifest."
  echo "    public static let files: [(String, String)] = ["
  for f in manifests/*.yaml; do
    printf '        ("<builtin>/%s", #"""\n' "$(basename "$f")"
    cat "$f"
    printf '"""#),\n'
  done
  echo "    ]"
  echo "}"
} > "$out.tmp"
mv "$out.tmp" "$out"
