"""Expected prompts for weft's tokenizer tests, computed by transformers 4.57.6 itself.

Why: `ChatTokenizer` must produce exactly what `Qwen3VLProcessor` produces — the rendered chat
template (`apply_chat_template(..., tokenize=False)`) and the expanded `input_ids`
(`processor(text=..., images=..., videos=...)`), video timestamps included. This script
builds the tiny tokenizer (`make_tokenizer.build_tokenizer`), cuts small crops of the bundled
example photos, runs the reference processor on a few conversations and writes
`expected.json` next to the tokenizer. Pixel bounds are small so pad counts stay small.

Usage (from the repository root):
    /root/.cache/weft/parity-venv/bin/python tools/parity/tokenizer_reference.py [OUT_DIR]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import transformers
from PIL import Image
from transformers import Qwen2TokenizerFast, Qwen2VLImageProcessorFast, Qwen3VLProcessor
from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_tokenizer import QWEN3_VL_INSTRUCT_TEMPLATE, build_tokenizer  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = ROOT / "examples/data/photos"

# Processor settings of the fixtures (the released defaults are 65536..16777216 for images).
PROCESSOR = {
    "patch_size": 16,
    "merge_size": 2,
    "temporal_patch_size": 2,
    "image_min_pixels": 4096,
    "image_max_pixels": 8192,
    "video_min_pixels": 4096,
    "video_max_pixels": 65536,
    "video_fps": 2.0,
    "video_min_frames": 4,
    "video_max_frames": 768,
}

# The video: a pan across one crop, frame k = columns [k*STEP, k*STEP + FRAME_W).
FRAMES, FRAME_W, FRAME_H, STEP, SOURCE_FPS = 10, 80, 40, 4, 4.0


def make_media(out: Path) -> dict[str, str]:
    """Crops of the example photos, saved as PNG (lossless, so any decoder sees the same pixels)."""
    media = out / "media"
    media.mkdir(parents=True, exist_ok=True)
    crops = {
        # 100x75: resized to 96x64 (6 tokens).
        "cat.png": ("chelsea.jpg", (120, 60, 220, 135)),
        # 200x60: rounds to 192x64, over image_max_pixels, shrunk to 160x32 (5 tokens).
        "coffee.png": ("coffee.jpg", (180, 170, 380, 230)),
        # 116x40: the video pan, 10 frames of 80x40.
        "pan.png": ("astronaut.jpg", (150, 40, 150 + FRAME_W + STEP * (FRAMES - 1), 40 + FRAME_H)),
    }
    paths = {}
    for name, (src, box) in crops.items():
        img = Image.open(PHOTOS / src).convert("RGB").crop(box)
        img.save(media / name, optimize=True)
        paths[name] = f"media/{name}"
    return paths


def pan_frames(path: Path) -> np.ndarray:
    img = np.asarray(Image.open(path).convert("RGB"))
    return np.stack([img[:, k * STEP : k * STEP + FRAME_W] for k in range(FRAMES)])


def text(t: str) -> dict:
    return {"type": "text", "text": t}


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "inference/tests/fixtures/tokenizer"
    ids = build_tokenizer(out)
    media = make_media(out)

    tokenizer = Qwen2TokenizerFast.from_pretrained(out)
    image_processor = Qwen2VLImageProcessorFast(
        size={"shortest_edge": PROCESSOR["image_min_pixels"], "longest_edge": PROCESSOR["image_max_pixels"]},
        patch_size=PROCESSOR["patch_size"],
        merge_size=PROCESSOR["merge_size"],
        temporal_patch_size=PROCESSOR["temporal_patch_size"],
    )
    video_processor = Qwen3VLVideoProcessor(
        size={"shortest_edge": PROCESSOR["video_min_pixels"], "longest_edge": PROCESSOR["video_max_pixels"]},
        fps=PROCESSOR["video_fps"],
        min_frames=PROCESSOR["video_min_frames"],
        max_frames=PROCESSOR["video_max_frames"],
    )
    processor = Qwen3VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=QWEN3_VL_INSTRUCT_TEMPLATE,
    )

    image = lambda name: {"type": "image", "path": media[name]}  # noqa: E731
    video = {
        "type": "video",
        "pan": media["pan.png"],
        "frames": FRAMES,
        "frame_width": FRAME_W,
        "step": STEP,
        "fps": SOURCE_FPS,
    }
    cases = [
        ("text_only", [{"role": "user", "content": [text("Hello! How many r's are in strawberry?")]}], True),
        (
            "text_no_generation_prompt",
            [
                {"role": "user", "content": [text("Say hi.")]},
                {"role": "assistant", "content": [text("Hi!")]},
            ],
            False,
        ),
        (
            "system_and_image",
            [
                {"role": "system", "content": [text("You are a careful captioner.")]},
                {"role": "user", "content": [image("cat.png"), text("Describe this image.")]},
            ],
            True,
        ),
        (
            "two_images_multi_turn",
            [
                {"role": "user", "content": [text("First: "), image("cat.png"), text(" What animal is it?")]},
                {"role": "assistant", "content": [text("A cat.")]},
                {"role": "user", "content": [image("coffee.png"), image("cat.png"), text("Which one is brighter?")]},
            ],
            True,
        ),
        ("video", [{"role": "user", "content": [video, text("What happens in this clip?")]}], True),
    ]

    results = []
    for name, messages, add_gen in cases:
        # What the template sees: content lists of {"type": ...} dicts, as the processor passes them.
        template_messages = [
            {"role": m["role"], "content": [{"type": c["type"], **({"text": c["text"]} if "text" in c else {})}
                                            for c in m["content"]]}
            for m in messages
        ]
        rendered = processor.apply_chat_template(
            template_messages, tokenize=False, add_generation_prompt=add_gen
        )
        images, videos, metadata = [], [], []
        for m in messages:
            for c in m["content"]:
                if c["type"] == "image":
                    images.append(Image.open(out / c["path"]).convert("RGB"))
                elif c["type"] == "video":
                    videos.append(pan_frames(out / c["pan"]))
                    metadata.append({"total_num_frames": c["frames"], "fps": c["fps"]})
        kwargs = {}
        if videos:
            kwargs = {"videos": videos, "video_metadata": metadata, "do_sample_frames": True,
                      "return_metadata": True}
        enc = processor(text=[rendered], images=images or None, **kwargs)
        case = {
            "name": name,
            "add_generation_prompt": add_gen,
            "messages": messages,
            "text": rendered,
            "input_ids": [int(i) for i in enc["input_ids"][0]],
            "image_grid_thw": enc["image_grid_thw"].tolist() if images else [],
            "video_grid_thw": enc["video_grid_thw"].tolist() if videos else [],
        }
        if videos:
            md = enc["video_metadata"]
            case["video_frame_indices"] = [[int(i) for i in m.frames_indices] for m in md]
            case["video_patch_times"] = [
                processor._calculate_timestamps(m.frames_indices, m.fps, video_processor.merge_size) for m in md
            ]
        results.append(case)

    encode_texts = [
        "Hello, world! 12345 cafe\u0301 猫がソファ",
        "<|im_start|>user\n<think>plan</think><tool_call>{\"a\": 1}</tool_call><|im_end|>",
        "<0.2 seconds><|vision_start|><|video_pad|><|video_pad|><|vision_end|>",
    ]
    encode_cases = []
    for t in encode_texts:
        enc_ids = tokenizer(t)["input_ids"]
        encode_cases.append({
            "text": t,
            "ids": enc_ids,
            "decoded": tokenizer.decode(enc_ids, skip_special_tokens=True),
        })

    expected = {
        "generator": "tools/parity/tokenizer_reference.py",
        "transformers": transformers.__version__,
        "special_ids": ids,
        "processor": PROCESSOR,
        "cases": results,
        "encode": encode_cases,
    }
    (out / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n")
    for case in results:
        print(case["name"], len(case["input_ids"]), case["image_grid_thw"], case["video_grid_thw"])


if __name__ == "__main__":
    main()
