#!/usr/bin/env python3
"""Reference outputs of the Hugging Face Qwen3-VL image/video processor for weft's Rust port.

Runs transformers 4.57.6 (`Qwen2VLImageProcessorFast` for images, `Qwen3VLVideoProcessor` for
videos, both loaded with the Auto classes from a model folder exactly as `AutoProcessor` does)
on small crops of the real photos in `examples/data/photos`, on the full photos, and on a short
synthetic clip, and writes the fixtures read by `inference/src/processor/tests.rs`:

    inference/tests/fixtures/processor/
      released/, small/          model folders (preprocessor_config.json, video_preprocessor_config.json)
      inputs/*.png               the crops (lossless, so the Rust side decodes the same pixels)
      expected.json              per case: grid, shape, SHA-256 of pixel_values (f32 LE), sampled values;
                                 frame indices and patch timestamps for (total, fps) pairs
      pixel_values.safetensors   full pixel_values of the three small crops (f32)

Run with the parity venv:

    /root/.cache/weft/parity-venv/bin/python tools/parity/processor_reference.py

`--full DIR` additionally dumps the full pixel_values of every case as `DIR/<case>.f32` (for
measuring max |Δ| against the Rust output; not committed).

It also checks which resize kernel the reference runs: the processor output must equal
torchvision's `F.resize` on the uint8 tensor (bicubic, antialias) followed by the fused
rescale/normalize, and it reports how far the float path (resize in f32, clamp, round) would be.
"""

import argparse
import hashlib
import json
import struct
import sys
from pathlib import Path

import numpy as np
import torch
import transformers
from PIL import Image
from safetensors.numpy import save_file
from torchvision.transforms.v2 import functional as F
from transformers import AutoImageProcessor, AutoVideoProcessor
from transformers.models.qwen3_vl.processing_qwen3_vl import Qwen3VLProcessor
from transformers.video_utils import VideoMetadata

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = ROOT / "examples" / "data" / "photos"
DEFAULT_OUT = ROOT / "inference" / "tests" / "fixtures" / "processor"

# Released Qwen3-VL processor configs (Qwen/Qwen3-VL-*-Instruct on the Hub).
RELEASED_IMAGE = {
    "size": {"longest_edge": 16777216, "shortest_edge": 65536},
    "patch_size": 16,
    "temporal_patch_size": 2,
    "merge_size": 2,
    "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5],
    "processor_class": "Qwen3VLProcessor",
    "image_processor_type": "Qwen2VLImageProcessorFast",
}
RELEASED_VIDEO = {
    "size": {"longest_edge": 25165824, "shortest_edge": 4096},
    "patch_size": 16,
    "temporal_patch_size": 2,
    "merge_size": 2,
    "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5],
    "processor_class": "Qwen3VLProcessor",
    "video_processor_type": "Qwen3VLVideoProcessor",
}
# Same processor with tight pixel bounds, so that small crops (and small expected outputs)
# exercise no-resize, downscaling and upscaling, and full photos a ~10x antialiased downscale.
# CLIP mean/std make the normalisation constants non-trivial.
SMALL_IMAGE = dict(
    RELEASED_IMAGE,
    size={"longest_edge": 4096, "shortest_edge": 1024},
    image_mean=[0.48145466, 0.4578275, 0.40821073],
    image_std=[0.26862954, 0.26130258, 0.27577711],
)
SMALL_VIDEO = dict(
    RELEASED_VIDEO,
    size={"longest_edge": 6 * 4096, "shortest_edge": 1024},
    image_mean=SMALL_IMAGE["image_mean"],
    image_std=SMALL_IMAGE["image_std"],
)

# (name, model folder, source photo, crop box (left, top, width, height) or None for the full
#  photo, store full pixel_values)
IMAGE_CASES = [
    ("astronaut_noresize", "small", "astronaut.jpg", (200, 150, 64, 32), True),
    ("coffee_down", "small", "coffee.jpg", (300, 150, 150, 100), True),
    ("chelsea_up", "small", "chelsea.jpg", (200, 120, 50, 20), True),
    ("rocket_up", "released", "rocket.jpg", (300, 200, 100, 60), False),
    ("astronaut_full", "released", "astronaut.jpg", None, False),
    ("camera_full", "released", "camera.png", None, False),
    ("coins_full", "released", "coins.png", None, False),
    ("rocket_full", "released", "rocket.jpg", None, False),
    ("coffee_full", "released", "coffee.jpg", None, False),
    ("chelsea_full", "released", "chelsea.jpg", None, False),
    ("rocket_small", "small", "rocket.jpg", None, False),
    ("coins_small", "small", "coins.png", None, False),
]

