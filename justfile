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

# Lints, then tests.
ci: lint test
