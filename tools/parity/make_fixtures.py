#!/usr/bin/env python3
"""Reference fixtures for weft's native Qwen3-VL (`inference/tests/fixtures/parity/`).

Why this exists: the Rust model, processor and prompt path are checked against the reference
implementation, transformers `Qwen3VLForConditionalGeneration` (pinned version below), on tiny
random models whose every tensor fits in the repository. Each case folder holds a complete
Hugging Face model folder (config, weights, processor and tokenizer files as the released
checkpoints lay them out), the request (token ids + media files), and `expected.safetensors`
with the reference outputs and per-stage intermediates for debugging a mismatch.

Build-time only: runs in the parity venv (see README.md), never in the normal setup path.
Deterministic (fixed seeds, one CPU thread) and idempotent (every case folder is rewritten).

Usage: python tools/parity/make_fixtures.py [--out DIR] [--case NAME ...]
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import transformers
from safetensors.numpy import save_file
from transformers import (
    AutoProcessor,
    AutoTokenizer,
    GenerationConfig,
    Qwen2VLImageProcessorFast,
    Qwen3VLConfig,
    Qwen3VLForConditionalGeneration,
    Qwen3VLProcessor,
    Qwen3VLVideoProcessor,
)

PINNED_TRANSFORMERS = "4.57.6"

TOOLS_DIR = Path(__file__).resolve().parent
REPO = TOOLS_DIR.parent.parent
PHOTOS = REPO / "examples" / "data" / "photos"
DEFAULT_OUT = REPO / "inference" / "tests" / "fixtures" / "parity"

sys.path.insert(0, str(TOOLS_DIR))
from fixture_readme import write_readme  # noqa: E402
from make_tokenizer import build_tokenizer  # noqa: E402  (a sibling tool)

# Names of the 26 Qwen2/3 added tokens, in their released order (ids 151643..151668 there).
SPECIAL_NAMES = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>",
    "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>",
    "<|quad_start|>", "<|quad_end|>",
    "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
    "<tool_call>", "</tool_call>",
    "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
    "<|repo_name|>", "<|file_sep|>",
    "<tool_response>", "</tool_response>", "<think>", "</think>",
]

GREEDY_STEPS = 12

# Weight scales (see init_weights). With tied embeddings a random model tends to repeat one
# token forever; a smaller embedding and stronger residual branches give a varied greedy
# continuation with clear margins, which makes the decode-step check more telling.
EMBED_STD = 0.3
RESIDUAL_OUT_GAIN = 4.0

PATCH = 16
MERGE = 2
TEMPORAL = 2

# Tiny pixel budgets (shortest_edge = min_pixels, longest_edge = max_pixels) so images give a
# handful of merged tokens (4..24 per image by default). The video budget spans all sampled
# frames (t̄·h̄·w̄), as in the reference video smart_resize.
IMAGE_BOUNDS = (32 * 32 * 4, 32 * 32 * 24)
VIDEO_BOUNDS = (32 * 32 * 8, 32 * 32 * 48)
VIDEO_SAMPLE_FPS = 2

# A shared small text model; the vision tower and a few text fields vary per case.
BASE_TEXT = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=3,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
    hidden_act="silu",
    max_position_embeddings=4096,
    rms_norm_eps=1e-6,
    rope_theta=5_000_000.0,
    rope_scaling={"rope_type": "default", "mrope_section": [4, 2, 2], "mrope_interleaved": True},
    attention_bias=False,
    attention_dropout=0.0,
)
BASE_VISION = dict(
    depth=2,
    hidden_size=64,
    hidden_act="gelu_pytorch_tanh",
    intermediate_size=128,
    num_heads=4,
    in_channels=3,
    patch_size=PATCH,
    spatial_merge_size=MERGE,
    temporal_patch_size=TEMPORAL,
    out_hidden_size=64,
    num_position_embeddings=64,
    deepstack_visual_indexes=[0, 1],
)

CASES = {
    # Two images (one already on the 32-pixel grid, one that is resized with a banker's-rounding
    # tie), text before, between and after them; tied embeddings; DeepStack after layers 0 and 1.
    "two_images": dict(
        summary="two images (64×96 kept as is; 80×130 resized to 64×128 by a banker's-rounding tie, 2.5 → 2), "
        "text before/between/after; text 3 layers, 4/2 heads, head_dim 16, mrope [4,2,2], tied; "
        "vision depth 2, hidden 64, 8×8 position table, DeepStack [0,1]",
        seed=5,
        text={},
        vision={},
        tied=True,
        max_shard_size=None,
        images=[
            # (file, source photo, crop box (l, t, r, b) in the source, saved size (w, h))
            ("a.png", "chelsea.jpg", (100, 20, 340, 180), (96, 64)),
            ("b.png", "coffee.jpg", (60, 40, 580, 360), (130, 80)),
        ],
        content=[
            {"type": "text", "text": "Compare"},
            {"type": "image", "image": "a.png"},
            {"type": "text", "text": " with "},
            {"type": "image", "image": "b.png"},
            {"type": "text", "text": ". Which is warmer?"},
        ],
    ),
    # Untied lm_head, 2 text layers of 8 query / 2 kv heads of dim 8 (mrope [2,1,1]), a narrower
    # 4-head tower whose only DeepStack feature comes from block 1 (and is added after text
    # layer 0), a 12x12 position table interpolated to an 8x4 grid, an image over a smaller pixel
    # budget (the max_pixels branch of smart_resize), weights in several shards.
    "untied_sharded": dict(
        summary="untied lm_head, weights in 3 shards + index (max_shard_size 500KB); text 2 layers, 8/2 heads, head_dim 8, mrope [2,1,1]; "
        "vision hidden 32, 4 heads, 12×12 position table, DeepStack [1] (block 1 → after text layer 0); "
        "one 160×100 image over a smaller budget (max 12 tokens), resized to 128×64",
        seed=5,
        text=dict(
            num_hidden_layers=2,
            num_attention_heads=8,
            num_key_value_heads=2,
            head_dim=8,
            intermediate_size=96,
            rope_scaling={"rope_type": "default", "mrope_section": [2, 1, 1], "mrope_interleaved": True},
        ),
        vision=dict(
            depth=2,
            hidden_size=32,
            intermediate_size=64,
            num_heads=4,
            num_position_embeddings=144,
            deepstack_visual_indexes=[1],
        ),
        tied=False,
        max_shard_size="500KB",
        image_bounds=(32 * 32 * 4, 32 * 32 * 12),
        images=[("rocket.png", "rocket.jpg", (195, 20, 445, 420), (100, 160))],
        content=[
            {"type": "image", "image": "rocket.png"},
            {"type": "text", "text": "Describe this image."},
        ],
    ),
    # One short real video (a pan over a photo), sampled by the reference at 2 fps to an odd
    # frame count (padded to even by the processor), with `<t.t seconds>` markers per temporal
    # patch. The two_images text model with a narrower vision tower.
    "video": dict(
        summary="one 64×48 H.264 clip, 25 frames at 10 fps, sampled at 2 fps by the reference to 5 frames "
        "(padded to 6 → 3 temporal patches, `<t.t seconds>` each), frames resized to 64×64; "
        "two_images text model, vision hidden 32, 2 heads, DeepStack [0,1]",
        seed=4,
        text={},
        vision=dict(hidden_size=32, intermediate_size=64, num_heads=2),
        tied=True,
        max_shard_size=None,
        video=dict(file="clip.mp4", source="astronaut.jpg", fps=10, seconds=2.5, size=(64, 48)),
        content=[
            {"type": "video", "video": "clip.mp4"},
            {"type": "text", "text": "What moves?"},
        ],
    ),
}


# ----------------------------------------------------------------------------------------------
# Model


def make_config(case: dict, ids: dict, vocab_size: int) -> Qwen3VLConfig:
    text = {**BASE_TEXT, **case["text"]}
    vision = {**BASE_VISION, **case["vision"]}
    half = text["head_dim"] // 2
    assert sum(text["rope_scaling"]["mrope_section"]) == half, "mrope_section must sum to head_dim/2"
    assert len(vision["deepstack_visual_indexes"]) <= text["num_hidden_layers"]
    assert vision["out_hidden_size"] == text["hidden_size"]
    side = math.isqrt(vision["num_position_embeddings"])
    assert side * side == vision["num_position_embeddings"]
    text.update(
        vocab_size=vocab_size,
        tie_word_embeddings=case["tied"],
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        dtype="float32",
    )
    vision["initializer_range"] = 0.02
    cfg = Qwen3VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=case["tied"],
        architectures=["Qwen3VLForConditionalGeneration"],
        dtype="float32",
    )
    cfg._attn_implementation = "eager"
    return cfg


@torch.no_grad()
def init_weights(model: torch.nn.Module, seed: int) -> None:
    """Overwrites every parameter with a seeded draw that keeps activations O(1).

    The transformers default (std 0.02, norm weights 1, biases 0) gives near-uniform logits and
    would let a Rust port that forgets a norm weight or a bias still pass; here norm weights are
    1 + noise, biases are non-zero and logits are well separated.
    """
    gen = torch.Generator().manual_seed(seed)
    for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
        if name == "lm_head.weight" and model.config.text_config.tie_word_embeddings:
            continue  # shares embed_tokens
        shape = tuple(p.shape)
        draw = torch.randn(shape, generator=gen, dtype=torch.float32)
        if "embed_tokens" in name:
            value = EMBED_STD * draw
        elif "pos_embed" in name:
            value = 0.5 * draw
        elif p.ndim == 1 and name.endswith("weight"):  # RMSNorm / LayerNorm scale
            value = 1.0 + 0.1 * draw
        elif p.ndim == 1:  # biases
            value = 0.1 * draw
        else:  # Linear / Conv3d weight: unit gain
            value = draw / math.sqrt(float(np.prod(shape[1:])))
            if "language_model" in name and ("o_proj" in name or "down_proj" in name):
                value = value * RESIDUAL_OUT_GAIN
        p.copy_(value)
    if model.config.text_config.tie_word_embeddings:
        assert model.lm_head.weight.data_ptr() == model.model.language_model.embed_tokens.weight.data_ptr()


# ----------------------------------------------------------------------------------------------
# Media


def make_image(src: str, box: tuple, size: tuple, dst: Path) -> None:
    with Image.open(PHOTOS / src) as im:
        im = im.convert("RGB").crop(box).resize(size, Image.Resampling.LANCZOS)
        im.save(dst, format="PNG", optimize=True)


def make_video(spec: dict, dst: Path) -> None:
    """A 64x48 pan over a photo, H.264 in MP4, encoded single-threaded and bit-exact."""
    w, h = spec["size"]
    frames = int(round(spec["fps"] * spec["seconds"]))
    vf = f"scale=160:160,crop={w}:{h}:x='n*3':y='n*2',format=yuv420p"
    cmd = [
        "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        "-loop", "1", "-framerate", str(spec["fps"]), "-i", str(PHOTOS / spec["source"]),
        "-vf", vf, "-frames:v", str(frames), "-r", str(spec["fps"]),
        "-c:v", "libx264", "-preset", "veryslow", "-crf", "28", "-threads", "1",
        "-x264-params", "threads=1:lookahead-threads=1",
        "-flags", "+bitexact", "-fflags", "+bitexact", "-map_metadata", "-1",
        "-movflags", "+faststart", str(dst),
    ]
    subprocess.run(cmd, check=True)


def decode_all_frames(path: Path) -> tuple[np.ndarray, float]:
    """All frames of the first video stream as uint8 [T, H, W, 3] RGB, plus its fps."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate)
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    return np.stack(frames), fps


