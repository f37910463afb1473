# shellcheck shell=bash disable=SC2034  # the variables set here are read by the scripts that source it
# Helpers shared by the launch/ scripts. Sourced, never run.
#
# Every script accepts --dry-run (or DRY_RUN=1 in the environment): each command is then
# printed as one copy-pastable line starting with "+ " on stdout and not executed, and
# nothing outside this checkout is touched (gcloud need not be installed).
# When executing, the same "+ " line goes to stderr before each command runs.

if ((BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] < 404)); then
  echo "$(basename "$0"): error: needs bash 4.4 or newer (macOS: brew install bash)" >&2
  exit 2
fi

LAUNCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$LAUNCH_DIR")
SCRIPT=$(basename "$0")
DRY_RUN=${DRY_RUN:-0}

# Where the project lives on each TPU worker, relative to the worker's home directory.
REMOTE_CHECKOUT=xstilts_jax
REMOTE_VENV=xstilts_venv

# Prints the usage header: the comment block at the top of the calling script.
usage() {
  awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"
}

die() {
  echo "$SCRIPT: error: $*" >&2
  exit 2
}

warn() {
  echo "$SCRIPT: warning: $*" >&2
}

# option_value VAR "$@": stores the value of the option in "$1" (as --opt=VALUE or --opt VALUE)
# into VAR, and sets SHIFT to how many arguments the caller must shift.
option_value() {
  local var=$1 opt=$2
  if [[ $opt == --*=* ]]; then
    printf -v "$var" '%s' "${opt#*=}"
    SHIFT=1
  elif (($# >= 3)); then
    printf -v "$var" '%s' "$3"
    SHIFT=2
  else
    die "$opt needs a value"
  fi
}

# require VALUE WHAT: dies with "WHAT is required" when VALUE is empty.
require() {
  [[ -n $1 ]] || die "$2 is required (see --help)"
}

# Quotes each argument for a POSIX shell only where needed, joined by spaces.
shell_quote() {
  local arg quoted=() escaped_quote="'\\''"
  for arg in "$@"; do
    if [[ $arg =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
      quoted+=("$arg")
    else
      quoted+=("'${arg//\'/$escaped_quote}'")
    fi
  done
  local IFS=' '
  echo "${quoted[*]}"
}

# Prints a command as it would be typed, then runs it unless this is a dry run.
run() {
  if [[ $DRY_RUN == 1 ]]; then
    echo "+ $(shell_quote "$@")"
  else
    echo "+ $(shell_quote "$@")" >&2
    "$@"
  fi
}

# The flags every gcloud TPU command takes: --zone=ZONE and, when given, --project=PROJECT.
tpu_flags() {
  TPU_FLAGS=(--zone="$ZONE")
  if [[ -n ${PROJECT:-} ]]; then TPU_FLAGS+=(--project="$PROJECT"); fi
}

# Dies when the xstilts arguments carry their own --workdir (the script adds it).
reject_workdir_in_args() {
  local arg
  for arg in "$@"; do
    if [[ $arg == --workdir || $arg == --workdir=* ]]; then
      die "give --workdir to $SCRIPT before '--', not among the xstilts arguments"
    fi
  done
}
