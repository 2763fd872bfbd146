"""Metrics records (JSON with provenance) and human reports (Markdown / HTML with SVG plots).

A *record* is what ``metrics.json`` holds: the task, the vidlens version, the sha256 of each
input file, the metric settings, a ``provenance`` dict (encoder id and weights fingerprint,
sampling recipe, aggregation, moment settings: filled by whoever produced the predictions) and
the metrics themselves. Records have no timestamp, so the same inputs give the same bytes.

A *report* is a title, notes, tables and figures. Figures are small SVG documents drawn here
(no plotting dependency). HTML reports inline them into one self-contained file; Markdown reports
link them as ``report_figures/NAME.svg`` next to ``report.md``, which every Markdown viewer shows.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import math
import os
import tempfile
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EvaluationError

__all__ = [
    "REPORT_FORMATS",
    "Figure",
    "Report",
    "Table",
    "build_record",
    "classification_report",
    "grounding_report",
    "moments_report",
    "render_html",
    "render_markdown",
    "retrieval_report",
    "sha256_file",
    "svg_bar_chart",
    "svg_heatmap",
    "svg_line_chart",
    "write_metrics_json",
    "write_report",
]

logger = logging.getLogger(__name__)

REPORT_FORMATS: tuple[str, ...] = ("md", "html")
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
_W, _H = 520, 320  # figure size in px
_ML, _MR, _MT, _MB = 56, 130, 36, 48  # margins: left, right (legend), top (title), bottom
_MAX_HEATMAP_CLASSES = 40  # larger confusion matrices are summarised as a table of top confusions


# --------------------------------------------------------------------------------------------
# Records


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as err:
        raise EvaluationError(f"cannot read {path} to fingerprint it: {err}") from err
    return digest.hexdigest()


def build_record(
    task: str,
    metrics: Mapping[str, Any],
    *,
    settings: Mapping[str, Any],
    annotations_path: str | Path | None = None,
    predictions_path: str | Path | None = None,
    provenance: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The reproducibility record of one evaluation (what ``metrics.json`` holds).

    Returns:
        ``{"task", "vidlens_version", "inputs": {"annotations": {"path", "sha256"},
        "predictions": {...}}, "settings", "provenance", "metrics"}``.
    """
    from .. import __version__  # imported late: vidlens/__init__ may import this package

    inputs: dict[str, Any] = {}
    for name, path in (("annotations", annotations_path), ("predictions", predictions_path)):
        if path is not None:
            inputs[name] = {"path": str(path), "sha256": sha256_file(path)}
    return {
        "task": task,
        "vidlens_version": __version__,
        "inputs": inputs,
        "settings": dict(settings),
        "provenance": dict(provenance or {}),
        "metrics": dict(metrics),
    }


def _write_atomic(path: Path, text: str) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_metrics_json(record: Mapping[str, Any], out_dir: str | Path) -> Path:
    """Write ``record`` to ``out_dir/metrics.json`` (atomically) and return the path."""
    path = Path(out_dir) / "metrics.json"
    try:
        _write_atomic(path, json.dumps(record, indent=2, default=_json_default) + "\n")
    except OSError as err:
        raise EvaluationError(f"cannot write {path}: {err}; choose a writable --out") from err
    return path


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer | np.floating):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# --------------------------------------------------------------------------------------------
# SVG figures


def _fmt(v: float) -> str:
    return f"{v:g}" if abs(v) < 1e5 else f"{v:.2e}"


def _svg_open(title: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
        f'viewBox="0 0 {_W} {_H}" font-family="sans-serif" font-size="11">',
        f"<title>{html.escape(title)}</title>",
        f'<rect width="{_W}" height="{_H}" fill="white"/>',
        f'<text x="{_W / 2:.1f}" y="20" text-anchor="middle" font-size="13">'
        f"{html.escape(title)}</text>",
    ]


def _y_axis(lo: float, hi: float, label: str) -> tuple[list[str], Any]:
    """Horizontal grid lines with tick labels; returns the parts and a value->y function."""
    plot_h = _H - _MT - _MB

    def y_of(v: float) -> float:
        return _MT + plot_h * (1 - (v - lo) / (hi - lo))

    parts = []
    for i in range(6):
        v = lo + (hi - lo) * i / 5
        y = y_of(v)
        parts.append(f'<line x1="{_ML}" x2="{_W - _MR}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{_ML - 4}" y="{y + 4:.1f}" text-anchor="end">{_fmt(v)}</text>')
    parts.append(
        f'<text transform="translate(14 {_MT + plot_h / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle">{html.escape(label)}</text>'
    )
    return parts, y_of