# ----------------------------------------------------------------------------------------------
# Processor and tokenizer


def make_processor(tok_dir: Path, model_dir: Path, image_bounds: tuple, video_bounds: tuple) -> Qwen3VLProcessor:
    tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    template_file = tok_dir / "chat_template.json"
    template = json.loads(template_file.read_text())["chat_template"] if template_file.is_file() else None
    template = template or tokenizer.chat_template
    assert template, "make_tokenizer.build_tokenizer must provide the chat template"
    image_processor = Qwen2VLImageProcessorFast(
        size={"shortest_edge": image_bounds[0], "longest_edge": image_bounds[1]},
        min_pixels=image_bounds[0],
        max_pixels=image_bounds[1],
        patch_size=PATCH,
        temporal_patch_size=TEMPORAL,
        merge_size=MERGE,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )
    video_processor = Qwen3VLVideoProcessor(
        size={"shortest_edge": video_bounds[0], "longest_edge": video_bounds[1]},
        patch_size=PATCH,
        temporal_patch_size=TEMPORAL,
        merge_size=MERGE,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
        fps=VIDEO_SAMPLE_FPS,
        min_frames=4,
        max_frames=768,
        do_sample_frames=True,
    )
    processor = Qwen3VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=template,
    )
    # Legacy single-file layout, as the released checkpoints ship it: chat_template.json.
    processor.save_pretrained(model_dir, save_jinja_files=False)
    return processor


