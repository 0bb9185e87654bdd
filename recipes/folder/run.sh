#!/usr/bin/env bash
# Runs this recipe from the repository root (the config's relative paths are relative to it):
#   recipes/<name>/run.sh [--stage N] [--stop-stage M] [--num-proc P] [--rank R --world-size W]
# Options may be spelled with dashes (icefall style) or underscores (echovox's CLI).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here/../.."
args=()
for a in "$@"; do
  if [[ $a == --* ]]; then  # --stop-stage=3 -> --stop_stage=3; the value is left alone
    name=${a%%=*}; rest=${a:${#name}}; name=${name:2}; a="--${name//-/_}$rest"
  fi
  args+=("$a")
done
exec echovox recipe run "$here/config.yaml" ${args[@]+"${args[@]}"}
