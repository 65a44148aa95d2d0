"""i2v_background: DreamSim's ensemble embedding (own code) on the files of the reference classes.

The tiny DreamSim files in ``tests/fixtures/vbench_parity/cache/dreamsim_model/`` were made in the VBench side venv
by DINO's and DreamSim's own ViT classes and peft's ``save_pretrained`` (benchmarks/vbench_parity_dreamsim.py);
VBench++'s numbers on them are checked in tests/test_metrics_parity.py. ``fixtures/dreamsim_state_dict_keys.txt``
lists every key and shape of the full-size files the same code makes (ViT-B/16 x 3, LoRA r 16).
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from analysis.metrics import dreamsim as ds
from analysis.metrics import evaluate
from analysis.metrics import synthetic as syn
from analysis.metrics.backbones import ViTConfig
from analysis.metrics.weights import DIMENSION_WEIGHTS, WEIGHT_FILES, load_state_dict, weight_path

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PARITY = FIXTURES / "vbench_parity"
KEYS = FIXTURES / "dreamsim_state_dict_keys.txt"
REFERENCE = json.loads((PARITY / "vbench_reference.json").read_text())["i2v_background"]
CLIPS = sorted(PARITY.glob("*.mp4"))


@pytest.fixture(scope="module")
def model() -> ds.DreamSimEnsemble:
    return ds.load_dreamsim(PARITY / "cache", verify=False)


def _scores(videos: list[Path], model: ds.DreamSimEnsemble, **kwargs: object) -> pd.DataFrame:
    return evaluate(
        [str(v) for v in videos],
        ["i2v_background"],
        device="cpu",
        progress=False,
        verify_weights=False,
        networks={ds.BACKEND: model},
        **kwargs,
    )


def test_full_size_keys_and_shapes_match_the_reference_files() -> None:
    # DreamSim's released layout at full size, taken from files made by the reference classes
    files: dict[str, dict[str, tuple[int, ...]]] = {}
    for line in KEYS.read_text().splitlines():
        if line.startswith("#"):
            continue
        name, key, shape = line.split("\t")
        files.setdefault(name, {})[key] = tuple(int(s) for s in shape.split("x"))
    b16 = ViTConfig(patch=16, width=768, depth=12, heads=12, grid=14)
    clip = ViTConfig(patch=16, width=768, depth=12, heads=12, grid=14, out_dim=512)
    with torch.device("meta"):
        ours = ds.DreamSimEnsemble((b16, clip, clip), rank=16, scaling=0.5)
    got = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    want = {}
    for i, name in enumerate(ds.FILES[:3]):
        relpath = WEIGHT_FILES[name].relpath.removeprefix("dreamsim_model/")
        for key, shape in files[relpath].items():
            want[f"extractor_list.{i}.{key}" if key == "proj" else f"extractor_list.{i}.model.{key}"] = shape
    adapter = files["ensemble_lora/adapter_model.safetensors"]
    assert len(adapter) == 3 * 12 * 2  # lora_A and lora_B on every block's qkv of the three backbones
    want.update({k.removeprefix(ds.ADAPTER_PREFIX): v for k, v in adapter.items()})
    assert got == want


def test_reference_files_load_strictly(model: ds.DreamSimEnsemble) -> None:
    folder = PARITY / "cache" / "dreamsim_model"
    adapter = ds.read_safetensors(folder / "ensemble_lora" / "adapter_model.safetensors")
    assert all(k.startswith("base_model.model.extractor_list.") for k in adapter)
    rank, scaling = ds.lora_settings(json.loads((folder / "ensemble_lora" / "adapter_config.json").read_text()))
    assert (rank, scaling) == (4, 1.0)
    qkv = model.extractor_list[2].model.blocks[11].attn.qkv
    torch.testing.assert_close(
        qkv.lora_B.weight, adapter["base_model.model.extractor_list.2.model.blocks.11.attn.qkv.lora_B.weight"]
    )
    # a key too many or too few is refused
    sds = tuple(load_state_dict(weight_path(k, PARITY / "cache")) for k in ds.FILES[:3])
    config = {"r": 4, "lora_alpha": 4, "target_modules": ["qkv"]}
    with pytest.raises(RuntimeError, match="Missing key"):
        ds.ensemble_from_state_dicts(sds, {k: v for k, v in adapter.items() if "blocks.3." not in k}, config)
    with pytest.raises(ValueError, match="unexpected key"):
        ds.ensemble_from_state_dicts(sds, {**adapter, "extra.weight": torch.zeros(1)}, config)
    with pytest.raises(ValueError, match="targets"):
        ds.ensemble_from_state_dicts(sds, adapter, {**config, "target_modules": ["qkv", "proj"]})


def test_embedding_is_centred_unit_length_and_lora_matters(model: ds.DreamSimEnsemble) -> None:
    x = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        e = model(x)
        assert e.shape == (1, 16 + 8 + 8)
        assert abs(float(e.mean())) < 1e-6 and abs(float(e.norm()) - 1) < 1e-6
        for extractor in model.extractor_list:
            for block in extractor.model.blocks:
                block.attn.qkv.scaling = 0.0
        try:
            plain = model(x)
        finally:
            for extractor in model.extractor_list:
                for block in extractor.model.blocks:
                    block.attn.qkv.scaling = 1.0
    assert float((e - plain).abs().max()) > 1e-2


def test_safetensors_reader(tmp_path: Path) -> None:
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.array([1.5, -2.0], dtype=np.float16)
    header = {
        "__metadata__": {"format": "pt"},
        "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
        "b": {"dtype": "F16", "shape": [2], "data_offsets": [24, 28]},
    }
    raw = json.dumps(header).encode()
    path = tmp_path / "t.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + a.tobytes() + b.tobytes())
    out = ds.read_safetensors(path)
    assert out["a"].tolist() == a.tolist() and out["b"].dtype == torch.float32 and out["b"].tolist() == [1.5, -2.0]
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + a.tobytes())  # truncated
    with pytest.raises(RuntimeError, match="outside the file"):
        ds.read_safetensors(path)


def test_weights_registered_with_dreamsims_layout() -> None:
    assert DIMENSION_WEIGHTS["i2v_background"] == ds.FILES
    for key in ds.FILES:
        assert WEIGHT_FILES[key].relpath.startswith("dreamsim_model/")
    assert WEIGHT_FILES["dreamsim_dino_vitb16"].url == WEIGHT_FILES["dino_vitb16"].url
    for key in ds.FILES[1:]:
        spec = WEIGHT_FILES[key]
        assert spec.url.endswith("/v0.2.0-checkpoints/dreamsim_ensemble_checkpoint.zip")
        assert spec.relpath == f"dreamsim_model/{spec.archive_member}" and spec.sha256 is None


def test_matches_an_independent_per_frame_loop(model: ds.DreamSimEnsemble) -> None:
    from analysis.metrics.video import read_frames

    video = PARITY / "moving-0.mp4"
    frame = _scores([video], model)
    with torch.inference_mode():
        image = torch.nn.functional.normalize(model(ds.dreamsim_image(str(video.with_suffix(".png")))).double())
        feats = [
            torch.nn.functional.normalize(
                model(ds.dreamsim_transform(torch.from_numpy(f).permute(2, 0, 1)[None].float())).double()
            )
            for f in read_frames(str(video))
        ]
    conform = [max(0.0, float((image * f).sum())) for f in feats]
    consec = [max(0.0, float((a * b).sum())) for a, b in zip(feats[:-1], feats[1:], strict=True)]
    want = 0.4 * max(conform) + 0.3 * float(np.mean(consec)) + 0.3 * min(consec)
    assert abs(float(frame.score.iloc[0]) - want) < 1e-12
    assert abs(want - REFERENCE["videos"]["moving-0.mp4"]) < 1e-6


@pytest.fixture(scope="module")
def base(model: ds.DreamSimEnsemble) -> pd.DataFrame:
    return _scores(CLIPS[:2], model, batch_size=1)


@pytest.mark.parametrize(("batch_size", "threads"), [(4, 1), (1, 2)])
def test_scores_do_not_depend_on_batch_size_or_threads(
    model: ds.DreamSimEnsemble, base: pd.DataFrame, batch_size: int, threads: int
) -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        other = _scores(CLIPS[:2], model, batch_size=batch_size, chunk_frames=3)
    finally:
        torch.set_num_threads(before)
    pd.testing.assert_frame_equal(other, base, check_exact=True)
    assert other.attrs["aggregates"] == base.attrs["aggregates"]


def test_parity_fixture_sees_a_missing_lora(monkeypatch: pytest.MonkeyPatch) -> None:
    # The frozen VBench++ numbers must be sensitive to the fine-tuning, or they could not guard it.
    monkeypatch.setattr(ds.LoraLinear, "forward", lambda self, x: torch.nn.functional.linear(x, self.weight, self.bias))
    frame = _scores(CLIPS[:2], ds.load_dreamsim(PARITY / "cache", verify=False))  # flicker, moving
    worst = max(abs(s - REFERENCE["videos"][Path(v).name]) for v, s in zip(frame.video, frame.score, strict=True))
    assert worst > 1e-5


def test_missing_file_gives_one_line_reason_naming_it(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    shutil.copytree(PARITY / "cache" / "dreamsim_model", cache / "dreamsim_model")
    (cache / "dreamsim_model" / "ensemble_lora" / "adapter_model.safetensors").unlink()
    frame = evaluate([str(CLIPS[0])], ["i2v_background"], device="cpu", cache_dir=cache, progress=False)
    assert frame.status.tolist() == ["failed"]
    error = frame.error.iloc[0]
    assert "adapter_model.safetensors" in error and "\n" not in error
    assert "i2v_background" in frame.attrs["unavailable"]


def test_bad_inputs_fail_per_video(tmp_path: Path, model: ds.DreamSimEnsemble) -> None:
    rng = np.random.default_rng(3)
    one = tmp_path / "one-0.mp4"
    syn.write_video(one, rng.integers(0, 256, (1, 64, 80, 3), dtype=np.uint8), fps=8, codec="libx264")
    Image.new("RGB", (80, 64)).save(one.with_suffix(".png"))
    no_image = tmp_path / "noimage-0.mp4"
    syn.write_video(no_image, rng.integers(0, 256, (3, 64, 80, 3), dtype=np.uint8), fps=8, codec="libx264")
    bad_image = tmp_path / "badimage-0.mp4"
    shutil.copy(no_image, bad_image)
    bad_image.with_suffix(".png").write_bytes(b"not a png")
    good = tmp_path / "good-0.mp4"
    shutil.copy(no_image, good)
    Image.new("L", (50, 90), color=128).save(good.with_suffix(".png"))  # greyscale, another size: read as RGB
    frame = _scores([one, no_image, bad_image, good], model).set_index("video")
    status = {Path(v).stem: (s, e) for v, s, e in zip(frame.index, frame.status, frame.error, strict=True)}
    assert status["one-0"][0] == "skipped" and "too short" in status["one-0"][1]
    assert status["noimage-0"][0] == "failed" and "no input image" in status["noimage-0"][1]
    assert status["badimage-0"][0] == "failed" and "cannot read input image" in status["badimage-0"][1]
    assert status["good-0"][0] == "ok" and 0 <= frame.loc[str(good), "score"] <= 1
