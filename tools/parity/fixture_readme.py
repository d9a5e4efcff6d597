"""Writes `inference/tests/fixtures/parity/README.md` for make_fixtures.py.

Why generated: the README states the exact package versions, grids, token counts and greedy
continuations of the committed fixtures; writing it from the same run keeps it true.
"""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from pathlib import Path

# Sources and licences of the photos, as stated in examples/data/photos/README.md.
PHOTO_LICENCES = {
    "astronaut.jpg": "astronaut.png (NASA, Eileen Collins), public domain",
    "chelsea.jpg": "chelsea.png (Stefan van der Walt), CC0",
    "coffee.jpg": "coffee.png (Rachel Michetti), CC0",
    "rocket.jpg": "rocket.jpg (SpaceX), public domain",
}

PACKAGES = ["transformers", "torch", "torchvision", "tokenizers", "safetensors", "numpy", "pillow", "av"]

FILES = """\
| file | content |
|---|---|
| `model/config.json` | `Qwen3VLConfig` (4.57 layout: `rope_scaling` and `rope_theta` inside `text_config`), remapped `image_token_id`, `video_token_id`, `vision_start_token_id`, `vision_end_token_id`, `vocab_size` ≥ tokenizer size, float32 |
| `model/model.safetensors` or `model/model-0000i-of-0000n.safetensors` + `model/model.safetensors.index.json` | float32 weights from `save_pretrained(safe_serialization=True)`; no `lm_head.weight` when tied |
| `model/generation_config.json` | bos/pad = `<\\|endoftext\\|>`, eos = [`<\\|im_end\\|>`, `<\\|endoftext\\|>`] (remapped), sampling defaults shaped like the released file |
| `model/preprocessor_config.json` | `Qwen2VLImageProcessorFast`, patch 16, merge 2, temporal 2, mean/std 0.5, tiny `size` (= `min_pixels`/`max_pixels`) |
| `model/video_preprocessor_config.json` | `Qwen3VLVideoProcessor`, fps 2, min/max frames 4/768, tiny `size` (budget over all frames) |
| `model/tokenizer.json`, `tokenizer_config.json`, `vocab.json`, `merges.txt`, `added_tokens.json`, `special_tokens_map.json`, `chat_template.json` | written by the real processor classes from `tools/parity/make_tokenizer.py` (byte-level BPE, 1024 entries, then the 26 Qwen2/3 added tokens; the released Qwen3-VL chat template) |
| `messages.json` | the message list (HF format; media referenced by file name relative to the case folder) |
| `prompt.txt` | the chat template rendered with `add_generation_prompt=True`, placeholders not expanded |
| `prompt_expanded.txt` | the text the processor tokenized: every placeholder expanded (for video: `<t.t seconds>` per temporal patch) |
| `request.json` | `{"input_ids": [...], "images": [...]}` or `{"input_ids": [...], "videos": [...]}`: expanded ids from the real processor, media in order of appearance, paths relative to the JSON file |
| `ids.json` | the remapped special ids (all 26), eos/pad ids, tokenizer length, vocab size |
| `*.png` | the input images (lossless) |
| `clip.mp4`, `video.json`, `f000.png`… | video case: the clip, its fps / frame count / sampled indices / per-patch seconds, and the sampled frames as decoded by PyAV (`rgb24`), losslessly |
| `expected.safetensors` | reference tensors, below |
"""

TENSORS = """\
| tensor | dtype, shape | meaning |
|---|---|---|
| `input_ids` | i64 [seq] | same as request.json |
| `pixel_values` / `pixel_values_videos` | f32 [patches, 3·2·16·16] | processor output (torchvision bicubic + antialias on uint8, fused rescale/normalize), merge-block patch order |
| `image_grid_thw` / `video_grid_thw` | i64 [n, 3] | processor output |
| `position_ids` | i64 [3, seq] | `model.model.get_rope_index` (T, H, W rows) |
| `rope_deltas` | i64 [1] | decode position offset: position = cache_position + rope_deltas on all 3 axes |
| `logits` | f32 [seq, vocab] | full prefill, float32, `attn_implementation="eager"` |
| `greedy_tokens` | i64 [12] | pure argmax continuation with the KV cache, no eos stop, no logits processors |
| `greedy_step_logits` | f32 [12, vocab] | the logits each greedy token was picked from (row 0 = last prefill row, row i = decode step i) |
| `vision_patch_embed` | f32 [patches, vision_hidden] | Conv3d patch embedding + interpolated position embedding (input of vision block 0) |
| `vision_block_{i}` | f32 [patches, vision_hidden] | output of vision block i |
| `deepstack_{k}` | f32 [tokens, text_hidden] | DeepStack merger k (on the output of block `deepstack_visual_indexes[k]`) |
| `vision_merged` | f32 [tokens, text_hidden] | final merger output (the rows scattered into the pads) |
| `inputs_embeds` | f32 [seq, text_hidden] | text embeddings with the visual rows scattered in |
| `hidden_after_layer_{i}` | f32 [seq, text_hidden] | residual stream after text layer i, after its DeepStack add (before the final norm) |
"""