def special_ids(tokenizer) -> dict:
    ids = {}
    for name in SPECIAL_NAMES:
        i = tokenizer.convert_tokens_to_ids(name)
        assert isinstance(i, int) and i != tokenizer.unk_token_id, f"tokenizer lacks {name}"
        assert tokenizer.convert_ids_to_tokens(i) == name
        ids[name] = i
    assert len(set(ids.values())) == len(ids), "special ids collide"
    return ids


# ----------------------------------------------------------------------------------------------
# Reference run


class Capture:
    """Forward hooks that keep per-stage tensors of the prefill pass (batch 1)."""

    def __init__(self, model: Qwen3VLForConditionalGeneration):
        self.out: dict[str, torch.Tensor] = {}
        self.handles = []
        visual = model.model.visual
        lm = model.model.language_model
        self._pre(visual.blocks[0], "vision_patch_embed", lambda a, k: a[0])
        for i, blk in enumerate(visual.blocks):
            self._post(blk, f"vision_block_{i}")
        self._post(visual.merger, "vision_merged")
        for k, merger in enumerate(visual.deepstack_merger_list):
            self._post(merger, f"deepstack_{k}")
        self._pre(lm, "inputs_embeds", lambda a, k: k["inputs_embeds"][0])
        # Input of layer i+1 (and of the final norm) = output of layer i after the DeepStack add.
        for i in range(1, len(lm.layers)):
            self._pre(lm.layers[i], f"hidden_after_layer_{i - 1}", lambda a, k: (a[0] if a else k["hidden_states"])[0])
        self._pre(lm.norm, f"hidden_after_layer_{len(lm.layers) - 1}", lambda a, k: a[0][0])

    def _pre(self, module, name, pick):
        def hook(_m, args, kwargs):
            if name not in self.out:
                self.out[name] = pick(args, kwargs).detach().clone()

        self.handles.append(module.register_forward_pre_hook(hook, with_kwargs=True))

    def _post(self, module, name):
        def hook(_m, _args, output):
            if name not in self.out:
                self.out[name] = output.detach().clone()

        self.handles.append(module.register_forward_hook(hook))

    def remove(self):
        for h in self.handles:
            h.remove()


