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

# Images -> deduplicated (exact, perceptual, caption), clustered, recaptioned caption shards.
# INPUT: a folder (recursive), glob or list of images, a URL list (.txt/.csv/.tsv/.jsonl/.parquet
# with url + alt text) or existing shards; relative paths are taken from where just was called.
# MODEL: a native model folder / Hub id, or an OpenAI-compatible server URL (MODEL_NAME names
# the model there); empty: every stage but recaptioning runs and captions stay alt text.
build-caption-shards INPUT=(justfile_directory() / "examples/data/photos") OUT="out/caption" MODEL="" MODEL_NAME="default": setup build
    cd '{{invocation_directory()}}' && input='{{INPUT}}' && model='{{MODEL}}' && \
      case "$input" in /*) ;; *) input="$PWD/$input";; esac && \
      set -- --set "source.path=\"$input\"" && \
      case "$model" in \
        "") echo "build-caption-shards: no MODEL given: recaptioning is skipped, captions stay the source alt text" ;; \
        http://*|https://*) set -- "$@" --set "recaption.model=\"$model\"" --set "recaption.model_name=\"{{MODEL_NAME}}\"" ;; \
        *) if [ -e "$model" ]; then model="$(cd "$model" && pwd)"; fi; \
           set -- "$@" --set "recaption.model=\"$model\"" --set "embed.model=\"$model\"" ;; \
      esac && \
      '{{weft}}' run '{{justfile_directory()}}/pipelines/caption/pipeline.toml' --out '{{OUT}}' "$@" && \
      '{{weft}}' shards validate '{{OUT}}' && '{{weft}}' shards stats '{{OUT}}'

# Caption benchmark: pHash images/s vs Python imagehash on the same files, near-duplicate
# search over 1M synthetic hashes, k-means 100k x 1024 vs scikit-learn (release build).
bench-caption: setup
    .venv/bin/python -c "import imagehash, sklearn" 2>/dev/null || .venv/bin/python -m pip install -q imagehash scikit-learn
    cargo bench -p weft-pipeline-caption --bench caption

# Videos -> frames sampled at 2 fps on presentation times -> dense-caption (needs MODEL) and
# spatio-temporal grounding shards. INPUT: a folder (recursive), glob or list file of
# MP4/MKV/WebM/MOV; MODEL: a Qwen3-VL folder or Hub id, or a TOML table such as
# '{ server = "http://host:8000/v1", name = "Qwen/Qwen3-VL-8B-Instruct" }'; without MODEL the
# dense captions are dropped (`no_model`) and the grounding samples are still written.
build-video-shards INPUT=(justfile_directory() / "pipelines/video/fixtures/clips") OUT="out/video" MODEL="": setup build
    cd '{{invocation_directory()}}' && input='{{INPUT}}' && model='{{MODEL}}' && \
      case "$input" in /*) ;; *) input="$PWD/$input";; esac && \
      set -- --set "videos.path=\"$input\"" && \
      case "$model" in "") ;; "{"*) set -- "$@" --set "dense_captions.model=$model";; \
        *) [ -e "$model" ] && model="$(cd "$model" && pwd)"; set -- "$@" --set "dense_captions.model=\"$model\"";; esac && \
      '{{weft}}' run '{{justfile_directory()}}/pipelines/video/pipeline.toml' --out '{{OUT}}' "$@" && \
      '{{weft}}' shards validate '{{OUT}}' && '{{weft}}' shards stats '{{OUT}}'

# Video benchmark: sampled frames/s of weft vs the ffmpeg CLI (fps filter to JPEG) and PyAV on
# the same files (release build). FILES: optional files or folders (default: bundled clips and
# a 60 s 1280x544 clip made from one of them).
bench-video *FILES: setup
    .venv/bin/python -c "import av, PIL" 2>/dev/null || .venv/bin/python -m pip install -q av pillow
    cargo bench -p weft-pipeline-video --bench video -- {{FILES}}

# Synthetic charts and triangles (exact QA, point grounding) + a problem file -> STEM samples,
# then the pass-rate filter (16 responses per query, queries with pass rate > 0.9 dropped).
# INPUT: a JSONL/Parquet problem file, folder or glob (default: the bundled lm-eval problems);
# MODEL: the filter's model, a Qwen3-VL folder or Hub id, or a TOML table such as
# '{ server = "http://host:8000/v1", name = "Qwen/Qwen3-VL-8B-Instruct" }'; without MODEL
# synthesis runs and every query passes the filter unfiltered (it says so). The histogram of
# pass rates goes to OUT/pass_rates/ (one file per split) and the log.
build-stem-shards INPUT=(justfile_directory() / "pipelines/stem/fixtures/problems.jsonl") OUT="out/stem" MODEL="": setup build
    cd '{{invocation_directory()}}' && input='{{INPUT}}' && out='{{OUT}}' && model='{{MODEL}}' && \
      case "$input" in /*) ;; *) input="$PWD/$input";; esac && case "$out" in /*) ;; *) out="$PWD/$out";; esac && \
      set -- --set "problems.path=\"$input\"" --set "filter.stats=\"$out/pass_rates\"" && \
      case "$model" in "") echo "build-stem-shards: no MODEL given: queries are not filtered by pass rate";; \
        "{"*) set -- "$@" --set "filter.model=$model";; \
        *) [ -e "$model" ] && model="$(cd "$model" && pwd)"; set -- "$@" --set "filter.model=\"$model\"";; esac && \
      '{{weft}}' run '{{justfile_directory()}}/pipelines/stem/pipeline.toml' --out "$out" "$@" && \
      '{{weft}}' shards validate "$out" && '{{weft}}' shards stats "$out"

# STEM benchmark: charts rendered/s (vs matplotlib on the same tables), verifier checks/s, and
# the pass-rate filter's overhead beyond generation with a fixed-latency backend (release).
bench-stem: setup
    .venv/bin/python -c "import matplotlib" 2>/dev/null || .venv/bin/python -m pip install -q matplotlib
    cargo bench -p weft-pipeline-stem --bench stem

# Cluster tests only (also part of `just test`): a one-node Slurm on loopback (needs root),
# moto's S3 server, the Kubernetes manifest check. With CI set they fail instead of skipping.
test-cluster: setup
    cargo test -p weft --test it cluster::

# Start (or stop: ACTION=stop) a throw-away one-node Slurm in DIR, to try `weft slurm` by hand:
# then `export SLURM_CONF=DIR/slurm.conf`.
slurm-local DIR="/tmp/weft-slurm" ACTION="start":
    bash cli/tests/cluster/local-slurm.sh {{ACTION}} {{DIR}}

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
