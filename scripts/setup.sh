#!/usr/bin/env bash
# Installs what weft needs on a Debian machine, idempotently: system packages (compilers,
# FFmpeg and poppler for the media pipelines, fonts, labelme's annotated example photos for
# the grounding tests, Slurm and munge for the one-node cluster tests), `just`, and a Python
# venv (.venv) with pyarrow and datasets for the compatibility tests and moto's S3 server for
# the object-storage test. Safe to run again: it only installs what is missing. Set
# WEFT_SKIP_APT=1 to skip system packages (e.g. without root).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(pkg-config clang libclang-dev
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libswresample-dev
  ffmpeg poppler-utils
  fonts-noto-core fonts-noto-cjk
  labelme-examples
  slurmctld slurmd slurm-client munge)
PY_PACKAGES=(pyarrow datasets pillow)

log() { printf '\033[1msetup:\033[0m %s\n' "$*" >&2; }

sudo_() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if [ "${WEFT_SKIP_APT:-0}" != 1 ] && command -v dpkg-query >/dev/null; then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing system packages: ${missing[*]}"
    sudo_ apt-get update -qq
    DEBIAN_FRONTEND=noninteractive sudo_ apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import pyarrow, datasets, PIL" 2>/dev/null; then
  log "installing ${PY_PACKAGES[*]} into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check "${PY_PACKAGES[@]}"
fi

if ! command -v just >/dev/null; then
  log "installing just (rust-just from PyPI)"
  .venv/bin/python -m pip install -q --disable-pip-version-check rust-just
  bindir=/usr/local/bin
  [ -w "$bindir" ] || { bindir="$HOME/.local/bin"; mkdir -p "$bindir"; }
  install -m 755 .venv/bin/just "$bindir/just"
  command -v just >/dev/null || log "add $bindir to PATH to use just"
fi
MOTO_VERSION=5.2.5 # pinned: the object-storage test relies on its S3 server's behaviour
if ! .venv/bin/python -c "import moto, flask, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
  log "installing moto[server]==$MOTO_VERSION (S3 server for the object-storage test) into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi
log "ready"
