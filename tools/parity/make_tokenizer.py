"""Builds weft's tiny offline test tokenizer: a Qwen2/3-shaped byte-level BPE.

Why: the inference crate's tokenizer tests (and the model parity fixtures) must run with no
download, yet exercise exactly the machinery of the released Qwen3-VL tokenizer — NFC, the
Qwen2 split regex, byte-level BPE, the 26 Qwen2/3 added tokens (14 of them `special`) and the
real chat template. Only the vocabulary is small (a BPE trained here in about a second on a
fixed corpus), so the special ids are *remapped*: they follow the BPE vocabulary instead of
starting at 151643. `SPECIAL_TOKENS` lists them in Qwen order; `build_tokenizer` returns the
resulting `{token: id}` map (the fixture README lists the table).

Deterministic: the same script and `tokenizers` version give byte-identical files.

Usage (from the repository root, with the parity venv):
    /root/.cache/weft/parity-venv/bin/python tools/parity/make_tokenizer.py [OUT_DIR]
Default OUT_DIR: inference/tests/fixtures/tokenizer. Importable: `build_tokenizer(out_dir)`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
from tokenizers import pre_tokenizers, processors, trainers

# Size of the trained BPE vocabulary (256 byte symbols + merges); added tokens follow it.
BPE_VOCAB_SIZE = 1024

# The 26 added tokens of Qwen2/2.5/3 and Qwen3-VL, in id order (released ids 151643..151668).
# The second field is the `special` flag of the released tokenizer.json: the tool-call, FIM,
# repo and think tokens are plain added tokens there, so `skip_special_tokens` keeps them.
SPECIAL_TOKENS: list[tuple[str, bool]] = [
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    ("<|object_ref_start|>", True),
    ("<|object_ref_end|>", True),
    ("<|box_start|>", True),
    ("<|box_end|>", True),
    ("<|quad_start|>", True),
    ("<|quad_end|>", True),
    ("<|vision_start|>", True),
    ("<|vision_end|>", True),
    ("<|vision_pad|>", True),
    ("<|image_pad|>", True),
    ("<|video_pad|>", True),
    ("<tool_call>", False),
    ("</tool_call>", False),
    ("<|fim_prefix|>", False),
    ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False),
    ("<|fim_pad|>", False),
    ("<|repo_name|>", False),
    ("<|file_sep|>", False),
    ("<tool_response>", False),
    ("</tool_response>", False),
    ("<think>", False),
    ("</think>", False),
]

# Qwen2's pre-tokenizer split (tokenizer.json of Qwen2/3 and Qwen3-VL): single digits,
# letter runs with one leading non-letter, punctuation runs, newline runs, spaces.
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# The chat template of Qwen/Qwen3-VL-{2B,4B,8B}-Instruct (`chat_template.json`, Apache-2.0),
# byte for byte. Source: see the fixture README.
QWEN3_VL_INSTRUCT_TEMPLATE = (
    "{%- if tools %}\n"
    "    {{- '<|im_start|>system\\n' }}\n"
    "    {%- if messages[0].role == 'system' %}\n"
    "        {%- if messages[0].content is string %}\n"
    "            {{- messages[0].content }}\n"
    "        {%- else %}\n"
    "            {%- for content in messages[0].content %}\n"
    "                {%- if 'text' in content %}\n"
    "                    {{- content.text }}\n"
    "                {%- endif %}\n"
    "            {%- endfor %}\n"
    "        {%- endif %}\n"
    "        {{- '\\n\\n' }}\n"
    "    {%- endif %}\n"
    "    {{- \"# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\n"
    "You are provided with function signatures within <tools></tools> XML tags:\\n<tools>\" }}\n"
    "    {%- for tool in tools %}\n"
    "        {{- \"\\n\" }}\n"
    "        {{- tool | tojson }}\n"
    "    {%- endfor %}\n"
    "    {{- \"\\n</tools>\\n\\nFor each function call, return a json object with function name and "
    "arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\\"name\\\": <function-name>, "
    "\\\"arguments\\\": <args-json-object>}\\n</tool_call><|im_end|>\\n\" }}\n"
    "{%- else %}\n"
    "    {%- if messages[0].role == 'system' %}\n"
    "        {{- '<|im_start|>system\\n' }}\n"
    "        {%- if messages[0].content is string %}\n"
    "            {{- messages[0].content }}\n"
    "        {%- else %}\n"
    "            {%- for content in messages[0].content %}\n"
    "                {%- if 'text' in content %}\n"
    "                    {{- content.text }}\n"
    "                {%- endif %}\n"
    "            {%- endfor %}\n"
    "        {%- endif %}\n"
    "        {{- '<|im_end|>\\n' }}\n"
    "    {%- endif %}\n"
    "{%- endif %}\n"
    "{%- set image_count = namespace(value=0) %}\n"
    "{%- set video_count = namespace(value=0) %}\n"
    "{%- for message in messages %}\n"
    "    {%- if message.role == \"user\" %}\n"
    "        {{- '<|im_start|>' + message.role + '\\n' }}\n"
    "        {%- if message.content is string %}\n"
    "            {{- message.content }}\n"
    "        {%- else %}\n"
    "            {%- for content in message.content %}\n"
    "                {%- if content.type == 'image' or 'image' in content or 'image_url' in content %}\n"
    "                    {%- set image_count.value = image_count.value + 1 %}\n"
    "                    {%- if add_vision_id %}Picture {{ image_count.value }}: {% endif -%}\n"
    "                    <|vision_start|><|image_pad|><|vision_end|>\n"
    "                {%- elif content.type == 'video' or 'video' in content %}\n"
    "                    {%- set video_count.value = video_count.value + 1 %}\n"
    "                    {%- if add_vision_id %}Video {{ video_count.value }}: {% endif -%}\n"
    "                    <|vision_start|><|video_pad|><|vision_end|>\n"
    "                {%- elif 'text' in content %}\n"
    "                    {{- content.text }}\n"
    "                {%- endif %}\n"
    "            {%- endfor %}\n"
    "        {%- endif %}\n"
    "        {{- '<|im_end|>\\n' }}\n"
    "    {%- elif message.role == \"assistant\" %}\n"
    "        {{- '<|im_start|>' + message.role + '\\n' }}\n"
    "        {%- if message.content is string %}\n"
    "            {{- message.content }}\n"
    "        {%- else %}\n"
    "            {%- for content_item in message.content %}\n"
    "                {%- if 'text' in content_item %}\n"
    "                    {{- content_item.text }}\n"
    "                {%- endif %}\n"
    "            {%- endfor %}\n"
    "        {%- endif %}\n"
    "        {%- if message.tool_calls %}\n"
    "            {%- for tool_call in message.tool_calls %}\n"
    "                {%- if (loop.first and message.content) or (not loop.first) %}\n"
    "                    {{- '\\n' }}\n"
    "                {%- endif %}\n"
    "                {%- if tool_call.function %}\n"
    "                    {%- set tool_call = tool_call.function %}\n"
    "                {%- endif %}\n"
    "                {{- '<tool_call>\\n{\"name\": \"' }}\n"
    "                {{- tool_call.name }}\n"
    "                {{- '\", \"arguments\": ' }}\n"
    "                {%- if tool_call.arguments is string %}\n"
    "                    {{- tool_call.arguments }}\n"
    "                {%- else %}\n"
    "                    {{- tool_call.arguments | tojson }}\n"
    "                {%- endif %}\n"
    "                {{- '}\\n</tool_call>' }}\n"
    "            {%- endfor %}\n"
    "        {%- endif %}\n"
    "        {{- '<|im_end|>\\n' }}\n"
    "    {%- elif message.role == \"tool\" %}\n"
    "        {%- if loop.first or (messages[loop.index0 - 1].role != \"tool\") %}\n"
    "            {{- '<|im_start|>user' }}\n"
    "        {%- endif %}\n"
    "        {{- '\\n<tool_response>\\n' }}\n"
    "        {%- if message.content is string %}\n"
    "            {{- message.content }}\n"
    "        {%- else %}\n"
    "            {%- for content in message.content %}\n"
    "                {%- if content.type == 'image' or 'image' in content or 'image_url' in content %}\n"
    "                    {%- set image_count.value = image_count.value + 1 %}\n"
    "                    {%- if add_vision_id %}Picture {{ image_count.value }}: {% endif -%}\n"
    "                    <|vision_start|><|image_pad|><|vision_end|>\n"
    "                {%- elif content.type == 'video' or 'video' in content %}\n"
    "                    {%- set video_count.value = video_count.value + 1 %}\n"
    "                    {%- if add_vision_id %}Video {{ video_count.value }}: {% endif -%}\n"
    "                    <|vision_start|><|video_pad|><|vision_end|>\n"
    "                {%- elif 'text' in content %}\n"
    "                    {{- content.text }}\n"
    "                {%- endif %}\n"
    "            {%- endfor %}\n"
    "        {%- endif %}\n"
    "        {{- '\\n</tool_response>' }}\n"
    "        {%- if loop.last or (messages[loop.index0 + 1].role != \"tool\") %}\n"
    "            {{- '<|im_end|>\\n' }}\n"
    "        {%- endif %}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|im_start|>assistant\\n' }}\n"
    "{%- endif %}\n"
)

_SENTENCES = """\
Describe this image in one sentence.
What happens in this clip? Answer briefly.
A cat sits on a wooden table next to a cup of coffee.
The astronaut smiles in front of an American flag.
A rocket lifts off from the launch pad, leaving a trail of white smoke.
Old coins of different sizes lie on a dark cloth.
The photographer holds a camera on a tripod in an open field.
You are a careful assistant that writes short, factual captions.
Compare the two pictures and say which one is brighter.
The first image shows a cat; the second shows a cup of coffee.
Count the objects, then give the total as a number: 1, 2, 3, 10, 42, 2025.
Read the text in the image and copy it exactly, keeping line breaks.
Where is the red box? Give the coordinates as [x1, y1, x2, y2].
The video starts at 0.5 seconds and ends after 12.0 seconds.
Think step by step, but keep the final answer short.
Hello, world! How are you today? I'm fine, thanks; and you're?
It's a sunny day: the sky is blue, the grass is green & the sun is bright.
Solve for x: 3x + 5 = 20, so x = 5.
def caption(image): return model.generate(image, max_new_tokens=64)
{"role": "user", "content": [{"type": "image"}, {"type": "text"}]}
Les chats dorment sur le canapé près de la fenêtre.
Die Katze schläft auf dem Sofa neben dem Fenster.
猫がソファの上で寝ています。
一只猫坐在桌子上，旁边有一杯咖啡。
Кошка спит на диване у окна.
"""

_WORDS = (
    "image video frame pixel patch token caption answer question model vision language "
    "photo picture camera light shadow color red green blue yellow black white small large "
    "left right top bottom center person people animal table chair window door street city "
    "tree water sky cloud mountain road car bicycle book page text line word number time "
    "second minute start end first last next before after inside outside above below"
).split()


def training_corpus() -> list[str]:
    """The fixed training text: the sentences above plus word/number combinations."""
    lines = _SENTENCES.splitlines()
    for i, w in enumerate(_WORDS):
        other = _WORDS[(i * 7 + 3) % len(_WORDS)]
        lines.append(f"The {w} and the {other} are in frame {i}, at {i * 13 % 100}.{i % 10} seconds.")
        lines.append(f"{w.capitalize()}s: {other}, {w}-{other}; ({i})")
    return lines * 4


def _train_bpe() -> Tokenizer:
    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tok.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    trainer = trainers.BpeTrainer(
        vocab_size=BPE_VOCAB_SIZE,
        min_frequency=2,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    tok.train_from_iterator(training_corpus(), trainer=trainer)
    return tok


def build_tokenizer(out_dir: str | Path) -> dict[str, int]:
    """Writes tokenizer.json, tokenizer_config.json and chat_template.json into `out_dir`.

    Returns the id of every added token (`SPECIAL_TOKENS` order, consecutive from the BPE
    vocabulary size).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = _train_bpe()
    base = tok.get_vocab_size(with_added_tokens=False)
    # Added one by one in Qwen order so the ids are consecutive in that order.
    for content, special in SPECIAL_TOKENS:
        added = AddedToken(content, single_word=False, lstrip=False, rstrip=False, normalized=False,
                           special=special)
        if special:
            tok.add_special_tokens([added])
        else:
            tok.add_tokens([added])
    ids = {content: tok.token_to_id(content) for content, _ in SPECIAL_TOKENS}
    expected = {content: base + i for i, (content, _) in enumerate(SPECIAL_TOKENS)}
    assert ids == expected, f"added tokens not consecutive: {ids}"

    # The Python binding writes its own defaults for the ByteLevel decoder's (unused) flags;
    # the released file has them all false.
    spec = json.loads(tok.to_str(pretty=False))
    spec["decoder"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    (out / "tokenizer.json").write_text(json.dumps(spec, ensure_ascii=False, separators=(",", ":")))

    decoder = {
        str(ids[content]): {
            "content": content,
            "lstrip": False,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": special,
        }
        for content, special in SPECIAL_TOKENS
    }
    additional = [c for c, s in SPECIAL_TOKENS if s and c not in ("<|endoftext|>",)]
    config = {
        "add_bos_token": False,
        "add_prefix_space": False,
        "added_tokens_decoder": decoder,
        "additional_special_tokens": additional,
        "bos_token": None,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|im_end|>",
        "errors": "replace",
        "extra_special_tokens": {},
        "model_max_length": 262144,
        "pad_token": "<|endoftext|>",
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2TokenizerFast",
        "unk_token": None,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
    (out / "chat_template.json").write_text(
        json.dumps({"chat_template": QWEN3_VL_INSTRUCT_TEMPLATE}, indent=2, ensure_ascii=False) + "\n"
    )
    return ids


def main() -> None:
    root = Path(__file__).resolve().parents[2]
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else root / "inference/tests/fixtures/tokenizer"
    ids = build_tokenizer(out)
    for content, i in ids.items():
        print(f"{i}\t{content}")


if __name__ == "__main__":
    main()
