#!/usr/bin/env bash
# Creates a Cloud TPU VM (a single host or a multi-host pod slice).
#
# Usage: launch/tpu_create.sh NAME --zone ZONE --type ACCELERATOR_TYPE [options] [-- GCLOUD_FLAGS...]
#
#   --zone ZONE          e.g. us-east5-b
#   --type TYPE          accelerator type, e.g. v5litepod-16, v6e-8, v5p-32, v4-32
#   --runtime VERSION    TPU software version; chosen from TYPE when not given:
#                        v6e -> v2-alpha-tpuv6e, v5p -> v2-alpha-tpuv5,
#                        v5litepod/v5e -> v2-alpha-tpuv5-lite, v4/v3/v2 -> tpu-ubuntu2204-base
#   --project PROJECT    Google Cloud project (default: gcloud's configured project)
#   --spot               Spot capacity (cheap, can be preempted at any time)
#   --preemptible        preemptible capacity (on-demand creation only)
#   --reserved           capacity from the project's reservation
#   --queued             ask through a queued resource of the same NAME and wait until it
#                        is ACTIVE; combines with --spot, --reserved or --best-effort
#   --best-effort        best-effort tier of a queued resource (a `gcloud alpha` flag)
#   --valid-until D      with --queued: give up when not provisioned within D (e.g. 6h)
#   --no-wait            with --queued: return once the request is accepted
#   --poll SECONDS       with --queued: seconds between state checks (default 30)
#   --dry-run            print the gcloud commands instead of running them
#   -h, --help           show this help
#
# Flags after '--' go to the gcloud create command as they are (e.g. --network=...).
#
# Examples:
#   launch/tpu_create.sh xstilts-v5e --zone us-west4-a --type v5litepod-16 --spot
#   launch/tpu_create.sh xstilts-v4 --zone us-central2-b --type v4-32 --queued --reserved --valid-until 6h

set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# The TPU software version for an accelerator type (Cloud TPU "TPU software versions").
runtime_for_type() {
  case $1 in
    v6e-*) echo v2-alpha-tpuv6e ;;
    v5p-*) echo v2-alpha-tpuv5 ;;
    v5litepod-* | v5e-*) echo v2-alpha-tpuv5-lite ;;
    v4-* | v3-* | v2-*) echo tpu-ubuntu2204-base ;;
    tpu7x-* | v7*) die "'$1' is not served by the Cloud TPU API (TPU7x and later): use GKE" ;;
    *) die "no runtime version known for accelerator type '$1'; pass --runtime" ;;
  esac
}

NAME="" ZONE="" TYPE="" RUNTIME="" PROJECT="" CAPACITY="" VALID_UNTIL="" POLL=30
QUEUED=0 WAIT=1 EXTRA_FLAGS=()
while (($#)); do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --dry-run) DRY_RUN=1; shift ;;
    --zone | --zone=*) option_value ZONE "$@"; shift "$SHIFT" ;;
    --type | --type=*) option_value TYPE "$@"; shift "$SHIFT" ;;
    --runtime | --runtime=*) option_value RUNTIME "$@"; shift "$SHIFT" ;;
    --project | --project=*) option_value PROJECT "$@"; shift "$SHIFT" ;;
    --valid-until | --valid-until=*) option_value VALID_UNTIL "$@"; shift "$SHIFT" ;;
    --poll | --poll=*) option_value POLL "$@"; shift "$SHIFT" ;;
    --spot | --preemptible | --reserved | --best-effort)
      [[ -z $CAPACITY ]] || die "$CAPACITY and $1 exclude each other"
      CAPACITY=$1; shift ;;
    --queued) QUEUED=1; shift ;;
    --no-wait) WAIT=0; shift ;;
    --) shift; EXTRA_FLAGS=("$@"); break ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) [[ -z $NAME ]] || die "unexpected argument '$1'"; NAME=$1; shift ;;
  esac
done

require "$NAME" "NAME (the TPU name)"
require "$ZONE" --zone
require "$TYPE" --type
[[ $POLL =~ ^[0-9]+$ ]] || die "--poll must be a whole number of seconds, not '$POLL'"
if ((!QUEUED)); then
  [[ $CAPACITY != --best-effort ]] || die "--best-effort needs --queued"
  [[ -z $VALID_UNTIL ]] || die "--valid-until needs --queued"
  ((WAIT)) || die "--no-wait needs --queued"
elif [[ $CAPACITY == --preemptible ]]; then
  die "a queued resource takes --spot, --reserved or --best-effort, not --preemptible"
fi
[[ -n $RUNTIME ]] || RUNTIME=$(runtime_for_type "$TYPE")
tpu_flags

if ((!QUEUED)); then
  run gcloud compute tpus tpu-vm create "$NAME" "${TPU_FLAGS[@]}" \
    --accelerator-type="$TYPE" --version="$RUNTIME" ${CAPACITY:+"$CAPACITY"} "${EXTRA_FLAGS[@]}"
  exit 0
fi

gcloud=(gcloud compute tpus)
if [[ $CAPACITY == --best-effort ]]; then gcloud=(gcloud alpha compute tpus); fi
run "${gcloud[@]}" queued-resources create "$NAME" --node-id="$NAME" "${TPU_FLAGS[@]}" \
  --accelerator-type="$TYPE" --runtime-version="$RUNTIME" ${CAPACITY:+"$CAPACITY"} \
  ${VALID_UNTIL:+--valid-until-duration="$VALID_UNTIL"} "${EXTRA_FLAGS[@]}"
((WAIT)) || exit 0

describe=(gcloud compute tpus queued-resources describe "$NAME" "${TPU_FLAGS[@]}" --format='value(state.state)')
if [[ $DRY_RUN == 1 ]]; then
  run "${describe[@]}"
  echo "# then every ${POLL}s until the state is ACTIVE"
  exit 0
fi
echo "+ $(shell_quote "${describe[@]}")  # every ${POLL}s until ACTIVE" >&2
last_state=""
while true; do
  state=$("${describe[@]}") || state="unknown (describe failed)"
  if [[ $state != "$last_state" ]]; then
    echo "$(date +%H:%M:%S) queued resource $NAME: $state" >&2
    last_state=$state
  fi
  case $state in
    ACTIVE) exit 0 ;;
    FAILED | SUSPENDED | SUSPENDING | DELETING)
      die "queued resource $NAME is $state; see gcloud compute tpus queued-resources describe $NAME --zone=$ZONE" ;;
  esac
  sleep "$POLL"
done
