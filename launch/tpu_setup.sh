#!/usr/bin/env bash
# Installs xstilts_jax on every worker of a TPU VM (--worker=all).
#
# Usage: launch/tpu_setup.sh NAME --zone ZONE (--repo URL [--ref REF] | --copy) [options]
#
#   --zone ZONE          zone of the TPU
#   --project PROJECT    Google Cloud project (default: gcloud's configured project)
#   --repo URL           git clone URL on each worker, then check out REF
#   --ref REF            branch, tag or full commit hash (default: the remote's HEAD)
#   --copy               ship this local checkout instead (uncommitted changes included;
#                        .git, virtualenvs, caches, build/, dist/ and workdirs/ left out)
#   --exclude PATTERN    with --copy: leave out PATTERN too (repeatable), e.g. --exclude 'runs'
#   --python VERSION     Python of the worker venv, fetched by uv (default 3.12; the
#                        TPU images ship Python 3.10, older than jax supports)
#   --bucket BUCKET      mount gs://BUCKET with Cloud Storage FUSE at /mnt/gcs/BUCKET on every
#                        worker; on several hosts the workdir must be a directory all workers
#                        see, e.g. --workdir /mnt/gcs/BUCKET/xstilts/run1 for tpu_run.sh
#   --dry-run            print the commands instead of running them
#   -h, --help           show this help
#
# Each worker gets ~/xstilts_jax (the code) and ~/xstilts_venv (a venv with "jax[tpu]" and
# the project installed editable). Running it again updates both.
#
# Examples:
#   launch/tpu_setup.sh xstilts-v5e --zone us-west4-a --copy
#   launch/tpu_setup.sh xstilts-v5e --zone us-west4-a --repo https://github.com/ORG/xstilts_jax --ref v0.1.0

set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

COPY_EXCLUDES=(.git '.venv*' venv __pycache__ '*.egg-info' .pytest_cache build dist workdirs)

NAME="" ZONE="" PROJECT="" REPO_URL="" REF=HEAD PYTHON_VERSION=3.12 COPY=0 REF_GIVEN=0 BUCKET=""
EXTRA_EXCLUDES=()
while (($#)); do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --dry-run) DRY_RUN=1; shift ;;
    --zone | --zone=*) option_value ZONE "$@"; shift "$SHIFT" ;;
    --project | --project=*) option_value PROJECT "$@"; shift "$SHIFT" ;;
    --repo | --repo=*) option_value REPO_URL "$@"; shift "$SHIFT" ;;
    --ref | --ref=*) option_value REF "$@"; REF_GIVEN=1; shift "$SHIFT" ;;
    --python | --python=*) option_value PYTHON_VERSION "$@"; shift "$SHIFT" ;;
    --exclude | --exclude=*) option_value pattern "$@"; EXTRA_EXCLUDES+=("$pattern"); shift "$SHIFT" ;;
    --bucket | --bucket=*) option_value BUCKET "$@"; BUCKET=${BUCKET#gs://}; shift "$SHIFT" ;;
    --copy) COPY=1; shift ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) [[ -z $NAME ]] || die "unexpected argument '$1'"; NAME=$1; shift ;;
  esac
done

require "$NAME" "NAME (the TPU name)"
require "$ZONE" --zone
if ((COPY)); then
  [[ -z $REPO_URL ]] || die "--copy and --repo exclude each other"
  ((!REF_GIVEN)) || die "--ref needs --repo"
else
  [[ -n $REPO_URL ]] || die "--repo URL or --copy is required (see --help)"
  ((${#EXTRA_EXCLUDES[@]} == 0)) || die "--exclude needs --copy"
fi
tpu_flags

# The script each worker runs, one step per line, joined with "; " under set -e.
steps=(
  "set -e"
  "export PATH=\"\$HOME/.local/bin:\$PATH\""
  "command -v uv >/dev/null || curl -LsSf https://astral.sh/uv/install.sh | sh"
)
if ((COPY)); then
  archive="${TMPDIR:-/tmp}/xstilts_jax-$NAME.tar.gz"
  excludes=()
  for pattern in "${COPY_EXCLUDES[@]}" "${EXTRA_EXCLUDES[@]}"; do excludes+=(--exclude="$pattern"); done
  [[ $DRY_RUN == 1 ]] || trap 'rm -f "$archive"' EXIT
  run tar -czf "$archive" "${excludes[@]}" -C "$REPO_DIR" .
  run gcloud compute tpus tpu-vm scp "$archive" "$NAME:$REMOTE_CHECKOUT.tar.gz" "${TPU_FLAGS[@]}" --worker=all
  steps+=(
    "mkdir -p $REMOTE_CHECKOUT"
    "tar -xzf $REMOTE_CHECKOUT.tar.gz -C $REMOTE_CHECKOUT"
    "rm $REMOTE_CHECKOUT.tar.gz"
  )
else
  steps+=(
    "[ -d $REMOTE_CHECKOUT/.git ] || git clone --quiet $(shell_quote "$REPO_URL") $REMOTE_CHECKOUT"
    "git -C $REMOTE_CHECKOUT fetch --quiet origin $(shell_quote "$REF")"
    "git -C $REMOTE_CHECKOUT checkout --quiet --force FETCH_HEAD"
  )
fi
steps+=(
  "[ -x $REMOTE_VENV/bin/python ] || uv venv --quiet --seed --python $(shell_quote "$PYTHON_VERSION") $REMOTE_VENV"
  "uv pip install --quiet --python $REMOTE_VENV/bin/python \"jax[tpu]\" -e ./$REMOTE_CHECKOUT"
  "$REMOTE_VENV/bin/python -c \"import jax, xstilts_jax\""
)
if [[ -n $BUCKET ]]; then
  bucket=$(shell_quote "$BUCKET")
  steps+=(
    "command -v gcsfuse >/dev/null || { echo \"deb https://packages.cloud.google.com/apt gcsfuse-\$(lsb_release -c -s) main\" | sudo tee /etc/apt/sources.list.d/gcsfuse.list >/dev/null && curl -s https://packages.cloud.google.com/apt/doc/apt-key.gpg | sudo apt-key add - && sudo apt-get update -qq && sudo apt-get install -y -qq gcsfuse; }"
    "sudo mkdir -p /mnt/gcs/$bucket && sudo chown \"\$USER\" /mnt/gcs/$bucket"
    "mountpoint -q /mnt/gcs/$bucket || gcsfuse --implicit-dirs $bucket /mnt/gcs/$bucket"
  )
fi
steps+=("echo \"\$(hostname): xstilts_jax ready\"")
remote_script=$(printf '%s; ' "${steps[@]}")
run gcloud compute tpus tpu-vm ssh "$NAME" "${TPU_FLAGS[@]}" --worker=all --command "${remote_script%; }"
