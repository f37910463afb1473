#!/usr/bin/env bash
# Deletes a TPU VM, or the queued resource that holds it, without asking.
#
# Usage: launch/tpu_delete.sh NAME --zone ZONE [--queued] [--async]
#
#   --zone ZONE          zone of the TPU
#   --project PROJECT    Google Cloud project (default: gcloud's configured project)
#   --queued             NAME is a queued resource (made by tpu_create.sh --queued): delete
#                        it together with its TPU (--force)
#   --async              return without waiting for the deletion to finish
#   --dry-run            print the gcloud command instead of running it
#   -h, --help           show this help
#
# Example:
#   launch/tpu_delete.sh xstilts-v5e --zone us-west4-a

set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

NAME="" ZONE="" PROJECT="" QUEUED=0 ASYNC=()
while (($#)); do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --dry-run) DRY_RUN=1; shift ;;
    --zone | --zone=*) option_value ZONE "$@"; shift "$SHIFT" ;;
    --project | --project=*) option_value PROJECT "$@"; shift "$SHIFT" ;;
    --queued) QUEUED=1; shift ;;
    --async) ASYNC=(--async); shift ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) [[ -z $NAME ]] || die "unexpected argument '$1'"; NAME=$1; shift ;;
  esac
done

require "$NAME" "NAME (the TPU name)"
require "$ZONE" --zone
tpu_flags

if ((QUEUED)); then
  run gcloud compute tpus queued-resources delete "$NAME" "${TPU_FLAGS[@]}" --force --quiet "${ASYNC[@]}"
else
  run gcloud compute tpus tpu-vm delete "$NAME" "${TPU_FLAGS[@]}" --quiet "${ASYNC[@]}"
fi
