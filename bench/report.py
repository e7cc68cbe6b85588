"""Benchmark report: medians and ranges per figure, a markdown table and a PNG chart of the ratios.

Every figure is a list of per-run values per proxy; the table shows the median with the min-max
range over the runs, and the ratio pyhaproxy/haproxy of the medians. A proxy that could not be
measured shows "failed" and the reason.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Figure:
    """One reported figure. target: the wanted ratio pyhaproxy/haproxy (>= if higher is better)."""

    key: str
    label: str
    unit: str
    lower_better: bool = False
    target: float | None = None


FIGURES: list[Figure] = [
    Figure("http_ka_rps", "HTTP keep-alive, requests/s on /", "req/s"),
    Figure("http_close_rps", "HTTP Connection: close, requests/s on /", "req/s"),
    Figure("http_ka_p99", "HTTP keep-alive, p99 latency", "ms", lower_better=True, target=1.0),
    Figure("http_close_p99", "HTTP close, p99 latency", "ms", lower_better=True, target=1.0),
    # the targets use the machine-wide figures (bench/machine.py): work moved into the kernel counts
    Figure("http_ka_rpmcpu", "HTTP keep-alive, requests per machine CPU-second", "req/CPU-s", target=1.0),
    Figure("http_close_rpmcpu", "HTTP close, requests per machine CPU-second", "req/CPU-s", target=1.0),
    Figure("http_ka_rpacpu", "HTTP keep-alive, requests per proxy-attributable CPU-second", "req/CPU-s"),
    Figure("http_close_rpacpu", "HTTP close, requests per proxy-attributable CPU-second", "req/CPU-s"),
    Figure("http_ka_rpcpu", "HTTP keep-alive, requests per proxy CPU-second", "req/CPU-s"),
    Figure("http_close_rpcpu", "HTTP close, requests per proxy CPU-second", "req/CPU-s"),
    Figure("http_1m_mbs", "HTTP /1m (-c10), MB/s", "MB/s"),
    Figure("http_1m_mbmcpu", "HTTP /1m (-c10), MB per machine CPU-second", "MB/CPU-s"),
    Figure("http_1m_mbacpu", "HTTP /1m (-c10), MB per proxy-attributable CPU-second", "MB/CPU-s"),
    Figure("http_1m_mbcpu", "HTTP /1m (-c10), MB per proxy CPU-second", "MB/CPU-s"),
    Figure("tcp_ka_rps", "TCP keep-alive, requests/s on /", "req/s"),
    Figure("tcp_close_rps", "TCP Connection: close, requests/s on /", "req/s"),
    Figure("tcp_ka_p99", "TCP keep-alive, p99 latency", "ms", lower_better=True),
    Figure("tcp_close_p99", "TCP close, p99 latency", "ms", lower_better=True),
    Figure("tcp_ka_rpmcpu", "TCP keep-alive, requests per machine CPU-second", "req/CPU-s", target=1.2),
    Figure("tcp_close_rpmcpu", "TCP close, requests per machine CPU-second", "req/CPU-s", target=1.2),
    Figure("tcp_ka_rpacpu", "TCP keep-alive, requests per proxy-attributable CPU-second", "req/CPU-s"),
    Figure("tcp_close_rpacpu", "TCP close, requests per proxy-attributable CPU-second", "req/CPU-s"),
    Figure("tcp_ka_rpcpu", "TCP keep-alive, requests per proxy CPU-second", "req/CPU-s"),
    Figure("tcp_close_rpcpu", "TCP close, requests per proxy CPU-second", "req/CPU-s"),
    Figure("tcp_1m_mbs", "TCP /1m (-c10), MB/s", "MB/s", target=1.0),
    Figure("tcp_1m_mbmcpu", "TCP /1m (-c10), MB per machine CPU-second", "MB/CPU-s"),
    Figure("tcp_1m_mbacpu", "TCP /1m (-c10), MB per proxy-attributable CPU-second", "MB/CPU-s"),
    Figure("tcp_1m_mbcpu", "TCP /1m (-c10), MB per proxy CPU-second", "MB/CPU-s"),
    # the rules group (issue 18): the HTTP setup with 10 ACLs, 5 http-request rules, a log-format
    Figure("rules_ka_rps", "rules: HTTP keep-alive, requests/s on /", "req/s"),
    Figure("rules_ka_rpcpu", "rules: HTTP keep-alive, requests per proxy CPU-second", "req/CPU-s",
           target=1.0),
    Figure("rules_ka_rpmcpu", "rules: HTTP keep-alive, requests per machine CPU-second", "req/CPU-s"),
    Figure("rules_close_rpcpu", "rules: HTTP close, requests per proxy CPU-second", "req/CPU-s"),
    Figure("rules_close_rpmcpu", "rules: HTTP close, requests per machine CPU-second", "req/CPU-s"),
    # the map group (issue 18's pipeline): req.hdr(host),lower,map(F) on 10,000 entries + log-format
    Figure("map_ka_rps", "map: HTTP keep-alive, requests/s on /", "req/s"),
    Figure("map_ka_rpcpu", "map: HTTP keep-alive, requests per proxy CPU-second", "req/CPU-s",
           target=1.0),
    Figure("map_ka_rpmcpu", "map: HTTP keep-alive, requests per machine CPU-second", "req/CPU-s"),
    Figure("map_close_rpcpu", "map: HTTP close, requests per proxy CPU-second", "req/CPU-s"),
    Figure("mem_http_bpc", "HTTP mode, RSS per idle connection", "bytes", lower_better=True, target=1.0),
    Figure("mem_tcp_bpc", "TCP mode, RSS per idle connection", "bytes", lower_better=True, target=1.0),
]
FIGURE_BY_KEY = {f.key: f for f in FIGURES}

# results[figure key][proxy] = values of the successful runs; failures[...][proxy] = reasons
Results = dict[str, dict[str, list[float]]]
Failures = dict[str, dict[str, list[str]]]


def _fmt(v: float, unit: str) -> str:
    if unit == "ms":
        return f"{v:.2f}" if v < 100 else f"{v:.0f}"
    if unit in ("MB/s", "MB/CPU-s"):
        return f"{v:,.1f}"
    return f"{v:,.0f}"


def cell(values: list[float], unit: str, runs: int) -> str:
    """'median (min-max)', with the number of runs if some failed."""
    if not values:
        return ""
    med = statistics.median(values)
    s = f"{_fmt(med, unit)} {unit}"
    if len(values) > 1:
        s += f" ({_fmt(min(values), unit)}–{_fmt(max(values), unit)})"
    if len(values) < runs:
        s += f" [{len(values)}/{runs} runs]"
    return s


def ratio_of(results: Results, key: str) -> float | None:
    """Median pyhaproxy / median haproxy, or None if either side has no value."""
    py = results.get(key, {}).get("pyhaproxy") or []
    ha = results.get(key, {}).get("haproxy") or []
    if not py or not ha:
        return None
    den = statistics.median(ha)
    if den == 0:
        return None
    return statistics.median(py) / den


def target_met(fig: Figure, ratio: float) -> bool:
    """Whether a ratio meets the figure's target (or is at least not worse, without a target)."""
    t = fig.target if fig.target is not None else 1.0
    return ratio <= t if fig.lower_better else ratio >= t


