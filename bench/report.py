"""Markdown tables of a benchmark run: `.venv/bin/python -m bench.report [FILE.jsonl]`.

Reads bench/.data/last-run.jsonl (or FILE) and prints the tables bench/README.md shows.
"""

import json
import sys
from pathlib import Path

from .data import DATA_DIR


def load(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rows]
    return "\n".join(out)


def _count(matches):
    """1234 as "1,234"; "1000+" (a capped count) as "1,000+"; older runs kept ints."""
    text = str(matches)
    number, plus = text.rstrip("+"), "+" if text.endswith("+") else ""
    return f"{int(number):,}{plus}"


def _cpu_split(by):
    """Rows of the machine's CPU ms per request (per write for the ceiling), by process:
    the gunicorn server, PostgreSQL, wrk, and the whole machine (runs before this
    figure was recorded have none)."""
    rows = []
    for rec in by.get("circulation", []):
        ceiling = next(
            (
                c
                for c in by.get("ceiling", [])
                if c["db"] == rec["db"] and c["clients"] == rec["clients"]
            ),
            {},
        )
        app, bare = rec.get("cpu_ms_per_request"), ceiling.get("cpu_ms_per_request")
        if not app or not bare:
            continue
        cells = [
            f"{app[name]:.2f} / {bare[name]:.2f}" if name in app else ""
            for name in ("server", "database", "client", "machine")
        ]
        rows.append([rec["db"], rec["clients"], *cells])
    return rows