# (name, model folder, frames, width, height)
VIDEO_CASES = [
    ("synthetic_5f", "released", 5, 100, 70),
    ("synthetic_8f_small", "small", 8, 150, 90),
]

# (total_frames, video_fps) pairs for frame sampling.
SAMPLING_CASES = [
    (10, 10.0),
    (20, 10.0),
    (3, 30.0),
    (300, 29.97),
    (301, 30.0),
    (1000, 23.976),
    (7, 1.0),
    (100000, 30.0),
    (57, 25.0),
    (1, 24.0),
]

SAMPLES = 97  # values sampled from each pixel_values for tolerance checks


def synthetic_frame(t, width, height):
    """Deterministic RGB frame; `synthetic_frame` in the Rust tests computes the same pixels."""
    y, x = np.mgrid[0:height, 0:width].astype(np.int64)
    r = (x * x + 3 * y + 17 * t) % 256
    g = ((x ^ y) + 9 * t) % 256
    b = (((x * y) >> 3) + 31 * t) % 256
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


def sha256_f32(a):
    return hashlib.sha256(np.ascontiguousarray(a, dtype="<f4").tobytes()).hexdigest()


def f64_bits(xs):
    """Exact bit patterns of floats (JSON float parsers may be 1 ulp off)."""
    return [struct.unpack("<Q", struct.pack("<d", x))[0] for x in xs]


def sample(a):
    """`SAMPLES` evenly spaced (flat index, value) pairs, as two lists."""
    flat = a.reshape(-1)
    idx = np.linspace(0, flat.size - 1, SAMPLES).round().astype(np.int64)
    return {"index": [int(i) for i in idx], "value": [float(flat[i]) for i in idx]}


def dump_json(expected):
    """Readable but compact: one line per case."""
    head = {k: v for k, v in expected.items() if not isinstance(v, list)}
    parts = [json.dumps(head)[:-1]]
    for key in ("images", "videos", "sampling"):
        rows = ",\n  ".join(json.dumps(case, separators=(",", ":")) for case in expected[key])
        parts.append(f', "{key}": [\n  {rows}\n ]')
    return "".join(parts) + "}\n"


