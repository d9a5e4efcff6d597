"""The transformers side of `just bench-inference`: the same random Qwen3-VL-2B checkpoint and
the same inputs as weft's bench (inference/benches/qwen3vl.rs), timed the same way.

Usage: bench_transformers.py MODEL_DIR INPUTS.safetensors {f32,bf16} ITERS
Prints one JSON object: seconds per image encode (per grid), prefill tokens/s, decode tokens/s and
peak RSS in bytes. Run by the Rust bench in its own process, so peak RSS is this framework's alone.
"""

import json
import os
import resource
import sys
import time

import torch
from safetensors.torch import load_file
from transformers import Qwen3VLForConditionalGeneration


def best(fn, iters):
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    model_dir, inputs_path, dtype_name, iters = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    torch.set_num_threads(os.cpu_count())
    dtype = {"f32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    model = Qwen3VLForConditionalGeneration.from_pretrained(
        model_dir, dtype=dtype, attn_implementation="sdpa"
    ).eval()
    inputs = load_file(inputs_path)
    out = {}
    with torch.inference_mode():
        for name in ("448x448", "1024x768"):
            px = inputs[f"pixels_{name}"].to(dtype)
            grid = inputs[f"grid_{name}"]
            model.model.visual(px, grid_thw=grid)  # warm-up
            out[f"encode_{name}_s"] = best(lambda: model.model.visual(px, grid_thw=grid), iters)

        prompt = inputs["prefill_ids"].unsqueeze(0)
        model(input_ids=prompt, use_cache=False)  # warm-up
        t = best(lambda: model(input_ids=prompt, logits_to_keep=1, use_cache=False), iters)
        out["prefill_tok_s"] = prompt.shape[1] / t

        short = inputs["decode_prompt_ids"].unsqueeze(0)
        steps = int(inputs["decode_steps"].item())
        gc = model.generation_config
        gc.do_sample, gc.temperature, gc.top_p, gc.top_k = False, None, None, None
        gc.eos_token_id = None

        def decode():
            model.generate(input_ids=short, max_new_tokens=steps, generation_config=gc)

        def prefill_only():
            model.generate(input_ids=short, max_new_tokens=1, generation_config=gc)

        decode()  # warm-up
        t_all = best(decode, iters)
        t_first = best(prefill_only, iters)
        out["decode_tok_s"] = (steps - 1) / max(t_all - t_first, 1e-9)
    out["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out["threads"] = torch.get_num_threads()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