def _legend(names: Sequence[str]) -> list[str]:
    parts = []
    for i, name in enumerate(names):
        y = _MT + 14 * i + 6
        colour = _PALETTE[i % len(_PALETTE)]
        parts.append(
            f'<rect x="{_W - _MR + 10}" y="{y - 8}" width="10" height="10" fill="{colour}"/>'
        )
        parts.append(f'<text x="{_W - _MR + 24}" y="{y + 1}">{html.escape(name)}</text>')
    return parts


def _value_range(values: Sequence[float], y_max: float | None) -> tuple[float, float]:
    hi = y_max if y_max is not None else max([*values, 0.0])
    lo = min([*values, 0.0])
    if hi <= lo:
        hi = lo + 1.0
    return lo, hi


def svg_line_chart(
    series: Mapping[str, Sequence[tuple[float, float]]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    y_max: float | None = 100.0,
) -> str:
    """A line chart (one polyline with markers per series) as an SVG document string."""
    points = [p for pts in series.values() for p in pts]
    if not points:
        raise EvaluationError(f"figure {title!r} has no data points")
    xs = [p[0] for p in points]
    x_lo, x_hi = min(xs), max(xs)
    if x_hi <= x_lo:
        x_hi = x_lo + 1.0
    lo, hi = _value_range([p[1] for p in points], y_max)
    parts = _svg_open(title)
    axis, y_of = _y_axis(lo, hi, y_label)
    parts += axis
    plot_w = _W - _ML - _MR

    def x_of(v: float) -> float:
        return _ML + plot_w * (v - x_lo) / (x_hi - x_lo)

    for v in sorted(set(xs)):
        parts.append(
            f'<text x="{x_of(v):.1f}" y="{_H - _MB + 14}" text-anchor="middle">{_fmt(v)}</text>'
        )
    parts.append(
        f'<text x="{_ML + plot_w / 2:.1f}" y="{_H - 10}" text-anchor="middle">'
        f"{html.escape(x_label)}</text>"
    )
    for i, pts in enumerate(series.values()):
        colour = _PALETTE[i % len(_PALETTE)]
        coords = " ".join(f"{x_of(x):.1f},{y_of(y):.1f}" for x, y in pts)
        parts.append(
            f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"/>'
        )
        parts += [
            f'<circle cx="{x_of(x):.1f}" cy="{y_of(y):.1f}" r="2.5" fill="{colour}"/>'
            for x, y in pts
        ]
    parts += _legend(list(series))
    parts.append("</svg>")
    return "\n".join(parts)


def svg_bar_chart(
    categories: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    title: str,
    y_label: str,
    y_max: float | None = 100.0,
) -> str:
    """Grouped bars (one group per category, one bar per series) as an SVG document string."""
    if not categories or not series:
        raise EvaluationError(f"figure {title!r} has no data")
    for name, values in series.items():
        if len(values) != len(categories):
            raise EvaluationError(
                f"figure {title!r}: series {name!r} has {len(values)} values for "
                f"{len(categories)} categories"
            )
    lo, hi = _value_range([v for vs in series.values() for v in vs], y_max)
    parts = _svg_open(title)
    axis, y_of = _y_axis(lo, hi, y_label)
    parts += axis
    group_w = (_W - _ML - _MR) / len(categories)
    bar_w = group_w * 0.8 / len(series)
    for c, cat in enumerate(categories):
        x0 = _ML + group_w * c + group_w * 0.1
        for s, values in enumerate(series.values()):
            v = values[c]
            top, base = y_of(max(v, 0.0)), y_of(min(v, 0.0))
            parts.append(
                f'<rect x="{x0 + bar_w * s:.1f}" y="{top:.1f}" width="{bar_w:.1f}" '
                f'height="{base - top:.1f}" fill="{_PALETTE[s % len(_PALETTE)]}">'
                f"<title>{html.escape(cat)}: {_fmt(v)}</title></rect>"
            )
        parts.append(
            f'<text x="{x0 + group_w * 0.4:.1f}" y="{_H - _MB + 14}" '
            f'text-anchor="middle">{html.escape(cat)}</text>'
        )
    if len(series) > 1:
        parts += _legend(list(series))
    parts.append("</svg>")
    return "\n".join(parts)


def svg_heatmap(matrix: Any, labels: Sequence[str], *, title: str) -> str:
    """A row-normalised heatmap of a square count matrix (rows: true, columns: predicted)."""
    m = np.asarray(matrix, dtype=np.float64)
    n = len(labels)
    if m.shape != (n, n) or n == 0:
        raise EvaluationError(f"figure {title!r}: matrix {m.shape} does not match {n} labels")
    row_sums = m.sum(axis=1, keepdims=True)
    share = np.divide(m, row_sums, out=np.zeros_like(m), where=row_sums > 0)
    label_w, size = 90, max(6, min(28, 400 // n))  # cell size shrinks with the class count
    width, height = label_w + size * n + 20, 40 + label_w + size * n
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="10">',
        f"<title>{html.escape(title)}</title>",
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2:.1f}" y="16" text-anchor="middle" font-size="13">'
        f"{html.escape(title)}</text>",
    ]
    top = 30 + label_w
    for i in range(n):
        name = html.escape(labels[i][:14])
        parts.append(
            f'<text x="{label_w - 4}" y="{top + size * i + size * 0.7:.1f}" '
            f'text-anchor="end">{name}</text>'
        )
        x = label_w + size * i + size * 0.7
        parts.append(f'<text transform="translate({x:.1f} {top - 4}) rotate(-90)">{name}</text>')
        for j in range(n):
            shade = int(255 * (1 - share[i, j]))
            parts.append(
                f'<rect x="{label_w + size * j}" y="{top + size * i}" width="{size}" '
                f'height="{size}" fill="rgb({shade},{shade},255)" stroke="#eee">'
                f"<title>true {name}, predicted {html.escape(labels[j][:14])}: "
                f"{int(m[i, j])}</title></rect>"
            )
    parts.append("</svg>")
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------
# Reports


@dataclass(frozen=True)
class Table:
    """A titled table of strings."""

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Figure:
    """A titled SVG figure; ``name`` is its file stem in Markdown reports."""

    name: str
    title: str
    svg: str


@dataclass(frozen=True)
class Report:
    """A human report of one evaluation."""

    title: str
    notes: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()
    figures: tuple[Figure, ...] = field(default=())


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.2f}"
    return str(v)