def patchify(x, t, p, m):
    """(frames, C, H, W) float -> [gt*gh*gw, C*t*p*p] in the reference's order."""
    n, c, h, w = x.shape
    if n % t:
        x = torch.cat([x, x[-1:].repeat(t - n % t, 1, 1, 1)])
    gt, gh, gw = x.shape[0] // t, h // p, w // p
    x = x.view(gt, t, c, gh // m, m, p, gw // m, m, p).permute(0, 3, 6, 4, 7, 2, 1, 5, 8)
    return x.reshape(gt * gh * gw, c * t * p * p)


def independent(proc, frames_u8, size):
    """The reference pipeline rebuilt from torchvision primitives, to name the resize kernel."""
    h, w = size
    x = frames_u8
    if (h, w) != tuple(x.shape[-2:]):
        x = F.resize(x, [h, w], interpolation=F.InterpolationMode.BICUBIC, antialias=True)
    scale = 1.0 / proc.rescale_factor
    mean = torch.tensor(proc.image_mean) * scale
    std = torch.tensor(proc.image_std) * scale
    x = (x.to(torch.float32) - mean.view(-1, 1, 1)) / std.view(-1, 1, 1)
    return patchify(x, proc.temporal_patch_size, proc.patch_size, proc.merge_size)


def float_path_diff(frames_u8, size):
    """Max difference in uint8 levels between the uint8 kernel and the float kernel + round."""
    h, w = size
    if (h, w) == tuple(frames_u8.shape[-2:]):
        return 0
    a = F.resize(frames_u8, [h, w], interpolation=F.InterpolationMode.BICUBIC, antialias=True)
    b = F.resize(frames_u8.float(), [h, w], interpolation=F.InterpolationMode.BICUBIC, antialias=True)
    b = b.clamp(0, 255).round().to(torch.uint8)
    return int((a.int() - b.int()).abs().max())


def write_model_dir(path, image_cfg, video_cfg):
    path.mkdir(parents=True, exist_ok=True)
    (path / "preprocessor_config.json").write_text(json.dumps(image_cfg, indent=2) + "\n")
    (path / "video_preprocessor_config.json").write_text(json.dumps(video_cfg, indent=2) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--full", type=Path, help="also dump every case's pixel_values as DIR/<case>.f32")
    args = ap.parse_args()
    out = args.out
    (out / "inputs").mkdir(parents=True, exist_ok=True)
    if args.full:
        args.full.mkdir(parents=True, exist_ok=True)

    write_model_dir(out / "released", RELEASED_IMAGE, RELEASED_VIDEO)
    write_model_dir(out / "small", SMALL_IMAGE, SMALL_VIDEO)
    image_procs = {d: AutoImageProcessor.from_pretrained(out / d) for d in ("released", "small")}
    video_procs = {d: AutoVideoProcessor.from_pretrained(out / d) for d in ("released", "small")}
    for p in image_procs.values():
        assert type(p).__name__ == "Qwen2VLImageProcessorFast", type(p)
    for p in video_procs.values():
        assert type(p).__name__ == "Qwen3VLVideoProcessor", type(p)

    expected = {
        "generator": "tools/parity/processor_reference.py",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "images": [],
        "videos": [],
        "sampling": [],
    }
    tensors = {}

    for name, model, photo, box, store in IMAGE_CASES:
        src = Image.open(PHOTOS / photo)
        if box is not None:
            left, top, w, h = box
            crop = src.convert("RGB").crop((left, top, left + w, top + h))
            rel = f"inputs/{name}.png"
            crop.save(out / rel, optimize=True)
            image = Image.open(out / rel)  # decode what the Rust side decodes
        else:
            rel = f"../../../../examples/data/photos/{photo}"
            image = src
        proc = image_procs[model]
        res = proc(images=[image], return_tensors="pt")
        pv = res["pixel_values"].numpy()
        grid = res["image_grid_thw"][0].tolist()
        rgb = torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1).contiguous()
        size = (grid[1] * proc.patch_size, grid[2] * proc.patch_size)
        mine = independent(proc, rgb[None], size).numpy()
        assert np.array_equal(mine, pv), f"{name}: processor is not torchvision uint8 resize + normalize"
        case = {
            "name": name,
            "model": model,
            "input": rel,
            "input_rgb_sha256": hashlib.sha256(rgb.permute(1, 2, 0).contiguous().numpy().tobytes()).hexdigest(),
            "input_size": [image.width, image.height],
            "grid_thw": grid,
            "shape": list(pv.shape),
            "sha256": sha256_f32(pv),
            "samples": sample(pv),
            "float_kernel_max_level_diff": float_path_diff(rgb[None], size),
        }
        expected["images"].append(case)
        if store:
            tensors[name] = np.ascontiguousarray(pv, dtype=np.float32)
        if args.full:
            np.ascontiguousarray(pv, dtype="<f4").tofile(args.full / f"{name}.f32")
            rgb.permute(1, 2, 0).contiguous().numpy().tofile(args.full / f"{name}.rgb")
        print(f"{name}: {image.width}x{image.height} -> grid {grid}, float kernel diff {case['float_kernel_max_level_diff']}")

    for name, model, n, w, h in VIDEO_CASES:
        frames = np.stack([synthetic_frame(t, w, h) for t in range(n)])  # (T, H, W, C)
        proc = video_procs[model]
        res = proc(videos=[frames], do_sample_frames=False, return_tensors="pt")
        pv = res["pixel_values_videos"].numpy()
        grid = res["video_grid_thw"][0].tolist()
        size = (grid[1] * proc.patch_size, grid[2] * proc.patch_size)
        mine = independent(proc, torch.from_numpy(frames).permute(0, 3, 1, 2).contiguous(), size).numpy()
        assert np.array_equal(mine, pv), f"{name}: video processor differs from uint8 resize + normalize"
        fps = 10.0
        indices = list(range(n))
        # `_calculate_timestamps` pads a list argument in place: hand it a copy.
        times = Qwen3VLProcessor._calculate_timestamps(None, list(indices), fps, proc.merge_size)
        expected["videos"].append(
            {
                "name": name,
                "model": model,
                "frames": n,
                "width": w,
                "height": h,
                "fps": fps,
                "grid_thw": grid,
                "shape": list(pv.shape),
                "sha256": sha256_f32(pv),
                "samples": sample(pv),
                "patch_times": times,
                "patch_times_bits": f64_bits(times),
            }
        )
        if args.full:
            np.ascontiguousarray(pv, dtype="<f4").tofile(args.full / f"{name}.f32")
        print(f"{name}: {n} frames {w}x{h} -> grid {grid}")

    vp = video_procs["released"]
    for total, fps in SAMPLING_CASES:
        meta = VideoMetadata(total_num_frames=total, fps=fps)
        indices = vp.sample_frames(meta).tolist()
        times = Qwen3VLProcessor._calculate_timestamps(None, list(indices), fps, vp.merge_size)
        expected["sampling"].append(
            {
                "total_frames": total,
                "video_fps": fps,
                "indices": indices,
                "patch_times": times,
                "patch_times_bits": f64_bits(times),
            }
        )

    save_file(tensors, str(out / "pixel_values.safetensors"))
    (out / "expected.json").write_text(dump_json(expected))
    total = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"wrote {out} ({total / 1024:.0f} KiB)")


if __name__ == "__main__":
    sys.exit(main())
