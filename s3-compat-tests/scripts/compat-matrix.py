#!/usr/bin/env python3
"""Renders docs/s3-compatibility.md from s3-compat-tests/compat-matrix.toml and checks
it against the results of the tests that back it.

    compat-matrix.py --write
        rewrites the generated tables of docs/s3-compatibility.md.
    compat-matrix.py --check --cargo-log LOG --client-results RESULTS
        fails when the committed document differs from what --write would produce, when
        a "supported" or "partial" row names no test, or when a test a row names did not
        run and pass: in LOG (the output of `cargo test --workspace`) or in RESULTS (the
        "client/step pass|fail" lines of run-clients.sh, FOLIO_COMPAT_RESULTS).

A test is named `binary::path::to::test` for Rust (`s3_api::bucket_lifecycle_and_errors`,
`folio_s3::auth::tests::aws_sigv2_examples_match`) and `client/step` for the client
scripts (`awscli/cp-100MiB-multipart`). Standard library only (Python 3.11+).
"""

import argparse
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MATRIX = ROOT / "s3-compat-tests" / "compat-matrix.toml"
DOC = ROOT / "docs" / "s3-compatibility.md"
BEGIN = "<!-- BEGIN GENERATED from s3-compat-tests/compat-matrix.toml: do not edit -->"
END = "<!-- END GENERATED -->"
STATUSES = {"supported": "✅ supported", "partial": "🟡 partial", "no": "❌ not supported"}


def load():
    with open(MATRIX, "rb") as f:
        matrix = tomllib.load(f)
    problems = []
    for row in matrix["row"]:
        if row["status"] not in STATUSES:
            problems.append(f"{row['name']}: unknown status {row['status']!r}")
        if row["status"] in ("supported", "partial") and not row.get("tests"):
            problems.append(f"{row['name']}: a {row['status']} row names no test")
    return matrix, problems


def cell(text):
    return text.replace("|", "\\|").replace("\n", " ").strip()


def render(matrix):
    out = [BEGIN, ""]
    sections = []
    for row in matrix["row"]:
        if row["section"] not in sections:
            sections.append(row["section"])
    counts = {s: 0 for s in STATUSES}
    for row in matrix["row"]:
        counts[row["status"]] += 1
    out.append(
        f"{len(matrix['row'])} rows: {counts['supported']} supported, "
        f"{counts['partial']} partial, {counts['no']} not supported."
    )
    out.append("")
    for section in sections:
        out += [f"### {section}", "", "| Operation or feature | Status | Tests | Notes |", "|---|---|---|---|"]
        for row in matrix["row"]:
            if row["section"] != section:
                continue
            tests = "<br>".join(f"`{t}`" for t in row.get("tests", [])) or "—"
            out.append(
                f"| {cell(row['name'])} | {STATUSES[row['status']]} | {tests} | {cell(row.get('notes', ''))} |"
            )
        out.append("")
    out.append(END)
    return "\n".join(out)


def rendered_doc(matrix):
    text = DOC.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{DOC} lacks the generated-section markers")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return text, head + render(matrix) + tail


def cargo_results(log_path):
    """{test id: "ok" | "FAILED" | "ignored"} from `cargo test` output."""
    results, binary = {}, None
    running = re.compile(r"^\s*Running .*\(.*?/deps/([A-Za-z0-9_]+)-[0-9a-f]+(?:\.exe)?\)")
    test = re.compile(r"^test (\S+) \.\.\. (ok|FAILED|ignored)")
    for line in Path(log_path).read_text(errors="replace").splitlines():
        if m := running.match(line):
            binary = m.group(1)
        elif line.lstrip().startswith("Doc-tests"):
            binary = None
        elif binary and (m := test.match(line)):
            results[f"{binary}::{m.group(1)}"] = m.group(2)
    return results


def client_results(path):
    results = {}
    for line in Path(path).read_text().splitlines():
        name, _, outcome = line.rpartition(" ")
        results[name] = outcome
    return results


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--cargo-log")
    parser.add_argument("--client-results")
    args = parser.parse_args()
    matrix, problems = load()
    current, wanted = rendered_doc(matrix)
    if args.write:
        DOC.write_text(wanted)
        print(f"wrote {DOC}")
    if args.check:
        if current != wanted:
            problems.append(
                f"{DOC.relative_to(ROOT)} differs from {MATRIX.relative_to(ROOT)}: "
                "run s3-compat-tests/scripts/compat-matrix.py --write and commit it"
            )
        rust = cargo_results(args.cargo_log) if args.cargo_log else None
        clients = client_results(args.client_results) if args.client_results else None
        checked = 0
        for row in matrix["row"]:
            for t in row.get("tests", []):
                if "/" in t and "::" not in t:
                    results, kind = clients, "client step"
                    outcome_ok = "pass"
                else:
                    results, kind = rust, "Rust test"
                    outcome_ok = "ok"
                if results is None:
                    problems.append(f"{row['name']}: no results given for {kind} {t}")
                    continue
                outcome = results.get(t)
                checked += 1
                if outcome != outcome_ok:
                    problems.append(
                        f"{row['name']}: {kind} {t} "
                        + ("did not run" if outcome is None else f"is {outcome}")
                    )
        print(f"compat matrix: {len(matrix['row'])} rows, {checked} test references checked")
    for p in problems:
        print(f"compat matrix: {p}", file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