def _record_table(record: Mapping[str, Any]) -> Table:
    rows: list[tuple[str, str]] = [("vidlens", str(record.get("vidlens_version", "")))]
    for name, info in record.get("inputs", {}).items():
        rows.append((f"{name} file", str(info.get("path", ""))))
        rows.append((f"{name} sha256", str(info.get("sha256", ""))))
    for key, value in record.get("settings", {}).items():
        rows.append((f"setting: {key}", json.dumps(value, default=_json_default)))
    for key, value in record.get("provenance", {}).items():
        rows.append((f"provenance: {key}", json.dumps(value, default=_json_default)))
    return Table("Provenance", ("item", "value"), tuple(rows))


def _threshold_curves(
    buckets: Mapping[str, Any], metric: str
) -> dict[str, list[tuple[float, float]]]:
    return {
        name: [(float(t), float(v)) for t, v in buckets[name][metric].items() if t != "average"]
        for name in ("full", "short", "middle", "long")
        if name in buckets
    }


def moments_report(
    record: Mapping[str, Any], *, title: str = "Moment retrieval and highlight detection"
) -> Report:
    """Report of a QVHighlights evaluation record: brief table, per-IoU curves, bucket bars."""
    metrics = record["metrics"]
    tables = [
        Table(
            "Summary",
            ("metric", "value"),
            tuple((k, _cell(v)) for k, v in metrics["brief"].items()),
        )
    ]
    figures = []
    if "full" in metrics:
        buckets = [b for b in ("full", "short", "middle", "long") if b in metrics]
        thresholds = [t for t in metrics["full"]["MR-mAP"] if t != "average"]
        tables.append(
            Table(
                "MR-mAP by IoU threshold and length bucket",
                ("bucket", *thresholds, "average"),
                tuple(
                    (b, *(_cell(metrics[b]["MR-mAP"][t]) for t in [*thresholds, "average"]))
                    for b in buckets
                ),
            )
        )
        tables.append(
            Table(
                "MR-R1 by IoU threshold and length bucket",
                ("bucket", *thresholds),
                tuple((b, *(_cell(metrics[b]["MR-R1"][t]) for t in thresholds)) for b in buckets),
            )
        )
        for metric in ("MR-mAP", "MR-R1"):
            figures.append(
                Figure(
                    f"{metric.lower()}_by_iou",
                    f"{metric} by IoU threshold",
                    svg_line_chart(
                        _threshold_curves(metrics, metric),
                        title=f"{metric} by IoU",
                        x_label="IoU threshold",
                        y_label="%",
                    ),
                )
            )
        figures.append(
            Figure(
                "mr_map_by_bucket",
                "MR-mAP (average) by ground-truth window length",
                svg_bar_chart(
                    buckets,
                    {"MR-mAP": [metrics[b]["MR-mAP"]["average"] for b in buckets]},
                    title="MR-mAP by window length",
                    y_label="%",
                ),
            )
        )
    levels = [k for k in metrics if k.startswith("HL-min-")]
    if levels:
        names = [k.removeprefix("HL-min-") for k in levels]
        figures.append(
            Figure(
                "hl_by_level",
                "Highlight detection by minimum saliency level",
                svg_bar_chart(
                    names,
                    {m: [metrics[k][m] for k in levels] for m in ("HL-mAP", "HL-Hit1")},
                    title="Highlight detection",
                    y_label="%",
                ),
            )
        )
    tables.append(_record_table(record))
    return Report(title, tables=tuple(tables), figures=tuple(figures))


