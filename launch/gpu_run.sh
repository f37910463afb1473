#!/usr/bin/env bash
# Runs `xstilts run` on this machine's NVIDIA GPUs, in a venv with "jax[cuda12]".
#
# Usage: launch/gpu_run.sh [options] -- XSTILTS_RUN_ARGS...
#
#   --gpus LIST          GPUs to use, e.g. 0,1 (sets CUDA_VISIBLE_DEVICES; default: all visible)
#   --workdir DIR        passed to xstilts as --workdir DIR
#   --mem-fraction F     share of each GPU's memory JAX may take
#                        (XLA_PYTHON_CLIENT_MEM_FRACTION; default: its value in the environment, else 0.9)
#   --venv DIR           the venv (default: .venv-gpu in this checkout); created when missing
#   --python PYTHON      interpreter that creates the venv, 3.11 or newer (default: python3)
#   --no-install         use the venv as it is (skip `pip install "jax[cuda12]" -e .`)
#   --max-resumes N      re-runs after exit 75 (saved on SIGTERM; default 10)
#   --dry-run            print the commands instead of running them
#   -h, --help           show this help
#
# One process drives every visible GPU; only the NVIDIA driver is needed, as the jax[cuda12]
# wheels bring CUDA and cuDNN.
#
# Example:
#   launch/gpu_run.sh --gpus 0,1 --workdir workdirs/squad-xnli -- \
#     --config configs/xstilts.py:intermediate=squad_v1,target=xnli     # XLM-R Large from the hub

set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

GPUS="" WORKDIR="" MEM_FRACTION=${XLA_PYTHON_CLIENT_MEM_FRACTION:-0.9} VENV="$REPO_DIR/.venv-gpu"
PYTHON=python3 INSTALL=1 XSTILTS_ARGS=() SAW_SEPARATOR=0 MAX_RESUMES=10
while (($#)); do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --dry-run) DRY_RUN=1; shift ;;
    --gpus | --gpus=*) option_value GPUS "$@"; shift "$SHIFT" ;;
    --workdir | --workdir=*) option_value WORKDIR "$@"; shift "$SHIFT" ;;
    --mem-fraction | --mem-fraction=*) option_value MEM_FRACTION "$@"; shift "$SHIFT" ;;
    --venv | --venv=*) option_value VENV "$@"; shift "$SHIFT" ;;
    --python | --python=*) option_value PYTHON "$@"; shift "$SHIFT" ;;
    --no-install) INSTALL=0; shift ;;
    --max-resumes | --max-resumes=*) option_value MAX_RESUMES "$@"; shift "$SHIFT" ;;
    --) shift; XSTILTS_ARGS=("$@"); SAW_SEPARATOR=1; break ;;
    *) die "unknown argument '$1' (put the xstilts arguments after '--')" ;;
  esac
done

((SAW_SEPARATOR)) || die "'--' followed by the arguments of 'xstilts run' is required (see --help)"
if ((${#XSTILTS_ARGS[@]})) && [[ ${XSTILTS_ARGS[0]} == run ]]; then
  die "give the arguments of 'xstilts run' after '--', without 'run'"
fi
reject_workdir_in_args "${XSTILTS_ARGS[@]}"
[[ -z $GPUS || $GPUS =~ ^[0-9]+(,[0-9]+)*$ ]] || die "--gpus takes a list like 0,1, not '$GPUS'"
[[ $MAX_RESUMES =~ ^[0-9]+$ ]] || die "--max-resumes takes a whole number, not '$MAX_RESUMES'"
[[ $MEM_FRACTION =~ ^(0?\.[0-9]+|1(\.0*)?)$ ]] || die "--mem-fraction takes a number in (0, 1], not '$MEM_FRACTION'"

if [[ $DRY_RUN != 1 ]] && ! command -v nvidia-smi >/dev/null; then
  warn "nvidia-smi not found: without an NVIDIA driver JAX falls back to the CPU"
fi
if [[ ! -x $VENV/bin/python ]]; then
  if [[ $DRY_RUN != 1 ]] && ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    die "$PYTHON is older than Python 3.11, which jax needs; pass --python python3.12 (or similar)"
  fi
  ((INSTALL)) || die "the venv $VENV does not exist yet: drop --no-install"
  run "$PYTHON" -m venv "$VENV"
fi
if ((INSTALL)); then
  run "$VENV/bin/pip" install --quiet "jax[cuda12]" -e "$REPO_DIR"
fi

environment=(XLA_PYTHON_CLIENT_MEM_FRACTION="$MEM_FRACTION")
if [[ -n $GPUS ]]; then environment=(CUDA_VISIBLE_DEVICES="$GPUS" "${environment[@]}"); fi
workdir_args=()
if [[ -n $WORKDIR ]]; then workdir_args=(--workdir "$WORKDIR"); fi
# xstilts exits 75 (EX_TEMPFAIL) when SIGTERM made it save a checkpoint and stop: run it again,
# which resumes; any other code ends the script with that code.
for ((attempt = 1; ; attempt++)); do
  status=0
  run env "${environment[@]}" "$VENV/bin/xstilts" run "${XSTILTS_ARGS[@]}" "${workdir_args[@]}" || status=$?
  if ((status != 75 || attempt > MAX_RESUMES)) || [[ $DRY_RUN == 1 ]]; then exit "$status"; fi
  warn "xstilts saved and stopped (exit 75): resuming (${attempt} of at most ${MAX_RESUMES})"
done