def _versions() -> str:
    rows = [f"- Python {platform.python_version()}"]
    for p in PACKAGES:
        try:
            rows.append(f"- {p} {importlib.metadata.version(p)}")
        except importlib.metadata.PackageNotFoundError:
            rows.append(f"- {p}: not installed")
    try:
        line = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True, check=True).stdout
        rows.append(f"- {line.splitlines()[0].split(' Copyright')[0]} (libx264, encodes clip.mp4)")
    except (OSError, subprocess.CalledProcessError):
        rows.append("- ffmpeg: not found")
    return "\n".join(rows)


def _case_rows(cases: dict, results: dict) -> str:
    rows = ["| case | covers | seq | grids | greedy_tokens |", "|---|---|---|---|---|"]
    for name, r in results.items():
        covers = cases[name]["summary"]
        grids = "; ".join(f"{k} {v}" for k, v in r["grids"].items())
        rows.append(f"| `{name}` | {covers} | {r['seq']} | {grids} | {r['greedy']} |")
    return "\n".join(rows)


def _media_rows(cases: dict) -> str:
    rows = ["| case | file | from | licence | change |", "|---|---|---|---|---|"]
    for name, case in cases.items():
        for fname, src, box, size in case.get("images", []):
            rows.append(
                f"| `{name}` | {fname} | examples/data/photos/{src} | {PHOTO_LICENCES[src]} | "
                f"crop box (l,t,r,b) {box}, Lanczos to {size[0]}×{size[1]} (w×h), PNG |"
            )
        if "video" in case:
            v = case["video"]
            rows.append(
                f"| `{name}` | {v['file']} | examples/data/photos/{v['source']} | {PHOTO_LICENCES[v['source']]} | "
                f"scaled to 160×160, {v['size'][0]}×{v['size'][1]} window panned 3 px right and 2 px down "
                f"per frame, {v['fps']} fps, {v['seconds']} s, H.264 (libx264, bit-exact flags) |"
            )
    return "\n".join(rows)


def write_readme(out: Path, cases: dict, results: dict, sizes: dict) -> None:
    total = sum(sizes.values())
    size_rows = "\n".join(f"- `{n}`: {s / 1024:.0f} KiB" for n, s in sizes.items())
    text = f"""# Qwen3-VL parity fixtures

Generated by `tools/parity/make_fixtures.py` from the reference implementation, Hugging Face
transformers `Qwen3VLForConditionalGeneration` {importlib.metadata.version("transformers")},
on tiny random models (seeded weights, float32). Do not edit by hand: regenerate with the
parity venv as `tools/parity/README.md` explains. Regenerating is deterministic: the same
versions give byte-identical files.

Compare in float32 with an absolute tolerance around 1e-4 (logits, hidden states); ids,
grids, positions and greedy tokens must match exactly. Every greedy pick has a top-1/top-2
logit margin above 1e-2, so a correct f32 port makes the same picks.

## Cases

{_case_rows(cases, results)}

Sizes (total {total / 1024 / 1024:.2f} MiB):
{size_rows}

## Files in each case folder

{FILES}
## expected.safetensors

{TENSORS}
Checked by the generator before writing (it fails otherwise): the first greedy token is the
argmax of the last prefill row and that row equals the first step's logits; `generate()`
(greedy, eos disabled) gives the same 12 tokens as the manual KV-cache loop; cached decode
logits equal an uncached forward over prompt + generated tokens (max |Δ| < 1e-4); the visual
rows of `inputs_embeds` equal `vision_merged`; zeroing the vision features, or only the
DeepStack features, moves the logits by more than 0.1; `rope_deltas = max(position_ids) + 1 − seq`.

## Media sources and licences

Photos from `examples/data/photos/` (shipped in the scikit-image 0.26.0 wheel; licences as stated
in `skimage/data/_fetchers.py`, see that folder's README).

{_media_rows(cases)}

## Versions used

{_versions()}
"""
    (out / "README.md").write_text(text)