def grounding_report(
    record: Mapping[str, Any],
    top1_ious: Sequence[float] | Mapping[Hashable, float],
    *,
    title: str = "Temporal grounding",
) -> Report:
    """Report of a grounding record: metrics table, R1 by IoU curve, top-1 IoU distribution."""
    ious = np.asarray(
        list(top1_ious.values()) if isinstance(top1_ious, Mapping) else top1_ious, dtype=np.float64
    )
    metrics = record["metrics"]
    tables = [
        Table("Metrics", ("metric", "value"), tuple((k, _cell(v)) for k, v in metrics.items())),
        _record_table(record),
    ]
    figures = []
    if ious.size:
        grid = [round(0.1 * i, 1) for i in range(1, 10)]
        curve = [(t, 100 * float(np.mean(ious >= t))) for t in grid]
        figures.append(
            Figure(
                "r1_by_iou",
                "R1 by IoU threshold",
                svg_line_chart(
                    {"R1": curve}, title="R1 by IoU threshold", x_label="IoU threshold", y_label="%"
                ),
            )
        )
        edges = np.linspace(0, 1, 11)
        counts, _ = np.histogram(ious, bins=edges)
        cats = [f"{edges[i]:.1f}" for i in range(10)]
        figures.append(
            Figure(
                "top1_iou_histogram",
                "Top-1 IoU distribution",
                svg_bar_chart(
                    cats,
                    {"queries": [float(c) for c in counts]},
                    title="Top-1 IoU (bin start)",
                    y_label="queries",
                    y_max=None,
                ),
            )
        )
    return Report(title, tables=tuple(tables), figures=tuple(figures))


_RANK_BINS: tuple[tuple[str, int, float], ...] = (
    ("1", 1, 1),
    ("2-5", 2, 5),
    ("6-10", 6, 10),
    ("11-50", 11, 50),
    ("51-100", 51, 100),
    (">100", 101, math.inf),
)


def retrieval_report(
    record: Mapping[str, Any],
    t2v_ranks: Sequence[int],
    v2t_ranks: Sequence[int],
    *,
    title: str = "Text-video retrieval",
) -> Report:
    """Report of a retrieval record: metrics table and a rank histogram for both directions."""
    metrics = record["metrics"]
    keys = list(metrics["t2v"])
    tables = [
        Table(
            "Metrics",
            ("direction", *keys),
            tuple((d, *(_cell(metrics[d][k]) for k in keys)) for d in ("t2v", "v2t")),
        ),
        _record_table(record),
    ]
    share = {}
    for name, ranks in (("text->video", t2v_ranks), ("video->text", v2t_ranks)):
        r = np.asarray(ranks)
        share[name] = [
            100 * float(np.mean((r >= lo) & (r <= hi))) if r.size else 0.0
            for _, lo, hi in _RANK_BINS
        ]
    figure = svg_bar_chart(
        [b[0] for b in _RANK_BINS], share, title="Rank of the correct item", y_label="% of queries"
    )
    return Report(
        title, tables=tuple(tables), figures=(Figure("rank_histogram", "Rank histogram", figure),)
    )


