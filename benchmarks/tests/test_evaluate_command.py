"""`manage.py evaluate` on a small generated dataset (coloured patterns per group)."""

import csv
import json

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from PIL import Image, ImageDraw

PATTERNS = ["stripes", "rings", "checks", "diagonals"]


def _pattern(group, view):
    """Each group is a distinct drawing; its views are shifted, brighter copies."""
    image = Image.new("RGB", (360, 240), (30 + 50 * group, 90, 160 - 30 * group))
    draw = ImageDraw.Draw(image)
    kind = PATTERNS[group]
    for i in range(12):
        if kind == "stripes":
            draw.rectangle([30 * i, 0, 30 * i + 12, 240], fill=(250, 250, 250))
        elif kind == "rings":
            draw.ellipse(
                [180 - 15 * i, 120 - 15 * i, 180 + 15 * i, 120 + 15 * i], outline=(0, 0, 0), width=5
            )
        elif kind == "checks":
            for j in range(8):
                if (i + j) % 2:
                    draw.rectangle([30 * i, 30 * j, 30 * i + 30, 30 * j + 30], fill=(255, 220, 0))
        else:
            draw.line([30 * i - 120, 0, 30 * i, 240], fill=(0, 0, 0), width=8)
    shifted = image.crop((10 * view, 0, 10 * view + 320, 240))
    return Image.fromarray(
        (np.asarray(shifted, dtype=np.int16) + 10 * view).clip(0, 255).astype(np.uint8)
    )


@pytest.fixture
def dataset(tmp_path):
    rows = []
    for group in range(4):
        for view in range(3):
            name = f"images/{group}_{view}.jpg"
            (tmp_path / "images").mkdir(exist_ok=True)
            _pattern(group, view).save(tmp_path / name, quality=90)
            rows.append({"path": name, "group_id": group, "chain_id": group % 2})
    with open(tmp_path / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["path", "group_id", "chain_id"])
        writer.writeheader()
        writer.writerows(rows)
    return tmp_path


def _run(*args):
    out = []

    class Sink:
        def write(self, text):
            out.append(text)

        def flush(self):
            pass

    call_command("evaluate", *args, stdout=Sink())
    return "".join(out)


def test_json_has_expected_keys_and_sane_values(dataset):
    result = json.loads(_run("--dataset", str(dataset), "--occlusion", "none,medium", "--json"))
    assert result["images"] == 12 and result["queries"] == 12  # no query column: all queries
    clean = result["levels"]["none"]
    assert clean["map"] > 0.8 and clean["top1"] > 0.8
    assert set(clean) >= {"map", "top1", "top10", "top100", "chain_top1", "chain_top3"}
    medium = result["levels"]["medium"]
    assert 0.25 < medium["coverage"] < 0.4
    for variant in ("grey", "masked"):
        assert 0 <= medium[variant]["map"] <= 1
    assert result["model_version"]["key"].startswith("efficientnet-lite1:")


def test_table_by_default(dataset):
    table = _run("--dataset", str(dataset), "--limit", "6")
    assert "mAP" in table and "none" in table


def test_bad_dataset_dir_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="manifest.csv"):
        _run("--dataset", str(tmp_path))


def test_manifest_without_group_column_is_a_command_error(tmp_path):
    (tmp_path / "manifest.csv").write_text("path\nimages/a.jpg\n")
    with pytest.raises(CommandError, match="group_id"):
        _run("--dataset", str(tmp_path))


def test_unknown_occlusion_level_is_a_command_error(dataset):
    with pytest.raises(CommandError, match="occlusion"):
        _run("--dataset", str(dataset), "--occlusion", "huge")


def test_reduce_ranks_by_a_projection_learned_on_the_dataset(dataset):
    result = json.loads(_run("--dataset", str(dataset), "--reduce", "4", "--json", "--no-rerank"))
    assert result["reduction"]["dim"] == 4
    assert 0.5 < result["reduction"]["kept"] <= 1.0
    assert result["levels"]["none"]["map"] > 0.8  # four distinct drawings fit in four dims


def test_reduce_beyond_the_dataset_is_a_command_error(dataset):
    with pytest.raises(CommandError, match="--reduce must be between 1 and 11"):
        _run("--dataset", str(dataset), "--reduce", "12")


@pytest.mark.parametrize("protocol", ["known", "unseen"])
def test_learned_whitening_is_fitted_without_the_queries(dataset, protocol):
    result = json.loads(
        _run("--dataset", str(dataset), "--learned", protocol, "--json", "--no-rerank")
    )
    assert result["learned"]["protocol"] == f"{protocol} hotels"
    assert result["learned"]["folds"] == 5 and result["learned"]["fit_on"] == "this dataset"
    assert result["levels"]["none"]["top1"] > 0.8


def test_learned_whitening_fitted_on_another_set(dataset, tmp_path_factory):
    other = tmp_path_factory.mktemp("other")
    (other / "images").mkdir()
    rows = ["path,group_id"]
    for group in range(4):
        for view in range(2):
            _pattern(group, view + 1).save(other / f"images/{group}_{view}.jpg")
            rows.append(f"images/{group}_{view}.jpg,{group}")
    (other / "manifest.csv").write_text("\n".join(rows) + "\n")
    result = json.loads(_run("--dataset", str(dataset), "--fit-on", str(other), "--json"))
    assert result["learned"]["folds"] == 1 and result["learned"]["fit_on"] == other.name


def test_descriptor_levers_change_the_version(dataset):
    args = ("--dataset", str(dataset), "--limit", "4", "--json", "--no-rerank")
    result = json.loads(_run(*args, "--normalisation", "tf", "--resolution", "256"))
    assert result["model_version"]["key"].endswith(":gem1-256-tf:d1280")


def test_splits_need_numeric_groups(dataset):
    result = json.loads(_run("--dataset", str(dataset), "--json", "--no-rerank"))
    splits = result["levels"]["none"]["splits"]
    assert splits["A"]["queries"] == 6 and splits["B"]["queries"] == 6  # groups 0, 2 / 1, 3


def test_multi_compares_fusions_of_photo_sets(dataset):
    result = json.loads(_run("--dataset", str(dataset), "--multi", "2", "--json"))
    assert result["sets"] == 4 * 3 and result["photos_per_set"] == 2  # 3 draws per group
    assert set(result["fusions"]) == {"single", "mean_floor", "mean_full", "max", "descriptor"}
    # Each group's patterns are distinct: two of its views find it, fused or alone.
    assert result["fusions"]["mean_floor"]["top1"] == 1.0
    assert all(0 <= m["top10"] <= 1 for m in result["fusions"].values())


def test_multi_needs_sets_the_dataset_can_form(dataset):
    with pytest.raises(CommandError, match="at least 2"):
        _run("--dataset", str(dataset), "--multi", "1")
    with pytest.raises(CommandError, match="no group has 6 photos"):
        _run("--dataset", str(dataset), "--multi", "5")
