"""The results: a Markdown report (results.md) and a bar chart (results.png).

``machine_info`` gathers what a reader needs to compare runs: CPU, cores,
RAM, OS, PostgreSQL, the server's Python/PyNaCl/libsodium (PL/Python's, as
seen from inside the server), the client's, the date and the command.
"""

from __future__ import annotations

import datetime
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Dict, List, Sequence

from common import Section, Table

# --- what ran where -------------------------------------------------------------


def _first(path: str, key: str) -> str:
    try:
        with open(path) as f:
            for line in f:
                name, _, value = line.partition(":" if path.startswith("/proc") else "=")
                if name.strip() == key:
                    return value.strip().strip('"')
    except OSError:
        pass
    return "?"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


def machine_info(server: Dict[str, str], command: str, mode: str) -> Dict[str, str]:
    mem_kb = _first("/proc/meminfo", "MemTotal").split()[0]
    ram = f"{int(mem_kb) / 1024 / 1024:.1f} GiB" if mem_kb.isdigit() else "?"
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": f"`{command}`",
        "mode": mode,
        "machine": f"{_first('/proc/cpuinfo', 'model name')}, {os.cpu_count()} cores, {ram} RAM",
        "OS": f"{_first('/etc/os-release', 'PRETTY_NAME')} (kernel {platform.release()})",
        "PostgreSQL": server.get("postgresql_full", server.get("postgresql", "?")),
        "server's Python (PL/Python)": (f"Python {server.get('python', '?')}, PyNaCl {server.get('pynacl', '?')}, "
                                        f"libsodium {server.get('libsodium', '?')}"),
        "client": (f"Python {platform.python_version()}, PyNaCl {_version('pynacl')}, "
                   f"psycopg {_version('psycopg')}"),
    }


# --- Markdown -------------------------------------------------------------------


def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(table: Table) -> List[str]:
    align = table.align or ("l" + "r" * (len(table.headers) - 1))
    lines = ["| " + " | ".join(_cell(h) for h in table.headers) + " |",
             "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in table.rows]
    return lines


def summary_table(sections: Sequence[Section]) -> Table:
    rows = []
    for s in sections:
        if s.error:
            rows.append([f"{s.number}. {s.title}", "failed", "—", "—", "—", "no"])
        for t in s.targets:
            rows.append([t.workload, t.ours, t.peers, t.value_text, t.target_text, "yes" if t.met else "no"])
    return Table(["workload", "ours", "peer(s)", "ratio", "target", "met?"], rows, align="llllll")


def markdown(sections: Sequence[Section], info: Dict[str, str], seconds: float, chart: str) -> str:
    out = ["# pg_session_jwt benchmarks", "",
           "Each workload measures the extension against a peer in the same run, on the same throwaway "
           "cluster; the ratios are what the targets limit. Regenerate with `make bench` "
           "(`make bench BENCH_ARGS=--quick` for a smoke run).", ""]
    out += markdown_table(Table(["", ""], [[k, v] for k, v in info.items()] + [["run time", f"{seconds:.0f} s"]],
                                align="ll"))
    out += ["", "## Summary", ""] + markdown_table(summary_table(sections))
    out += ["", f"![ratios against their targets]({chart})", ""]
    for s in sections:
        out += [f"## {s.number}. {s.title}", "", s.method, ""]
        if s.error:
            out += [f"**Failed:** `{s.error}`", ""]
            continue
        for table in s.tables:
            out += markdown_table(table) + [""]
        out += [note for n in s.notes for note in (n, "")]
        out += [f"_{s.seconds:.1f} s._", ""]
    return "\n".join(out)


# --- the chart ------------------------------------------------------------------


def chart(sections: Sequence[Section], path: Path, title: str) -> None:
    """Ratios against their targets (left), memory against its target (middle), scaling (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = [t for s in sections for t in s.targets]
    ratios = [t for t in targets if t.unit == "x"]
    memory = [t for t in targets if t.unit != "x"]
    speedup = next((s.chart["speedup"] for s in sections if s.chart.get("speedup")), None)

    panels = [p for p in (("ratio", ratios), ("memory", memory)) if p[1]] + ([("speedup", speedup)] if speedup else [])
    widths = {"ratio": 3.0, "memory": 1.4, "speedup": 1.4}
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(14, 4.8), squeeze=False,
                             gridspec_kw={"width_ratios": [widths[k] for k, _ in panels] or [1]})
    for ax, (kind, data) in zip(axes[0], panels):
        if kind in ("ratio", "memory"):
            _target_bars(ax, data, "ratio to the peer (lower is better)" if kind == "ratio"
                         else "MiB above the PL/Python floor")
        else:
            levels = list(data)
            ax.bar([str(c) for c in levels], [data[c] for c in levels], color="#4c72b0")
            for i, c in enumerate(levels):
                ax.text(i, data[c], f"{data[c]:.2f}x", ha="center", va="bottom", fontsize=8)
            ax.axhline(1.0, color="grey", linewidth=0.8, linestyle=":")
            ax.set_xlabel("concurrent connections")
            ax.set_ylabel("session starts/s vs 1 connection")
            ax.set_title("scaling (no target)", fontsize=10)
    if not panels:
        axes[0][0].text(0.5, 0.5, "no results", ha="center", va="center")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _target_bars(ax, rows, xlabel: str) -> None:
    labels = [t.short or t.workload for t in rows][::-1]
    rows = rows[::-1]
    finite = [t.value for t in rows if t.value == t.value and abs(t.value) != float("inf")]
    cap = max([t.limit for t in rows] + finite) * 1.35
    for i, t in enumerate(rows):
        value = min(t.value, cap) if t.value == t.value else 0.0
        ax.barh(i, value, color="#55a868" if t.met else "#c44e52", height=0.55)
        ax.plot([t.limit, t.limit], [i - 0.4, i + 0.4], color="black", linewidth=2)
        ax.text(max(value, 0) + cap * 0.01, i, f"{t.value_text}  (target {t.target_text})", va="center", fontsize=8)
    ax.set_ylim(-0.8, len(rows) - 0.2)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlim(min(0.0, min(finite, default=0.0) * 1.2), cap * 1.45)
    ax.axvline(0, color="grey", linewidth=0.6)
    ax.set_xlabel(xlabel + "; black tick: target", fontsize=8)


def write(out: Path, sections: Sequence[Section], info: Dict[str, str], seconds: float) -> str:
    out.mkdir(parents=True, exist_ok=True)
    chart(sections, out / "results.png",
          f"pg_session_jwt vs its peers — {info['machine']} — {info['date']} ({info['mode']} run)")
    text = markdown(sections, info, seconds, "results.png")
    (out / "results.md").write_text(text + "\n")
    return text