def classification_report(
    record: Mapping[str, Any],
    confusion: Any,
    class_names: Sequence[str] | None = None,
    *,
    title: str = "Classification",
) -> Report:
    """Report of a classification record: metrics, and the confusion matrix (heatmap up to 40
    classes, else a table of the 20 most frequent confusions)."""
    m = np.asarray(confusion)
    names = list(class_names) if class_names is not None else [str(i) for i in range(len(m))]
    if len(names) != len(m):
        raise EvaluationError(f"{len(names)} class names for a {len(m)}-class confusion matrix")
    metrics = record["metrics"]
    tables = [
        Table("Metrics", ("metric", "value"), tuple((k, _cell(v)) for k, v in metrics.items()))
    ]
    figures = []
    if len(m) <= _MAX_HEATMAP_CLASSES:
        figures.append(
            Figure(
                "confusion_matrix",
                "Confusion matrix (row-normalised)",
                svg_heatmap(m, names, title="Confusion matrix"),
            )
        )
    else:
        off = m.copy()
        np.fill_diagonal(off, 0)
        flat = np.argsort(-off, axis=None, kind="stable")[:20]
        rows = [
            (names[i], names[j], str(int(off[i, j])))
            for i, j in zip(*np.unravel_index(flat, off.shape), strict=True)
            if off[i, j]
        ]
        tables.append(
            Table("Most frequent confusions", ("true", "predicted", "videos"), tuple(rows))
        )
    tables.append(_record_table(record))
    return Report(title, tables=tuple(tables), figures=tuple(figures))


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(table: Table) -> list[str]:
    lines = [
        f"## {table.title}",
        "",
        "| " + " | ".join(_md_escape(h) for h in table.header) + " |",
        "|" + "---|" * len(table.header),
    ]
    lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in table.rows]
    return [*lines, ""]


def _html_table(table: Table) -> str:
    esc = html.escape
    rows = ["<tr>" + "".join(f"<th>{esc(h)}</th>" for h in table.header) + "</tr>"]
    rows += ["<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in table.rows]
    return f"<h2>{esc(table.title)}</h2>\n<table>\n" + "\n".join(rows) + "\n</table>"


def render_markdown(
    report: Report, *, figure_dir: str = "report_figures"
) -> tuple[str, dict[str, str]]:
    """Markdown text and the figure files it links: ``{relative path: svg text}``."""
    lines = [f"# {report.title}", ""]
    lines += [f"{note}\n" for note in report.notes]
    files: dict[str, str] = {}
    # The first table (the headline numbers) comes before the figures, the details after.
    for table in report.tables[:1]:
        lines += _md_table(table)
    for fig in report.figures:
        rel = f"{figure_dir}/{fig.name}.svg"
        files[rel] = fig.svg
        lines += [f"![{_md_escape(fig.title)}]({rel})", ""]
    for table in report.tables[1:]:
        lines += _md_table(table)
    return "\n".join(lines), files


def render_html(report: Report) -> str:
    """One self-contained HTML page with the figures inlined as SVG."""
    esc = html.escape
    body = [f"<h1>{esc(report.title)}</h1>"]
    body += [f"<p>{esc(note)}</p>" for note in report.notes]
    body += [_html_table(t) for t in report.tables[:1]]
    body.append('<div class="figures">')
    body += [
        f"<figure>{fig.svg}<figcaption>{esc(fig.title)}</figcaption></figure>"
        for fig in report.figures
    ]
    body.append("</div>")
    body += [_html_table(t) for t in report.tables[1:]]
    style = (
        "body{font-family:sans-serif;margin:2em;max-width:1100px}"
        "table{border-collapse:collapse;margin-bottom:1em}"
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:left;font-size:13px}"
        ".figures{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0}"
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(report.title)}</title><style>{style}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def write_report(report: Report, out_dir: str | Path, fmt: str) -> Path:
    """Write ``report.md`` (+ ``report_figures/*.svg``) or ``report.html`` into ``out_dir``."""
    if fmt not in REPORT_FORMATS:
        raise EvaluationError(
            f"unknown report format {fmt!r}; choose one of {', '.join(REPORT_FORMATS)}"
        )
    out = Path(out_dir)
    try:
        if fmt == "html":
            path = out / "report.html"
            _write_atomic(path, render_html(report))
            return path
        text, files = render_markdown(report)
        for rel, svg in files.items():
            _write_atomic(out / rel, svg + "\n")
        path = out / "report.md"
        _write_atomic(path, text)
    except OSError as err:
        raise EvaluationError(f"cannot write the report into {out}: {err}") from err
    return path
