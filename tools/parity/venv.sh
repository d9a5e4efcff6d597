#!/usr/bin/env bash
# Creates the parity venv (transformers reference for the Qwen3-VL fixtures), idempotently.
# Build-time only: not part of `just setup`; only needed to regenerate
# inference/tests/fixtures/parity/ (and the tokenizer/processor fixtures next to it).
# The pins are the versions the committed fixtures were generated with. PyPI's Linux torch
# wheel is a large CUDA build that also runs on CPU; CPU-only wheels (same results here) come
# from https://download.pytorch.org/whl/cpu if you prefer a smaller download.
set -euo pipefail
VENV=${WEFT_PARITY_VENV:-$HOME/.cache/weft/parity-venv}
PY=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import transformers, torch, torchvision, av, safetensors, PIL, numpy; assert transformers.__version__ == '4.57.6'" 2>/dev/null; then
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
    "transformers==4.57.6" "tokenizers==0.22.2" "torch==2.15.0" "torchvision==0.29.2" \
    "safetensors==0.8.0" "pillow==13.0.0" "numpy==2.4.6" "av==18.1.0"
fi
echo "$VENV/bin/python"