def _short(reason: str, n: int) -> str:
    reason = " ".join(reason.split()).replace("|", "/")
    return reason if len(reason) <= n else reason[: n - 1] + "…"


def markdown(
    results: Results,
    failures: Failures,
    runs: int,
    machine: dict[str, str],
    params: dict[str, str],
    notes: list[str],
) -> str:
    """The whole results page."""
    keys = [f.key for f in FIGURES if f.key in results or f.key in failures]
    out = ["# pyhaproxy benchmark: pyhaproxy vs haproxy 2.6", ""]
    out.append("Generated by `python -m bench.run` (see `bench/README.md`). Medians over the runs,")
    out.append("min–max in parentheses. Ratio = pyhaproxy / haproxy of the medians.")
    out.append("")
    # one footnote per distinct (proxy, reason), listing the figures it affected
    grouped: dict[tuple[str, str], list[str]] = {}
    for key in keys:
        for proxy, reasons in failures.get(key, {}).items():
            for reason in dict.fromkeys(reasons):
                grouped.setdefault((proxy, " ".join(reason.split())), []).append(FIGURE_BY_KEY[key].label)
    footnote = {k: i + 1 for i, k in enumerate(grouped)}

    out.append("| figure | pyhaproxy | haproxy | ratio |")
    out.append("|---|---|---|---|")
    for key in keys:
        fig = FIGURE_BY_KEY[key]
        row = [fig.label]
        for proxy in ("pyhaproxy", "haproxy"):
            vals = results.get(key, {}).get(proxy) or []
            fails = failures.get(key, {}).get(proxy) or []
            if vals:
                row.append(cell(vals, fig.unit, runs))
            elif fails:
                refs = sorted({footnote[(proxy, " ".join(f.split()))] for f in fails})
                first = _short(fails[0], 70)
                row.append(f"failed: {first} [{', '.join(map(str, refs))}]")
            else:
                row.append("n/a")
        r = ratio_of(results, key)
        if r is None:
            row.append("–")
        else:
            txt = f"{r:.2f}x"
            if fig.lower_better:
                txt += " (lower is better)"
            row.append(txt)
        out.append("| " + " | ".join(row) + " |")
    out.append("")

    out.append("## Targets")
    out.append("")
    for fig in FIGURES:
        if fig.target is None or fig.key not in keys:
            continue
        r = ratio_of(results, fig.key)
        op = "<=" if fig.lower_better else ">="
        if r is None:
            status = "not measured"
        else:
            status = f"{r:.2f}x, {'met' if target_met(fig, r) else 'MISSED'}"
        out.append(f"- {fig.label}: ratio {op} {fig.target:.1f}: {status}")
    out.append("")

    out.append("## Setup")
    out.append("")
    for k, v in params.items():
        out.append(f"- {k}: {v}")
    out.append("")
    out.append("## Machine")
    out.append("")
    for k, v in machine.items():
        out.append(f"- {k}: `{v}`")
    out.append("")

    fail_lines = [
        f"- [{footnote[(proxy, reason)]}] {proxy}: {reason} (figures: {'; '.join(labels)})"
        for (proxy, reason), labels in grouped.items()
    ]
    if fail_lines or notes:
        out.append("## Notes and failures")
        out.append("")
        out.extend(dict.fromkeys(notes))
        out.extend(fail_lines)
        out.append("")

    out.append("## Raw values per run")
    out.append("")
    out.append("| figure | pyhaproxy | haproxy |")
    out.append("|---|---|---|")
    for key in keys:
        fig = FIGURE_BY_KEY[key]
        row = [f"{fig.label} ({fig.unit})"]
        for proxy in ("pyhaproxy", "haproxy"):
            vals = results.get(key, {}).get(proxy) or []
            row.append(", ".join(_fmt(v, fig.unit) for v in vals) or "–")
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    return "\n".join(out)


