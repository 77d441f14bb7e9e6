#!/usr/bin/env bash
# Installs a software WebGPU path for machines without a GPU driver (Debian bookworm):
#  - Mesa lavapipe (Vulkan on the CPU) from bookworm-backports; the stock bookworm Mesa 22.3
#    lavapipe is rejected by Dawn, 25.x works.
#  - EGL/Mesa GL for Dawn's OpenGL compatibility backend (the fallback path).
# Run as root (or with sudo). Safe to run twice.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  # Reuse the Debian archive this machine already uses (one-line or deb822 sources).
  mirror=$( { grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources || true; } | awk '{print $2}' | grep -v security | head -n1 || true)
  if [ -z "$mirror" ]; then
    mirror=$( { grep -hs '^deb .* bookworm ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list || true; } | awk '{print $2}' | head -n1 || true)
  fi
  mirror=${mirror:-http://deb.debian.org/debian}
  echo "deb $mirror bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/bookworm-backports.list >/dev/null
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libegl1 libegl-mesa0 libgl1-mesa-dri
echo "Software WebGPU drivers installed (lavapipe Vulkan + Mesa EGL)."
