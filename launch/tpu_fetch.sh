#!/usr/bin/env bash
# Copies the results of a run back to this machine.
#
# Usage: launch/tpu_fetch.sh [NAME --zone ZONE] --workdir REMOTE --to LOCAL
#
#   --workdir REMOTE     the run's workdir: a gs:// path or a bucket mounted by tpu_setup.sh
#                        --bucket (/mnt/gcs/BUCKET/... is read as gs://BUCKET/...), copied with
#                        `gcloud storage` (NAME and --zone are then not needed), or a path on
#                        a worker (copied with scp;
#                        a relative path is relative to ~/xstilts_jax, as in tpu_run.sh)
#   --to LOCAL           local directory that receives the workdir as LOCAL/<last part of REMOTE>
#   --zone ZONE          zone of the TPU (for a worker path)
#   --project PROJECT    Google Cloud project (default: gcloud's configured project)
#   --worker W           which worker to copy from (default 0)
#   --dry-run            print the commands instead of running them
#   -h, --help           show this help
#
# Examples:
#   launch/tpu_fetch.sh --workdir gs://my-bucket/xstilts/squad-xnli --to workdirs/
#   launch/tpu_fetch.sh xstilts-v5e --zone us-west4-a --workdir workdirs/squad-xnli --to workdirs/

set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

NAME="" ZONE="" PROJECT="" REMOTE="" LOCAL="" WORKER=0
while (($#)); do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --dry-run) DRY_RUN=1; shift ;;
    --zone | --zone=*) option_value ZONE "$@"; shift "$SHIFT" ;;
    --project | --project=*) option_value PROJECT "$@"; shift "$SHIFT" ;;
    --workdir | --workdir=*) option_value REMOTE "$@"; shift "$SHIFT" ;;
    --to | --to=*) option_value LOCAL "$@"; shift "$SHIFT" ;;
    --worker | --worker=*) option_value WORKER "$@"; shift "$SHIFT" ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) [[ -z $NAME ]] || die "unexpected argument '$1'"; NAME=$1; shift ;;
  esac
done

require "$REMOTE" --workdir
require "$LOCAL" --to
[[ $WORKER =~ ^[0-9]+$ ]] || die "--worker takes a number, not '$WORKER'"

[[ $REMOTE != /mnt/gcs/* ]] || REMOTE="gs://${REMOTE#/mnt/gcs/}"
if [[ $REMOTE == gs://* ]]; then
  copy=(gcloud storage cp --recursive "${REMOTE%/}" "$LOCAL")
else
  require "$NAME" "NAME (the TPU name, to copy a worker-local workdir)"
  require "$ZONE" --zone
  tpu_flags
  [[ $REMOTE == /* || $REMOTE == '~'* ]] || REMOTE="$REMOTE_CHECKOUT/$REMOTE"
  copy=(gcloud compute tpus tpu-vm scp --recurse "$NAME:${REMOTE%/}" "$LOCAL" "${TPU_FLAGS[@]}" --worker="$WORKER")
fi
run mkdir -p "$LOCAL"
run "${copy[@]}"