def chart(results: Results, failures: Failures, path: Path) -> None:
    """Horizontal bar chart of the ratios, 1.0 marked; green = target met / not worse, red = not."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    figs = [f for f in FIGURES if f.key in results or f.key in failures]
    labels, ratios, colors = [], [], []
    for fig in figs:
        r = ratio_of(results, fig.key)
        suffix = " (lower better)" if fig.lower_better else ""
        labels.append(fig.label + suffix)
        ratios.append(r if r is not None else 0.0)
        if r is None:
            colors.append("lightgray")
        else:
            colors.append("tab:green" if target_met(fig, r) else "tab:red")
    height = max(3.0, 0.42 * len(figs) + 1.2)
    fig_, ax = plt.subplots(figsize=(10, height))
    ys = list(range(len(figs)))[::-1]
    # log scale, bars drawn from 1.0: "2x better" and "2x worse" look the same size
    measured = [r for r in ratios if r > 0]
    lo = min([0.5, *[r / 1.3 for r in measured]])
    hi = max([2.0, *[r * 1.3 for r in measured]])
    ax.set_xscale("log")
    for y, fig, r, color in zip(ys, figs, ratios, colors, strict=True):
        if fig.target is not None:
            ax.plot([fig.target, fig.target], [y - 0.4, y + 0.4], color="navy", linewidth=2)
        if r == 0.0:
            ax.text(1.02, y, "failed / not measured", va="center", fontsize=8, color="dimgray")
            continue
        ax.barh([y], [r - 1.0], left=1.0, color=color)
        ax.text(r * (1.03 if r >= 1 else 0.97), y, f"{r:.2f}x", va="center",
                ha="left" if r >= 1 else "right", fontsize=8)
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_xlim(lo, hi)
    ticks = [t for t in (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0) if lo <= t <= hi]
    ax.set_xticks(ticks, [f"{t:g}x" for t in ticks])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_yticks(ys)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel("ratio pyhaproxy / haproxy 2.6, log scale (navy tick = target; green = met / not worse)")
    ax.set_title("pyhaproxy vs haproxy 2.6 (medians)")
    fig_.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig_.savefig(path, dpi=110)
    plt.close(fig_)
