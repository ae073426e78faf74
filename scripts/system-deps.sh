#!/usr/bin/env bash
# System tools the project needs beyond pip, and the Debian/Ubuntu packages that bring them:
#   xelatex + pandoc  -> the PDF report (nbconvert)
#   pdftotext         -> the tests read the PDF's text
#   unar or bsdtar    -> extracting UCF101.rar (RAR v4)
# Missing ones are installed with apt-get when that is possible without a password (root, or
# passwordless sudo). Otherwise this prints the command to run and exits 0, or 1 with --strict.
set -euo pipefail

strict=0
[ "${1:-}" = "--strict" ] && strict=1

need=()
command -v xelatex >/dev/null 2>&1 || need+=(texlive-xetex texlive-fonts-recommended texlive-plain-generic)
command -v pandoc >/dev/null 2>&1 || need+=(pandoc)
command -v pdftotext >/dev/null 2>&1 || need+=(poppler-utils)
{ command -v unar >/dev/null 2>&1 || command -v bsdtar >/dev/null 2>&1; } || need+=(unar libarchive-tools)
[ ${#need[@]} -eq 0 ] && exit 0

cmd="apt-get install -y --no-install-recommends ${need[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo"; else sudo="none"; fi
fi
if ! command -v apt-get >/dev/null 2>&1 || [ "$sudo" = "none" ]; then
  echo "warning: missing system packages: ${need[*]}." >&2
  echo "         Install them (Debian/Ubuntu: sudo $cmd); without TeX the notebooks run but no PDF is rendered." >&2
  exit $strict
fi
echo "installing system packages: ${need[*]} (apt-get, a few minutes on first use)"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
