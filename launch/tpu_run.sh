#!/usr/bin/env bash
# Starts `xstilts run` on every worker of a TPU VM at once, detached from ssh.
#
# Usage: launch/tpu_run.sh NAME --zone ZONE --workdir WORKDIR [options] -- XSTILTS_RUN_ARGS...
#
#   --zone ZONE          zone of the TPU
#   --project PROJECT    Google Cloud project (default: gcloud's configured project)
#   --workdir WORKDIR    where the run writes: on multi-host slices a place every worker sees,
#                        i.e. a gs://BUCKET/... URL (written natively: orbax through tensorstore,
#                        the rest through xstilts_jax/paths.py, with the TPU VM's service account)
#                        or a bucket mounted by tpu_setup.sh --bucket (/mnt/gcs/BUCKET/...);
#                        a worker-local path is relative to ~/xstilts_jax (single-host slices)
#   --run-name RUN       names the log ~/xstilts-RUN.log on each worker
#                        (default: the last part of WORKDIR)
#   --env KEY=VALUE      extra environment for the run (repeatable; printed with the command),
#                        e.g. --env TFDS_DATA_DIR=gs://my-bucket/tfds
#   --topology TOPO      the slice's topology (v5e:2x4, v5e-8, v4-8, ...; default $XSTILTS_TOPOLOGY):
#                        `xstilts plan` compiles every step of the run for it here first, and a
#                        step that does not fit in a chip's memory stops the launch
#   --skip-plan          start without the plan
#   --dry-run            print the gcloud command instead of running it
#   -h, --help           show this help
#
# Each worker runs, from ~/xstilts_jax and under nohup so that an ssh disconnect does not stop it:
#   XSTILTS_DISTRIBUTED=1 xstilts run XSTILTS_RUN_ARGS... --workdir WORKDIR > ~/xstilts-RUN.log 2>&1
# again after each exit 75 (a SIGTERM made it save and stop; the re-run resumes).
# Install first with launch/tpu_setup.sh; follow with launch/tpu_logs.sh.
#
# Example:
#   launch/tpu_run.sh xstilts-v5e --zone us-west4-a --workdir /mnt/gcs/my-bucket/xstilts/squad-xnli -- \
#     --config configs/xstilts.py:intermediate=squad_v1,target=xnli --config.seed=1

set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
TOPOLOGY=${XSTILTS_TOPOLOGY:-} SKIP_PLAN=0

NAME="" ZONE="" PROJECT="" WORKDIR="" RUN_NAME="" ENV_VARS=() XSTILTS_ARGS=() SAW_SEPARATOR=0 assignment=""
while (($#)); do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --dry-run) DRY_RUN=1; shift ;;
    --topology | --topology=*) option_value TOPOLOGY "$@"; shift "$SHIFT" ;;
    --skip-plan) SKIP_PLAN=1; shift ;;
    --zone | --zone=*) option_value ZONE "$@"; shift "$SHIFT" ;;
    --project | --project=*) option_value PROJECT "$@"; shift "$SHIFT" ;;
    --workdir | --workdir=*) option_value WORKDIR "$@"; shift "$SHIFT" ;;
    --run-name | --run-name=*) option_value RUN_NAME "$@"; shift "$SHIFT" ;;
    --env | --env=*)
      option_value assignment "$@"; shift "$SHIFT"
      [[ $assignment =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || die "--env takes KEY=VALUE, not '$assignment'"
      ENV_VARS+=("$assignment") ;;
    --) shift; XSTILTS_ARGS=("$@"); SAW_SEPARATOR=1; break ;;
    -*) die "unknown option '$1' (put the xstilts arguments after '--')" ;;
    *) [[ -z $NAME ]] || die "unexpected argument '$1' (put the xstilts arguments after '--')"; NAME=$1; shift ;;
  esac
done

require "$NAME" "NAME (the TPU name)"
require "$ZONE" --zone
require "$WORKDIR" --workdir
((SAW_SEPARATOR)) || die "'--' followed by the arguments of 'xstilts run' is required (see --help)"
if ((${#XSTILTS_ARGS[@]})) && [[ ${XSTILTS_ARGS[0]} == run ]]; then
  die "give the arguments of 'xstilts run' after '--', without 'run'"
fi
reject_workdir_in_args "${XSTILTS_ARGS[@]}"
if [[ -z $RUN_NAME ]]; then
  RUN_NAME=$(basename "${WORKDIR%/}")
  RUN_NAME=${RUN_NAME//[^A-Za-z0-9._-]/_}
fi
[[ $RUN_NAME =~ ^[A-Za-z0-9._-]+$ ]] || die "--run-name may use only letters, digits and . _ -, not '$RUN_NAME'"
if [[ $WORKDIR == gs://* ]]; then
  bucket=${WORKDIR#gs://}
  [[ -n ${bucket%%/*} && $bucket == */?* ]] || die "workdir '$WORKDIR': give gs://BUCKET/PREFIX (a folder in the bucket)"
elif [[ $WORKDIR != /mnt/gcs/* ]]; then
  warn "workdir '$WORKDIR' is local to each worker: fine on one host; fetch it from worker 0 with launch/tpu_fetch.sh"
fi
tpu_flags

# shellcheck disable=SC2088  # the worker's shell expands the ~
log="~/xstilts-$RUN_NAME.log"
env_assignments=$(shell_quote XSTILTS_DISTRIBUTED=1 "${ENV_VARS[@]}")
xstilts_args=$(shell_quote "${XSTILTS_ARGS[@]}" --workdir "$WORKDIR")
# xstilts exits 75 (EX_TEMPFAIL) when SIGTERM made it save a checkpoint and stop: the worker runs it
# again, which resumes; any other exit code ends the loop.
# shellcheck disable=SC2016  # expanded by the worker's bash, not here
resume_loop=$(shell_quote 'while "$0" "$@"; status=$?; [ "$status" -eq 75 ]; do echo "xstilts: exit 75 (saved on SIGTERM): resuming" >&2; done; exit "$status"')
remote_script="cd ~/$REMOTE_CHECKOUT || exit 1; \
nohup env $env_assignments bash -c $resume_loop ~/$REMOTE_VENV/bin/xstilts run $xstilts_args > $log 2>&1 < /dev/null & \
echo \"\$(hostname): started xstilts (pid \$!), log $log\""
# The plan runs here (libtpu's compile-only client needs no TPU), before any TPU time is spent.
if [[ -n $TOPOLOGY ]] && ((!SKIP_PLAN)); then
  if ! run "${XSTILTS_BIN:-xstilts}" plan --topology "$TOPOLOGY" "${XSTILTS_ARGS[@]}"; then
    die "xstilts plan: the run does not fit on $TOPOLOGY or could not be planned (see above); --skip-plan starts it anyway"
  fi
fi
run gcloud compute tpus tpu-vm ssh "$NAME" "${TPU_FLAGS[@]}" --worker=all --command "$remote_script"