def render(records):
    by = {}
    for rec in records:
        by.setdefault(rec["figure"], []).append(rec)
    parts = []
    for m in by.get("machine", []):
        settings = ", ".join(f"{k}={v}" for k, v in m["postgresql_settings"].items())
        parts.append(
            f"Machine: {m['cpus']} × {m['cpu_model']}, {m['ram_gib']} GiB RAM, Linux "
            f"{m['kernel']}; Python {m['python']}, SQLite {m['sqlite']}, PostgreSQL "
            f"{m['postgresql']} ({settings}); "
            f"psycopg {m['psycopg']}, gunicorn {m['gunicorn']} ({m['gunicorn_workers']} sync "
            f"workers), {m['wrk'].split(' Copyright')[0]}; load average at start "
            f"{m['loadavg_at_start']:.1f}."
        )
    rows = []
    for kind in ("postgresql", "sqlite"):
        ceilings = {
            (c["figure"], c["clients"]): c
            for c in by.get("ceiling", []) + by.get("ceiling_flask", [])
            if c["db"] == kind
        }
        for rec in by.get("circulation", []):
            if rec["db"] != kind:
                continue
            ceil = ceilings.get(("ceiling", rec["clients"]), {})
            flask = ceilings.get(("ceiling_flask", rec["clients"]), {})
            rows.append(
                [
                    kind,
                    rec["clients"],
                    rec["cycles_per_s"],
                    rec["requests_per_s"],
                    rec["p50_ms"],
                    rec["p95_ms"],
                    rec["p99_ms"],
                    rec["errors"],
                    ceil.get("requests_per_s"),
                    ceil.get("p99_ms"),
                    flask.get("requests_per_s"),
                    f"{rec['client_cpu_core_pct']}% / {ceil.get('client_cpu_core_pct')}%",
                ]
            )
    if rows:
        parts.append(
            table(
                [
                    "db",
                    "clients",
                    "cycles/s",
                    "requests/s",
                    "p50 ms",
                    "p95 ms",
                    "p99 ms",
                    "errors",
                    "ceiling writes/s",
                    "ceiling p99 ms",
                    "Flask ceiling writes/s",
                    "wrk CPU (app / ceiling runs)",
                ],
                rows,
            )
        )
    ratios = by.get("circulation_vs_ceiling", [])
    if ratios:
        parts.append(
            table(
                [
                    "db",
                    "clients",
                    "throughput ratio",
                    "target",
                    "per round",
                    "vs Flask ceiling",
                    "p99 ratio",
                    "target",
                    "met",
                ],
                [
                    [
                        x["db"],
                        x["clients"],
                        x["throughput_ratio"],
                        f"≥ {x['throughput_target']}",
                        ", ".join(map(str, x["ratios_per_round"])),
                        x.get("throughput_ratio_vs_flask_ceiling"),
                        x["p99_ratio"],
                        f"≤ {x['p99_target']}",
                        "yes" if x["met"] else "**no**",
                    ]
                    for x in ratios
                ],
            )
        )
    split = _cpu_split(by)
    if split:
        parts.append(
            table(
                [
                    "db",
                    "clients",
                    "server: app / ceiling",
                    "PostgreSQL: app / ceiling",
                    "wrk: app / ceiling",
                    "whole machine: app / ceiling",
                ],
                split,
            )
        )
    stmts = by.get("statements_per_request", [])
    if stmts:
        parts.append(
            table(
                ["db", "issue: statements", "return: statements", "ceiling: statements"],
                [
                    [
                        x["db"],
                        x["issue_statements"],
                        x["return_statements"],
                        x["ceiling_statements"],
                    ]
                    for x in stmts
                ],
            )
        )
    ladder = by.get("request_cpu", [])
    if ladder:
        steps = list(dict.fromkeys(step for x in ladder for step in x["ms"]))
        parts.append(
            table(
                ["db", *(f"`{step}`" for step in steps)],
                [[x["db"], *(x["ms"].get(step) for step in steps)] for x in ladder],
            )
        )
    searches = [x for x in by.get("search", []) if "query" in x]
    if searches:
        queries = list(dict.fromkeys((x["query"], x["q"]) for x in searches))
        cells = {(x["db"], x["books"], x["query"]): x for x in searches}
        rows = []
        for kind in ("postgresql", "sqlite"):
            for books in sorted({x["books"] for x in searches if x["db"] == kind}):
                row = [kind, f"{books:,}"]
                for query, _q in queries:
                    x = cells.get((kind, books, query))
                    cell = f"{x['p50_ms']} / {x['p95_ms']} ({_count(x['matches'])})" if x else ""
                    row.append(cell)
                rows.append(row)
        parts.append(
            table(
                ["db", "books", *(f"{label} `{q}`" for label, q in queries)],
                rows,
            )
        )
    for x in by.get("search", []):
        if "skipped" in x:
            parts.append(f"Search at {x['books']:,} books: skipped ({x['skipped']}).")
    rem = by.get("reminders_run", [])
    if rem:
        parts.append(
            table(
                [
                    "db",
                    "run",
                    "seconds (median)",
                    "per round",
                    "of which CLI start-up",
                    "queued (due soon, overdue, expired holds)",
                    "target",
                ],
                [
                    [
                        x["db"],
                        x["run"],
                        x["seconds"],
                        ", ".join(map(str, x["seconds_per_round"])),
                        x["cli_startup_s"],
                        ", ".join(map(str, x["queued_due_soon_overdue_expired"] or [])),
                        f"< {x['target_s']} s: {'met' if x['met'] else '**missed**'}",
                    ]
                    for x in rem
                ],
            )
        )
    imp = by.get("books_import", [])
    if imp:
        rows = []
        for x in imp:
            if "TODO" in x:
                rows.append([x["db"], "TODO", x["TODO"], "", "", ""])
                continue
            rows.append(
                [
                    x["db"],
                    x["rows_per_s"],
                    x["seconds"],
                    ", ".join(map(str, x["seconds_per_round"])),
                    x["cli_startup_s"],
                    f"{x['imported']:,} imported, {x['rejected_reported']} rejected rows "
                    f"reported (of {x['rejected_expected']} broken)",
                ]
            )
        parts.append(
            table(
                [
                    "db",
                    "rows/s",
                    "seconds (median)",
                    "per round",
                    "of which CLI start-up",
                    "outcome",
                ],
                rows,
            )
        )
    pages = by.get("desk_page", [])
    if pages:
        parts.append(
            table(
                ["db", "page", "HTML bytes", "+ static (CSS/JS, cacheable)", "p50 ms", "p95 ms"],
                [
                    [
                        x["db"],
                        f"{x['page']} `{x['path']}`",
                        f"{x['html_bytes']:,}",
                        f"{x['static_bytes']:,}",
                        x["p50_ms"],
                        x["p95_ms"],
                    ]
                    for x in pages
                ],
            )
        )
    for x in by.get("run", []):
        parts.append(f"Whole run: {x['seconds'] / 60:.1f} minutes.")
    return "\n\n".join(parts) + "\n"


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else DATA_DIR / "last-run.jsonl"
    sys.stdout.write(render(load(path)))


if __name__ == "__main__":
    main()
