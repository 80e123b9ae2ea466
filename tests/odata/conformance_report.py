"""Write the conformance table of docs/conformance.md from the external cases.

Run from the repository root: ``.venv/bin/python -m tests.odata.conformance_report`` (prints the
Markdown; ``--write`` replaces the generated part of docs/conformance.md).
"""
from __future__ import annotations

import collections
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import test_conformance as tc  # noqa: E402

from proseo_odata.odata import ODataError, ODataNotSupportedError  # noqa: E402

BEGIN = "<!-- BEGIN GENERATED: python -m tests.odata.conformance_report --write -->"
END = "<!-- END GENERATED -->"


def _passes(run, case) -> bool:
    try:
        run(case)
    except ODataNotSupportedError:
        # a valid form read to the ABNF and then refused as not served (parse_expand)
        return case.get("id") in tc.EXPAND_NOT_SERVED
    except ODataError:
        return not case["valid"]
    return bool(case["valid"])


def report() -> str:
    abnf = tc._load("odata_abnf_cases.json")
    query = tc._load("odata_query_cases.json")
    rows = collections.OrderedDict()
    for case in abnf:
        rule = case["rule"]
        key = rule.lower()
        row = rows.setdefault(key, {"rule": rule, "cases": 0, "pass": 0, "unsupported": 0, "note": ""})
        row["cases"] += 1
        if not tc.is_implemented(case):
            row["note"] = "not run: " + tc.NOT_IMPLEMENTED_RULES.get(key, "rule not implemented")
            continue
        if _passes(tc.run_case, case):
            row["pass"] += 1
            if case["id"] in tc.EXPAND_NOT_SERVED:
                row["not_served"] = row.get("not_served", 0) + 1
                row["note"] = f"{row['not_served']} valid forms read, then refused as not served (`parse_expand`)"
        elif case["id"] in tc.UNSUPPORTED:
            row["unsupported"] += 1
    out = ["| rule | cases | pass | unsupported (listed below) | note |", "|---|---|---|---|---|"]
    total = [0, 0, 0]
    for row in sorted(rows.values(), key=lambda r: r["rule"].lower()):
        out.append(f"| `{row['rule']}` | {row['cases']} | {row['pass']} | {row['unsupported']} | {row['note']} |")
        if not row["note"].startswith("not run"):
            total[0] += row["cases"]
            total[1] += row["pass"]
            total[2] += row["unsupported"]
    out.append(f"| **run in total** | {total[0]} | {total[1]} | {total[2]} | |")
    q_run = [c for c in query if c.get("start_symbol") != "tokenizer"]
    q_pass = sum(_passes(tc.run_query_case, c) for c in q_run)
    q_uns = sum(1 for c in q_run if c["name"] in tc.UNSUPPORTED_QUERY and not _passes(tc.run_query_case, c))
    out += ["", "odata-query inputs (`odata_query_cases.json`, start symbol `tokenizer` skipped):", "",
            "| cases run | pass | unsupported (listed below) |", "|---|---|---|",
            f"| {len(q_run)} | {q_pass} | {q_uns} |", "",
            "### Unsupported OASIS cases", "", "| id | input | reason |", "|---|---|---|"]
    by_id = {c["id"]: c for c in abnf}
    for cid, reason in sorted(tc.UNSUPPORTED.items()):
        text = by_id[cid]["input"].replace("|", "\\|")
        out.append(f"| {cid} | `{text}` | {reason} |")
    out += ["", "### Unsupported odata-query inputs", "", "| name | input | reason |", "|---|---|---|"]
    by_name = {c["name"]: c for c in query}
    for name, reason in sorted(tc.UNSUPPORTED_QUERY.items()):
        text = by_name[name]["input"].replace("|", "\\|")
        out.append(f"| {name} | `{text}` | {reason} |")
    return "\n".join(out) + "\n"


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    table = report()
    if "--write" not in argv:
        print(table)
        return
    doc = pathlib.Path(__file__).resolve().parents[2] / "docs" / "conformance.md"
    text = doc.read_text(encoding="utf-8")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    doc.write_text(text[:start] + "\n" + table + text[end:], encoding="utf-8")
    print(f"updated {doc}")


if __name__ == "__main__":
    main()
