"""``vidlens eval`` commands, with the group mounted alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from vidlens.eval.cli import eval_group, run_moments

QVH_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "qvhighlights"


def _write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture
def small(tmp_path: Path) -> tuple[Path, Path]:
    truth = [
        {
            "qid": q,
            "duration": 20,
            "relevant_windows": [[0, 8]],
            "relevant_clip_ids": [0, 1],
            "saliency_scores": [[4, 4, 4], [2, 2, 2]],
        }
        for q in (1, 2)
    ]
    preds = [
        {"qid": 1, "pred_relevant_windows": [[0, 8, 0.9]], "pred_saliency_scores": [1.0] + [0] * 9},
        {"qid": 2, "pred_relevant_windows": [[10, 20, 0.9]], "pred_saliency_scores": [0] * 10},
    ]
    return _write(tmp_path / "gt.jsonl", truth), _write(tmp_path / "pred.jsonl", preds)


def test_moments_json_on_golden_files() -> None:
    ann, pred = QVH_DIR / "highlight_val_release.jsonl", QVH_DIR / "sample_val_preds.jsonl"
    if not pred.exists():
        pytest.skip(f"QVHighlights golden files absent from {QVH_DIR}")
    result = CliRunner().invoke(
        eval_group, ["moments", "--annotations", str(ann), "--predictions", str(pred), "--json"]
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    expected = json.loads((QVH_DIR / "sample_metrics_raw.json").read_text())
    assert record["metrics"] == expected
    assert record["settings"]["max_windows"] == 10


def test_moments_table_and_outputs(small: tuple[Path, Path], tmp_path: Path) -> None:
    ann, pred = small
    out = tmp_path / "out"
    args = ["moments", "--annotations", str(ann), "--predictions", str(pred)]
    result = CliRunner().invoke(eval_group, [*args, "--out", str(out), "--report", "html"])
    assert result.exit_code == 0, result.output
    assert "MR-full-mAP" in result.stdout and "full" in result.stdout
    record = json.loads((out / "metrics.json").read_text())
    assert record["metrics"]["full"]["MR-R1"]["0.5"] == 50.0
    assert record["provenance"] == {}
    assert (out / "report.html").read_text().count("<svg") == 4


def test_run_moments_records_provenance(small: tuple[Path, Path], tmp_path: Path) -> None:
    ann, pred = small
    record = run_moments(ann, pred, out_dir=tmp_path / "o", provenance={"encoder": "x"})
    assert json.loads((tmp_path / "o" / "metrics.json").read_text())["provenance"] == {
        "encoder": "x"
    }
    assert record["inputs"]["predictions"]["path"] == str(pred)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--library", "lib"], "no vidlens library at"),
        (["--report", "md"], "a report needs an output folder: add --out DIR"),
    ],
)
def test_moments_config_errors(small: tuple[Path, Path], extra: list[str], message: str) -> None:
    ann, pred = small
    args = ["moments", "--annotations", str(ann)]
    if "--library" not in extra:
        args += ["--predictions", str(pred)]
    result = CliRunner().invoke(eval_group, [*args, *extra])
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_moments_needs_predictions_or_library(small: tuple[Path, Path]) -> None:
    ann, pred = small
    result = CliRunner().invoke(eval_group, ["moments", "--annotations", str(ann)])
    assert result.exit_code == 1 and "give --predictions" in result.output
    result = CliRunner().invoke(
        eval_group,
        ["moments", "--annotations", str(ann), "--predictions", str(pred), "--library", "x"],
    )
    assert result.exit_code == 1 and "not both" in result.output


def test_bad_file_is_a_one_line_error(small: tuple[Path, Path], tmp_path: Path) -> None:
    ann, _ = small
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"qid": 1}\n{oops\n')
    result = CliRunner().invoke(
        eval_group, ["moments", "--annotations", str(ann), "--predictions", str(bad)]
    )
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: {bad}:2: invalid JSON (Expecting property name enclosed in double quotes at "
        "column 2); each line must be one JSON object"
    ]


def test_grounding_command(tmp_path: Path) -> None:
    ann = _write(tmp_path / "gt.jsonl", [{"qid": "a", "relevant_windows": [[0, 10]]}])
    pred = _write(tmp_path / "p.jsonl", [{"qid": "a", "pred_relevant_windows": [[0, 6, 1.0]]}])
    args = ["grounding", "--annotations", str(ann), "--predictions", str(pred)]
    result = CliRunner().invoke(eval_group, [*args, "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["task"] == "grounding"
    assert record["metrics"]["R1@0.5"] == 100.0 and record["metrics"]["R1@0.7"] == 0.0
    assert record["metrics"]["mIoU"] == 60.0

    out = tmp_path / "out"
    result = CliRunner().invoke(
        eval_group, [*args, "--thresholds", "0.5", "--out", str(out), "--report", "md"]
    )
    assert result.exit_code == 0, result.output
    assert "R1@0.5" in result.stdout and "R1@0.3" not in result.stdout
    assert (out / "report.md").exists() and (out / "report_figures" / "r1_by_iou.svg").exists()

    result = CliRunner().invoke(eval_group, [*args, "--thresholds", "high"])
    assert result.exit_code == 1 and "comma-separated numbers" in result.output
