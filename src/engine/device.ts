// The WebGPU device: which adapter (Dawn's backends in Node, or a given navigator.gpu), the limits
// and features requested from it, and what the engine is told about it (EngineInfo). Without any
// adapter it stops with NoAdapterError, whose message says how to install a driver.
import { EngineError, NoAdapterError } from './errors.ts';

export type BackendChoice = 'auto' | 'vulkan' | 'metal' | 'd3d12' | 'opengl';

export interface DeviceOptions {
  /** Which Dawn backend to use in Node ('auto' by default; env XRD_BACKEND overrides). */
  backend?: BackendChoice;
  /** A WebGPU entry point (navigator.gpu in a browser). When given, `backend` is ignored. */
  gpu?: GPU;
}

export interface EngineInfo {
  backend: string;
  featureLevel: 'core' | 'compatibility';
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True for CPU implementations (lavapipe/llvmpipe, SwiftShader). */
  isSoftware: boolean;
  limits: {
    maxStorageBufferBindingSize: number;
    maxBufferSize: number;
    maxComputeInvocationsPerWorkgroup: number;
    maxComputeWorkgroupStorageSize: number;
    maxComputeWorkgroupsPerDimension: number;
  };
}

const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|swiftshader|softpipe/i;

const INSTALL_HINT =
  'No WebGPU adapter was found. On a machine with a GPU, install its Vulkan driver (Linux), or use ' +
  'macOS (Metal) or Windows (D3D12). On a machine without a GPU driver, install the software ' +
  'Vulkan driver: `sudo bash scripts/install-software-gpu.sh` (Debian/Ubuntu: Mesa lavapipe >= 23 ' +
  'from bookworm-backports, plus Mesa EGL for the OpenGL fallback). Force a backend with ' +
  'XRD_BACKEND=vulkan|opengl.';

interface AdapterPick {
  gpu: GPU;
  adapter: GPUAdapter;
  backend: string;
  featureLevel: 'core' | 'compatibility';
}

async function pickAdapter(options: DeviceOptions): Promise<AdapterPick> {
  if (options.gpu) {
    const adapter =
      (await options.gpu.requestAdapter()) ??
      (await options.gpu.requestAdapter({ featureLevel: 'compatibility' } as GPURequestAdapterOptions));
    if (!adapter) throw new NoAdapterError(INSTALL_HINT);
    const core = adapter.features.has('core-features-and-limits');
    return { gpu: options.gpu, adapter, backend: 'webgpu', featureLevel: core ? 'core' : 'compatibility' };
  }
  const { nodeGpu, defaultBackends } = await import('./node-gpu.ts');
  const forced = (process.env.XRD_BACKEND as BackendChoice | undefined) || options.backend || 'auto';
  const valid = ['auto', 'vulkan', 'metal', 'd3d12', 'opengl'];
  if (!valid.includes(forced)) throw new EngineError(`unknown backend "${forced}"; use one of ${valid.join(', ')}`);
  const backends = forced === 'auto' ? defaultBackends() : [forced];
  const tried: string[] = [];
  // 'auto': a core adapter on any backend first, then a compatibility one.
  for (const featureLevel of ['core', 'compatibility'] as const) {
    for (const backend of backends) {
      if (featureLevel === 'core' && backend === 'opengl') continue;
      const gpu = nodeGpu(backend);
      const adapter = await gpu.requestAdapter({ featureLevel } as GPURequestAdapterOptions);
      tried.push(`${backend}/${featureLevel}`);
      if (adapter) return { gpu, adapter, backend, featureLevel };
    }
  }
  throw new NoAdapterError(`${INSTALL_HINT} (tried ${tried.join(', ')})`);
}

export interface OpenedDevice {
  /** Dawn's instance (or navigator.gpu); it must outlive the device. */
  gpu: GPU;
  device: GPUDevice;
  info: EngineInfo;
}

/** Picks an adapter and requests a device with the adapter's own limits (not WebGPU's defaults). */
export async function openDevice(options: DeviceOptions = {}): Promise<OpenedDevice> {
  const { gpu, adapter, backend, featureLevel } = await pickAdapter(options);
  const a = adapter.limits;
  const wanted = [
    'maxStorageBufferBindingSize',
    'maxBufferSize',
    'maxComputeWorkgroupStorageSize',
    'maxComputeInvocationsPerWorkgroup',
    'maxComputeWorkgroupSizeX',
    'maxComputeWorkgroupSizeY',
    'maxComputeWorkgroupSizeZ',
    'maxComputeWorkgroupsPerDimension',
    'maxStorageBuffersPerShaderStage',
  ] as const;
  const requiredLimits: Record<string, number> = {};
  for (const k of wanted) requiredLimits[k] = a[k];
  const requiredFeatures: GPUFeatureName[] = [];
  if (adapter.features.has('timestamp-query')) requiredFeatures.push('timestamp-query');
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  const info = adapter.info;
  const description = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ');
  const engineInfo: EngineInfo = {
    backend,
    featureLevel,
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    isSoftware: SOFTWARE_ADAPTER.test(description),
    limits: {
      maxStorageBufferBindingSize: device.limits.maxStorageBufferBindingSize,
      maxBufferSize: device.limits.maxBufferSize,
      maxComputeInvocationsPerWorkgroup: device.limits.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupStorageSize: device.limits.maxComputeWorkgroupStorageSize,
      maxComputeWorkgroupsPerDimension: device.limits.maxComputeWorkgroupsPerDimension,
    },
  };
  return { gpu, device, info: engineInfo };
}
