#!/usr/bin/env bash
# Shows the log of an xstilts run started by launch/tpu_run.sh.
#
# Usage: launch/tpu_logs.sh NAME --zone ZONE [--worker 0] [--run-name RUN] [--follow] [--lines N]
#
#   --zone ZONE          zone of the TPU
#   --project PROJECT    Google Cloud project (default: gcloud's configured project)
#   --worker W           which worker's log: a number or "all" (default 0, the one that
#                        reports metrics)
#   --run-name RUN       show ~/xstilts-RUN.log (default: the newest ~/xstilts-*.log)
#   --follow             keep printing new lines (Ctrl-C stops watching, not the run)
#   --lines N            how many of the last lines to show first (default 100)
#   --dry-run            print the gcloud command instead of running it
#   -h, --help           show this help
#
# Example:
#   launch/tpu_logs.sh xstilts-v5e --zone us-west4-a --follow

set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

NAME="" ZONE="" PROJECT="" WORKER=0 RUN_NAME="" LINES=100 FOLLOW=0
while (($#)); do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --dry-run) DRY_RUN=1; shift ;;
    --zone | --zone=*) option_value ZONE "$@"; shift "$SHIFT" ;;
    --project | --project=*) option_value PROJECT "$@"; shift "$SHIFT" ;;
    --worker | --worker=*) option_value WORKER "$@"; shift "$SHIFT" ;;
    --run-name | --run-name=*) option_value RUN_NAME "$@"; shift "$SHIFT" ;;
    --lines | --lines=*) option_value LINES "$@"; shift "$SHIFT" ;;
    --follow) FOLLOW=1; shift ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) [[ -z $NAME ]] || die "unexpected argument '$1'"; NAME=$1; shift ;;
  esac
done

require "$NAME" "NAME (the TPU name)"
require "$ZONE" --zone
[[ $WORKER =~ ^([0-9]+|all)$ ]] || die "--worker takes a number or 'all', not '$WORKER'"
[[ $LINES =~ ^[0-9]+$ ]] || die "--lines takes a number, not '$LINES'"
[[ -z $RUN_NAME || $RUN_NAME =~ ^[A-Za-z0-9._-]+$ ]] || die "--run-name may use only letters, digits and . _ -"
tpu_flags

if [[ -n $RUN_NAME ]]; then
  find_log="log=~/xstilts-$RUN_NAME.log"
else
  find_log="log=\$(ls -t ~/xstilts-*.log 2>/dev/null | head -n 1)"
fi
tail=(tail -n "$LINES")
if ((FOLLOW)); then tail+=(-F); fi
remote_script="$find_log; \
[ -f \"\$log\" ] || { echo \"\$(hostname): no xstilts log (~/xstilts-*.log) yet\" >&2; exit 1; }; \
echo \"== \$(hostname): \$log\"; ${tail[*]} \"\$log\""
run gcloud compute tpus tpu-vm ssh "$NAME" "${TPU_FLAGS[@]}" --worker="$WORKER" --command "$remote_script"
