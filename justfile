# weft tasks. One CARGO_TARGET_DIR outside the clone is shared by every checkout, so a fresh
# clone recompiles only weft's own crates.
export CARGO_TARGET_DIR := env_var_or_default("CARGO_TARGET_DIR", home_directory() / ".cache/weft/target")

weft := CARGO_TARGET_DIR / "debug/weft"

# List the tasks.
default:
    @just --list

# Install system packages, just and the Python venv (idempotent).
setup:
    bash scripts/setup.sh

# Build the CLI (debug).
build:
    cargo build -p weft

# PDFs -> OCR, doc_parse, long_doc, interleaved and synthetic OCR shards. INPUT: a folder
# (recursive), glob or list file of PDFs; relative paths are taken from where just was called.
# Uses the binary `just test` builds (the OCR path is optimised in the dev profile, see
# Cargo.toml), so the first run compiles once; `cargo build --release -p weft` for big corpora.
build-ocr-shards INPUT=(justfile_directory() / "pipelines/ocr/samples") OUT="out/ocr": setup build
    cd '{{invocation_directory()}}' && input='{{INPUT}}' && case "$input" in /*) ;; *) input="$PWD/$input";; esac && \
      '{{weft}}' run '{{justfile_directory()}}/pipelines/ocr/pipeline.toml' --out '{{OUT}}' --set "pages.path=$input" && \
      '{{weft}}' shards validate '{{OUT}}' && '{{weft}}' shards stats '{{OUT}}'

# COCO-format detection annotations -> referring, multi-object, point, counting (direct,
# box-based, point-based) and spatial grounding shards (Qwen3-VL relative 0-1000 JSON).
# ANNOTATIONS: a COCO JSON file (or folder/glob of them); IMAGES: the folder its `file_name`s
# are relative to; relative paths are taken from where just was called.
build-grounding-shards ANNOTATIONS=(justfile_directory() / "pipelines/grounding/fixtures/annotations.json") IMAGES=(justfile_directory() / "pipelines/grounding/fixtures/images") OUT="out/grounding": setup build
    cd '{{invocation_directory()}}' && ann='{{ANNOTATIONS}}' && img='{{IMAGES}}' && \
      case "$ann" in /*) ;; *) ann="$PWD/$ann";; esac && case "$img" in /*) ;; *) img="$PWD/$img";; esac && \
      '{{weft}}' run '{{justfile_directory()}}/pipelines/grounding/pipeline.toml' --out '{{OUT}}' \
        --set "objects.annotations=\"$ann\"" --set "objects.images=\"$img\"" && \
      '{{weft}}' shards validate '{{OUT}}' && '{{weft}}' shards stats '{{OUT}}'

# [caption recipes]

# [video recipes]

# [stem recipes]

# [cluster recipes]

# Run the example caption pipeline on the bundled photos, then validate its shards.
example OUT="out/captions": build
    {{weft}} run examples/captions/pipeline.toml --out {{OUT}}
    {{weft}} shards validate {{OUT}}
    {{weft}} shards stats {{OUT}}

# Run every test (Rust unit + integration tests, incl. the HF datasets check through .venv).
test: setup
    cargo test --workspace

# Lints exactly as CI runs them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Writer benchmark: weft's shard writer vs pyarrow on the same table (release build).
bench-writer:
    cargo bench -p weft-shards --bench writer

# PDF benchmark: weft vs PyMuPDF and pypdf (text with positions, rendering), same files.
bench-pdf FOLDER="": setup
    .venv/bin/python -c "import pymupdf, pypdf" 2>/dev/null || .venv/bin/python -m pip install -q pymupdf pypdf
    cargo bench -p weft-pipeline-ocr --bench pdf -- {{FOLDER}}

# Native Qwen3-VL vs transformers (torch CPU) on a random checkpoint with the 2B shapes: image
# encode, prefill, decode, peak RSS, f32 and bf16. Creates the ~6 GB reference venv on first use.
bench-inference *ARGS:
    bash tools/parity/venv.sh
    cargo bench -p weft-inference --bench qwen3vl -- {{ARGS}}

# Regenerate the parity fixtures from transformers 4.57.6 (not part of `just test`).
parity-fixtures:
    bash tools/parity/venv.sh
    ~/.cache/weft/parity-venv/bin/python tools/parity/make_fixtures.py

# Grounding benchmark: samples/s for a 100k-annotation COCO file on 2 threads, and peak
# memory against annotation count (release build).
bench-grounding:
    cargo bench -p weft-pipeline-grounding --bench grounding

# Lints, then tests.
ci: lint test
