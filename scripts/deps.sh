#!/usr/bin/env bash
# Installs the Debian packages goldenpcr's tests use as real peers, only
# those missing, so `make test` works on a fresh machine.
set -euo pipefail

# command → Debian package providing it
declare -A need=(
	[tpm2_eventlog]=tpm2-tools
	[tpm2_pcrread]=tpm2-tools
	[swtpm]=swtpm
	[swtpm_setup]=swtpm-tools
	[evmctl]=ima-evm-utils
)

missing=()
for cmd in "${!need[@]}"; do
	command -v "$cmd" >/dev/null 2>&1 || missing+=("${need[$cmd]}")
done
[ ${#missing[@]} -eq 0 ] && { echo "deps: all peer tools present"; exit 0; }

mapfile -t pkgs < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "deps: installing ${pkgs[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
