#!/usr/bin/env bash
# Builds a self-contained folder to run xrd-npcnn on a Linux x86-64 machine that has a GPU driver
# but no Node.js and no network (a cluster node, a beamline computer):
#   bundle/node.xz          the Node.js binary of this machine, xz-compressed
#   bundle/dawn.node.xz     Dawn's WebGPU addon for linux-x64, alone
#   bundle/libvulkan1.deb   the Vulkan loader, in case the target has none
#   bundle/kernels/         the WGSL sources; moyo_wasm_bg.wasm (space-group tables)
#   bundle/*.mjs            the project bundled to one file per entry point (esbuild)
#   bundle/run.sh           unpacks once, then runs an entry: bundle/run.sh xrd.mjs --help
# Usage: bash scripts/portable-bundle.sh [out-dir]   (default: bundle/)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bundle}
rm -rf "$out" && mkdir -p "$out"

esbuild=node_modules/.bin/esbuild
[ -x "$esbuild" ] || esbuild=$(dirname "$(node -e "console.log(require.resolve('esbuild/package.json'))")")/bin/esbuild
declare -A entries=([xrd]=src/cli/main.ts [bench-kernels]=bench/kernels.ts [bench-sim]=bench/sim.ts)
for name in "${!entries[@]}"; do
  src=${entries[$name]}
  [ -f "$src" ] || { echo "skip $name: $src not found"; continue; }
  "$esbuild" "$src" --bundle --platform=node --format=esm --target=node20 \
    --external:webgpu --outfile="$out/$name.mjs" \
    --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" \
    --log-level=warning
done
# Python peers of the benchmarks travel as sources; the target's own python3 runs them.
cp bench/*.py "$out/" 2>/dev/null || true
cp -r kernels "$out/kernels"
cp node_modules/@spglib/moyo-wasm/moyo_wasm_bg.wasm "$out/"
xz -T0 -6 -c "$(command -v node)" > "$out/node.xz"
xz -T0 -6 -c node_modules/webgpu/dist/linux-x64/dawn.node > "$out/dawn.node.xz"
if command -v apt-get >/dev/null; then
  (cd "$out" && apt-get download libvulkan1 >/dev/null 2>&1 && mv libvulkan1_*.deb libvulkan1.deb) \
    || echo "note: could not download libvulkan1 (no apt); the target must have a Vulkan loader"
fi

cat > "$out/run.sh" <<'RUN'
#!/usr/bin/env bash
# Runs one bundled entry point: ./run.sh xrd.mjs simulate ...  (unpacks node and dawn.node once)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${XRD_BUNDLE_CACHE:-$here/.unpacked}
mkdir -p "$cache"
[ -x "$cache/node" ] || { xz -dc "$here/node.xz" > "$cache/node"; chmod +x "$cache/node"; }
[ -f "$cache/dawn.node" ] || xz -dc "$here/dawn.node.xz" > "$cache/dawn.node"
if ! ldconfig -p 2>/dev/null | grep -q libvulkan.so.1 && [ -f "$here/libvulkan1.deb" ]; then
  [ -d "$cache/vulkan" ] || dpkg -x "$here/libvulkan1.deb" "$cache/vulkan"
  export LD_LIBRARY_PATH="$cache/vulkan/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
# NVIDIA containers often keep the ICD file outside the standard search path.
nv=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$nv" ]; then export VK_DRIVER_FILES=$nv; fi
export XRD_DAWN_NODE="$cache/dawn.node" XRD_KERNEL_DIR="$here/kernels" XRD_MOYO_WASM="$here/moyo_wasm_bg.wasm"
entry=$1; shift
exec "$cache/node" "$here/$entry" "$@"
RUN
chmod +x "$out/run.sh"
du -sh "$out"
