#!/usr/bin/env bash
# Installs the Debian packages echovox needs. Idempotent: does nothing when all are present.
#   espeak-ng     phonemizer backend and the synthetic training voices
#   sox           pitch/tempo warps for synthetic speakers
#   opus-tools    the Opus baseline in `echovox codec eval`
#   libsndfile1   soundfile (wheels bundle it; kept for distro pythons)
#   fortunes      English sentences for the synthetic training corpus
#   asterisk-*    real speech (Debian's asterisk prompts, CC-BY-SA-3.0, studio recordings of five
#                 speakers in five languages): the codec's real training and held-out voices
# mbrola voices live in Debian's contrib/non-free; they are added with a private sources
# file so the system's apt configuration is left untouched (see DESIGN.md).
set -euo pipefail

PACKAGES=(espeak-ng sox libsox-fmt-all opus-tools libsndfile1 fortunes fortunes-min
  asterisk-core-sounds-en-g722 asterisk-core-sounds-es-g722 asterisk-core-sounds-fr-g722
  asterisk-core-sounds-it-g722 asterisk-core-sounds-ru-g722)
# US/UK voices plus the voices espeak-ng uses for accented English (synthetic speakers)
MBROLA_PACKAGES=(mbrola mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1
  mbrola-af1 mbrola-nl2 mbrola-fr1 mbrola-fr4 mbrola-de1 mbrola-de2 mbrola-de3 mbrola-de4
  mbrola-de5 mbrola-de6 mbrola-gr2 mbrola-hu1 mbrola-pl1 mbrola-ro1 mbrola-sw1 mbrola-sw2)
with_mbrola=0
[[ "${1:-}" == "--mbrola" ]] && with_mbrola=1

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "error: installing Debian packages needs root or sudo" >&2; exit 1
  fi
fi

missing() {
  local p out=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || out+=("$p"); done
  echo "${out[@]:-}"
}

need=$(missing "${PACKAGES[@]}")
if [[ -n "$need" ]]; then
  echo "installing Debian packages: $need"
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $need
fi

if [[ $with_mbrola -eq 1 ]]; then
  need=$(missing "${MBROLA_PACKAGES[@]}")
  if [[ -n "$need" ]]; then
    state=/var/lib/echovox-apt
    src=$state/contrib-nonfree.sources
    $SUDO mkdir -p "$state/lists/partial"
    sed -E 's/^Components:.*/Components: main contrib non-free/' \
      /etc/apt/sources.list.d/debian.sources | $SUDO tee "$src" >/dev/null
    opts=(-o "Dir::Etc::SourceList=$src" -o "Dir::Etc::SourceParts=/dev/null"
          -o "Dir::State::Lists=$state/lists")
    echo "installing mbrola voices (Debian non-free, non-commercial licence): $need"
    $SUDO apt-get "${opts[@]}" update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get "${opts[@]}" install -y -qq \
      --no-install-recommends $need
  fi
fi