def media_inputs(inputs) -> dict:
    keys = ("pixel_values", "image_grid_thw", "pixel_values_videos", "video_grid_thw")
    return {k: inputs[k] for k in keys if k in inputs}


@torch.no_grad()
def greedy_manual(model, inputs, steps: int) -> tuple[list[int], torch.Tensor]:
    """Pure argmax with the KV cache: no eos stop, no logits processors. Returns the tokens and
    the logits each token was chosen from ([steps, vocab]; row 0 is the prefill's last row)."""
    ids = inputs["input_ids"]
    seq = ids.shape[1]
    out = model(**inputs, use_cache=True)
    past = out.past_key_values
    last = out.logits[0, -1]
    tokens, rows = [], []
    for step in range(steps):
        rows.append(last.clone())
        tok = int(last.argmax())
        tokens.append(tok)
        if step == steps - 1:
            break
        pos = seq + step
        out = model(
            input_ids=torch.tensor([[tok]]),
            attention_mask=torch.ones(1, pos + 1, dtype=torch.long),
            past_key_values=past,
            cache_position=torch.tensor([pos]),
            use_cache=True,
        )
        past = out.past_key_values
        last = out.logits[0, -1]
    return tokens, torch.stack(rows)


def run_reference(model, inputs, ids: dict) -> dict:
    """Prefill with hooks, greedy decode two ways, and self-consistency checks."""
    model.model.rope_deltas = None
    position_ids, rope_deltas = model.model.get_rope_index(
        inputs["input_ids"], inputs.get("image_grid_thw"), inputs.get("video_grid_thw"), inputs["attention_mask"]
    )

    cap = Capture(model)
    try:
        with torch.no_grad():
            prefill = model(**inputs, use_cache=False)
    finally:
        cap.remove()
    logits = prefill.logits[0]
    seq = inputs["input_ids"].shape[1]
    assert logits.shape[0] == seq

    tokens, step_logits = greedy_manual(model, inputs, GREEDY_STEPS)

    # 1. The first greedy token is the argmax of the prefill's last row, and that row matches.
    assert tokens[0] == int(logits[-1].argmax())
    assert torch.allclose(step_logits[0], logits[-1], atol=1e-5, rtol=0)

    # 2. generate() (sampling off, eos disabled) agrees with the manual loop.
    gc = copy.deepcopy(model.generation_config)
    gc.do_sample, gc.temperature, gc.top_k, gc.top_p = False, None, None, None
    gc.eos_token_id = None
    gc.pad_token_id = ids["<|endoftext|>"]
    gc.max_new_tokens, gc.min_new_tokens = GREEDY_STEPS, None
    with torch.no_grad():
        gen = model.generate(**inputs, generation_config=gc, use_model_defaults=False)
    gen_tokens = gen[0, seq:].tolist()
    assert gen_tokens == tokens, f"generate {gen_tokens} != manual {tokens}"

    # 3. Cached decode equals a full (uncached) forward over prompt + generated tokens.
    full_ids = torch.cat([inputs["input_ids"], torch.tensor([tokens[:-1]])], dim=1)
    model.model.rope_deltas = None
    with torch.no_grad():
        full = model(
            input_ids=full_ids,
            attention_mask=torch.ones_like(full_ids),
            use_cache=False,
            **media_inputs(inputs),
        ).logits[0, seq - 1 :]
    cache_err = float((full - step_logits).abs().max())
    assert cache_err < 1e-4, f"cached decode differs from full forward by {cache_err}"

    # 4. Greedy choices are not near-ties, so an f32 port at ~1e-4 makes the same picks.
    top2 = step_logits.topk(2, dim=-1).values
    margin = float((top2[:, 0] - top2[:, 1]).min())
    assert margin > 1e-2, f"greedy margin {margin} too small; pick another seed"

    # 5. rope_deltas is what decode positions are offset by.
    assert int(rope_deltas[0, 0]) == int(position_ids.max()) + 1 - seq

    # 6. The hooks saw what the model used: the scattered visual rows of inputs_embeds are the
    #    merger output, and every DeepStack feature has one row per visual token.
    captured = cap.out
    mask = (inputs["input_ids"][0] == model.config.image_token_id) | (
        inputs["input_ids"][0] == model.config.video_token_id
    )
    assert torch.equal(captured["inputs_embeds"][mask], captured["vision_merged"])
    n_deep = len(model.config.vision_config.deepstack_visual_indexes)
    for k in range(n_deep):
        assert captured[f"deepstack_{k}"].shape == captured["vision_merged"].shape

    # 7. The vision tower and DeepStack both move the logits well beyond f32 noise, so a port
    #    that drops either one cannot pass a logits comparison.
    def logits_without(module_list) -> torch.Tensor:
        handles = [m.register_forward_hook(lambda _m, _a, out: torch.zeros_like(out)) for m in module_list]
        try:
            model.model.rope_deltas = None
            with torch.no_grad():
                return model(**inputs, use_cache=False).logits[0]
        finally:
            for h in handles:
                h.remove()

    visual = model.model.visual
    effect_vision = float((logits_without([visual.merger, *visual.deepstack_merger_list]) - logits).abs().max())
    effect_deepstack = float((logits_without(list(visual.deepstack_merger_list)) - logits).abs().max())
    assert effect_vision > 0.1 and effect_deepstack > 0.1, (effect_vision, effect_deepstack)

    return dict(
        logits=logits,
        position_ids=position_ids[:, 0, :],
        rope_deltas=rope_deltas.reshape(-1),
        greedy_tokens=torch.tensor(tokens, dtype=torch.long),
        greedy_step_logits=step_logits,
        captured=captured,
        checks=dict(
            cache_vs_full_max_abs=cache_err,
            min_greedy_margin=margin,
            vision_effect=effect_vision,
            deepstack_effect=effect_deepstack,
        ),
    )


