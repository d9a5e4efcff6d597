#!/usr/bin/env python3
"""Reference prompt layouts for weft's video pipeline (`pipelines/video/fixtures/reference/`).

Runs transformers' Qwen3-VL processor (the pinned parity version, 4.57.6) on bundled real clips
and writes, per clip, the prompt the reference builds: `<t.t seconds>` before each temporal
patch, the right number of `<|video_pad|>` per patch, the chat template around it. The Rust
test (`tests/it/prompt_parity.rs`) renders the same conversation from the frames the pipeline
sampled and stored, and must produce the same text.

Settings: the released Qwen3-VL video processor values (fps 2, 4..768 frames, 16 px patches,
merge 2, temporal patch 2, 128·32²..768·32² pixels over all frames); the tokenizer and chat
template of the tiny parity model (`inference/tests/fixtures/parity/two_images/model`, the
released Qwen3-VL template). Frames are decoded with PyAV, as the reference's own loader
does, and sampled by the processor (`do_sample_frames=True`).

Build-time only (parity venv: `bash tools/parity/venv.sh`), never run by tests.
Usage: ~/.cache/weft/parity-venv/bin/python pipelines/video/tools/make_prompt_fixture.py
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import av
import numpy as np
import transformers
from transformers import AutoTokenizer, Qwen3VLProcessor, Qwen3VLVideoProcessor

HERE = Path(__file__).resolve().parent
CRATE = HERE.parent
REPO = CRATE.parent.parent
MODEL = REPO / "inference" / "tests" / "fixtures" / "parity" / "two_images" / "model"
OUT = CRATE / "fixtures" / "reference"
CLIPS = ["bikes.mp4", "carphone.mp4", "cut.mp4"]
QUESTION = "What happens in this video?"


def decode(path: Path) -> tuple[np.ndarray, float]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        fps = float(s.average_rate)
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(s)]
    return np.stack(frames), fps


def main() -> None:
    assert transformers.__version__ == "4.57.6", transformers.__version__
    tok = AutoTokenizer.from_pretrained(MODEL)
    template = json.loads((MODEL / "chat_template.json").read_text())["chat_template"]
    vp = Qwen3VLVideoProcessor(
        size={"shortest_edge": 128 * 32 * 32, "longest_edge": 768 * 32 * 32},
        patch_size=16, temporal_patch_size=2, merge_size=2,
        image_mean=[0.5] * 3, image_std=[0.5] * 3,
        fps=2, min_frames=4, max_frames=768, do_sample_frames=True,
    )
    # The image processor is unused (video only); the tiny model's suffices.
    from transformers import Qwen2VLImageProcessorFast
    ip = Qwen2VLImageProcessorFast(patch_size=16, temporal_patch_size=2, merge_size=2)
    proc = Qwen3VLProcessor(image_processor=ip, tokenizer=tok, video_processor=vp, chat_template=template)
    OUT.mkdir(parents=True, exist_ok=True)
    index = {}
    for name in CLIPS:
        frames, fps = decode(CRATE / "fixtures" / "clips" / name)
        meta = {"total_num_frames": int(frames.shape[0]), "fps": fps, "height": frames.shape[1],
                "width": frames.shape[2], "duration": frames.shape[0] / fps}
        messages = [{"role": "user", "content": [{"type": "video", "video": name},
                                                 {"type": "text", "text": QUESTION}]}]
        prompt = proc.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        inputs = proc(text=[prompt], videos=[frames], video_metadata=[copy.deepcopy(meta)],
                      do_sample_frames=True, fps=2, return_tensors="pt")
        alone = vp(videos=[frames], video_metadata=[copy.deepcopy(meta)], do_sample_frames=True,
                   fps=2, return_metadata=True, return_tensors="pt")
        indices = [int(i) for i in alone["video_metadata"][0].frames_indices]
        text = tok.decode(inputs["input_ids"][0].tolist(), skip_special_tokens=False)
        stem = name.rsplit(".", 1)[0]
        (OUT / f"{stem}.prompt.txt").write_text(text)
        index[name] = {
            "prompt": f"{stem}.prompt.txt",
            "question": QUESTION,
            "fps": fps,
            "total_frames": int(frames.shape[0]),
            "sampled_indices": indices,
            "video_grid_thw": inputs["video_grid_thw"][0].tolist(),
        }
    (OUT / "index.json").write_text(json.dumps(index, indent=2) + "\n")
    print(f"wrote {len(CLIPS)} reference prompts to {OUT}")


if __name__ == "__main__":
    main()