# ----------------------------------------------------------------------------------------------
# Case driver


def to_np(t: torch.Tensor, dtype) -> np.ndarray:
    return np.ascontiguousarray(t.detach().cpu().numpy().astype(dtype))


def build_case(name: str, case: dict, out_root: Path) -> dict:
    case_dir = out_root / name
    if case_dir.exists():
        shutil.rmtree(case_dir)
    model_dir = case_dir / "model"
    model_dir.mkdir(parents=True)

    # Tokenizer (sibling tool) -> processor files in model/.
    with tempfile.TemporaryDirectory() as tmp:
        build_tokenizer(Path(tmp))
        processor = make_processor(Path(tmp), model_dir, bounds(case, "image"), bounds(case, "video"))
    tokenizer = processor.tokenizer
    ids = special_ids(tokenizer)
    tok_len = len(tokenizer)
    vocab_size = ((tok_len + 63) // 64) * 64  # padded like the released 151936 > 151669

    # Model: seeded random weights, saved as the released checkpoints are.
    torch.manual_seed(case["seed"])
    cfg = make_config(case, ids, vocab_size)
    model = Qwen3VLForConditionalGeneration(cfg).eval()
    init_weights(model, case["seed"])
    model.generation_config = GenerationConfig(
        bos_token_id=ids["<|endoftext|>"],
        pad_token_id=ids["<|endoftext|>"],
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        do_sample=True,
        temperature=0.7,
        top_k=20,
        top_p=0.8,
        repetition_penalty=1.0,
    )
    save_kwargs = dict(safe_serialization=True)
    if case["max_shard_size"]:
        save_kwargs["max_shard_size"] = case["max_shard_size"]
    model.save_pretrained(model_dir, **save_kwargs)
    reference_state = {k: v.clone() for k, v in model.state_dict().items()}
    del model

    # Everything below uses what was written to disk, so the files alone reproduce it.
    model, info = Qwen3VLForConditionalGeneration.from_pretrained(
        model_dir, dtype=torch.float32, attn_implementation="eager", output_loading_info=True
    )
    model.eval()
    assert not any(info.values()), f"loading {model_dir}: {info}"
    for k, v in model.state_dict().items():
        assert torch.equal(v, reference_state[k]), f"{k} changed on reload"
    processor = AutoProcessor.from_pretrained(model_dir)
    assert type(processor.image_processor).__name__ == "Qwen2VLImageProcessorFast"
    check_model_folder(model_dir, ids, tok_len, case)

    # Media and prompt.
    messages = [{"role": "user", "content": copy.deepcopy(case["content"])}]
    prompt = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    extra: dict = {}
    request: dict = {}
    if "images" in case:
        images = []
        for fname, src, box, size in case["images"]:
            make_image(src, box, size, case_dir / fname)
            with Image.open(case_dir / fname) as im:
                images.append(im.convert("RGB"))
        inputs = processor(text=[prompt], images=images, return_tensors="pt")
        request["images"] = [f for f, *_ in case["images"]]
    else:
        spec = case["video"]
        clip = case_dir / spec["file"]
        make_video(spec, clip)
        frames, fps = decode_all_frames(clip)
        total = int(frames.shape[0])
        meta = {"total_num_frames": total, "fps": fps, "height": frames.shape[1], "width": frames.shape[2],
                "duration": total / fps}
        inputs = processor(
            text=[prompt], videos=[frames], video_metadata=[copy.deepcopy(meta)], do_sample_frames=True,
            fps=VIDEO_SAMPLE_FPS, return_tensors="pt",
        )
        # The processor drops the metadata it sampled with; the video processor alone returns it.
        alone = processor.video_processor(
            videos=[frames], video_metadata=[copy.deepcopy(meta)], do_sample_frames=True,
            fps=VIDEO_SAMPLE_FPS, return_metadata=True, return_tensors="pt",
        )
        assert torch.equal(alone["pixel_values_videos"], inputs["pixel_values_videos"])
        indices = [int(i) for i in alone["video_metadata"][0].frames_indices]
        frame_files = []
        for j, idx in enumerate(indices):
            fname = f"f{j:03d}.png"
            Image.fromarray(frames[idx]).save(case_dir / fname, format="PNG", optimize=True)
            frame_files.append(fname)
        # (_calculate_timestamps pads its argument in place: hand it a copy.)
        timestamps = processor._calculate_timestamps(list(indices), fps, processor.video_processor.merge_size)
        video_json = {
            "file": spec["file"],
            "fps": fps,
            "total_frames": total,
            "width": int(frames.shape[2]),
            "height": int(frames.shape[1]),
            "sample_fps": VIDEO_SAMPLE_FPS,
            "sampled_indices": indices,
            "frames": frame_files,
            "temporal_patch_seconds": [round(t, 6) for t in timestamps],
        }
        (case_dir / "video.json").write_text(json.dumps(video_json, indent=2) + "\n")
        request["videos"] = [spec["file"]]
        extra["video"] = video_json

    input_ids = inputs["input_ids"]
    assert input_ids.shape[0] == 1
    (case_dir / "prompt.txt").write_text(prompt)
    expanded_text = tokenizer.decode(input_ids[0].tolist(), skip_special_tokens=False)
    assert tokenizer(expanded_text)["input_ids"] == input_ids[0].tolist(), "expanded prompt does not round-trip"
    (case_dir / "prompt_expanded.txt").write_text(expanded_text)
    check_prompt(expanded_text, input_ids[0].tolist(), inputs, ids, extra)

    ref = run_reference(model, dict(inputs), ids)

    # Files.
    request = {"input_ids": input_ids[0].tolist(), **request}
    (case_dir / "request.json").write_text(json.dumps(request) + "\n")
    (case_dir / "messages.json").write_text(json.dumps(messages, indent=2) + "\n")
    ids_json = {
        "special": ids,
        "image_token_id": ids["<|image_pad|>"],
        "video_token_id": ids["<|video_pad|>"],
        "vision_start_token_id": ids["<|vision_start|>"],
        "vision_end_token_id": ids["<|vision_end|>"],
        "eos_token_ids": [ids["<|im_end|>"], ids["<|endoftext|>"]],
        "pad_token_id": ids["<|endoftext|>"],
        "tokenizer_len": tok_len,
        "vocab_size": vocab_size,
    }
    (case_dir / "ids.json").write_text(json.dumps(ids_json, indent=2) + "\n")

    tensors = {
        "input_ids": to_np(input_ids[0], np.int64),
        "logits": to_np(ref["logits"], np.float32),
        "position_ids": to_np(ref["position_ids"], np.int64),
        "rope_deltas": to_np(ref["rope_deltas"], np.int64),
        "greedy_tokens": to_np(ref["greedy_tokens"], np.int64),
        "greedy_step_logits": to_np(ref["greedy_step_logits"], np.float32),
    }
    for key in ("pixel_values", "image_grid_thw", "pixel_values_videos", "video_grid_thw"):
        if key in inputs:
            dt = np.float32 if key.startswith("pixel") else np.int64
            tensors[key] = to_np(inputs[key], dt)
    for key, t in ref["captured"].items():
        tensors[key] = to_np(t, np.float32)
    # One metadata entry: the header's metadata map has no stable order, one key keeps the
    # file byte-identical across runs.
    save_file(tensors, str(case_dir / "expected.safetensors"), metadata={
        "generator": f"tools/parity/make_fixtures.py case={name} transformers={transformers.__version__} "
        f"torch={torch.__version__}",
    })

    return {
        "dir": case_dir,
        "seq": int(input_ids.shape[1]),
        "tensors": {k: tuple(v.shape) for k, v in tensors.items()},
        "checks": ref["checks"],
        "greedy": ref["greedy_tokens"].tolist(),
        "grids": {k: inputs[k].tolist() for k in ("image_grid_thw", "video_grid_thw") if k in inputs},
        "extra": extra,
    }


def bounds(case: dict, kind: str) -> tuple:
    return case.get(f"{kind}_bounds", IMAGE_BOUNDS if kind == "image" else VIDEO_BOUNDS)


def check_model_folder(model_dir: Path, ids: dict, tok_len: int, case: dict) -> None:
    cfg = json.loads((model_dir / "config.json").read_text())
    assert cfg["model_type"] == "qwen3_vl"
    for key, name in (("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
                      ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>")):
        assert cfg[key] == ids[name], f"config.json {key}"
    assert cfg["text_config"]["vocab_size"] >= tok_len
    # HF writes only non-default values: text_config's flag (default False) is the one the
    # model reads; the top-level one (default True) is kept consistent with it.
    assert cfg["text_config"].get("tie_word_embeddings", False) == case["tied"]
    assert cfg.get("tie_word_embeddings", True) == case["tied"]
    gen = json.loads((model_dir / "generation_config.json").read_text())
    assert gen["eos_token_id"] == [ids["<|im_end|>"], ids["<|endoftext|>"]]
    pre = json.loads((model_dir / "preprocessor_config.json").read_text())
    assert pre["image_processor_type"] == "Qwen2VLImageProcessorFast"
    lo, hi = bounds(case, "image")
    assert pre["size"] == {"shortest_edge": lo, "longest_edge": hi}
    assert (pre["min_pixels"], pre["max_pixels"]) == (lo, hi)
    vid = json.loads((model_dir / "video_preprocessor_config.json").read_text())
    lo, hi = bounds(case, "video")
    assert vid["size"] == {"shortest_edge": lo, "longest_edge": hi}
    for f in ("tokenizer.json", "tokenizer_config.json", "chat_template.json"):
        assert (model_dir / f).is_file(), f"model folder lacks {f}"
    shards = sorted(p.name for p in model_dir.glob("model*.safetensors"))
    if case["max_shard_size"]:
        assert len(shards) >= 2 and (model_dir / "model.safetensors.index.json").is_file(), shards
    else:
        assert shards == ["model.safetensors"], shards


def check_prompt(text: str, input_ids: list, inputs, ids: dict, extra: dict) -> None:
    """The expanded prompt has one pad per merged visual token, in the layout 4.57 produces."""
    merge = MERGE * MERGE
    n_img = input_ids.count(ids["<|image_pad|>"])
    n_vid = input_ids.count(ids["<|video_pad|>"])
    if "image_grid_thw" in inputs:
        assert n_img == int(inputs["image_grid_thw"].prod(-1).sum()) // merge
    else:
        assert n_img == 0
    if "video_grid_thw" in inputs:
        grid = inputs["video_grid_thw"][0].tolist()
        assert n_vid == grid[0] * grid[1] * grid[2] // merge
        stamps = [f"<{t:.1f} seconds>" for t in extra["video"]["temporal_patch_seconds"]]
        assert len(stamps) == grid[0]
        for s in stamps:
            assert s in text, f"{s} missing from the expanded prompt"
        # Each temporal patch is its own <|vision_start|>…<|vision_end|> block.
        assert input_ids.count(ids["<|vision_start|>"]) == grid[0]
    else:
        assert n_vid == 0


def human(n: int) -> str:
    return f"{n / 1024:.1f} KiB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.2f} MiB"


def dir_size(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--case", action="append", choices=sorted(CASES), help="only these cases")
    args = ap.parse_args()

    if transformers.__version__ != PINNED_TRANSFORMERS:
        print(f"transformers {transformers.__version__} != pinned {PINNED_TRANSFORMERS}", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    args.out.mkdir(parents=True, exist_ok=True)
    results, sizes = {}, {}
    for name in args.case or list(CASES):
        r = build_case(name, CASES[name], args.out)
        results[name] = r
        sizes[name] = size = dir_size(r["dir"])
        print(f"== {name}: {human(size)}  seq={r['seq']}  grids={r['grids']}")
        print(f"   greedy={r['greedy']}")
        c = r["checks"]
        print(f"   checks: cache-vs-full max|d|={c['cache_vs_full_max_abs']:.2e}  "
              f"min greedy margin={c['min_greedy_margin']:.3f}  logits max|d| without vision="
              f"{c['vision_effect']:.2f}, without DeepStack={c['deepstack_effect']:.2f}")
        for f in sorted(r["dir"].rglob("*")):
            if f.is_file():
                print(f"   {human(f.stat().st_size):>10}  {f.relative_to(r['dir'])}")
        print("   expected.safetensors: " + ", ".join(f"{k}{list(v)}" for k, v in r["tensors"].items()))
    if not args.case:  # the README describes all cases
        write_readme(args.out, CASES, results, sizes)
    print(f"== total {human(sum(sizes.values()))} in {len(sizes)} case folders under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
