// A WGSL kernel file: reflected with wgsl_reflect so every entry point gets an explicit bind-group
// layout, and every dispatch can be checked binding by binding before it reaches the GPU.
import { ResourceType, WgslReflect } from 'wgsl_reflect/wgsl_reflect.module.js';
import { KernelError } from './errors.ts';

export type ScalarKind = 'f32' | 'u32' | 'i32';

export interface UniformMember {
  name: string;
  offset: number;
  /** Number of scalars (1 for scalars, N for vecN). */
  count: number;
  kind: ScalarKind;
}

export interface BindingInfo {
  name: string;
  binding: number;
  kind: 'uniform' | 'storage-read' | 'storage-rw';
  /** Element type of a storage array (f32, u32, i32 or vec4<f32>...); null for uniforms. */
  element: string | null;
  /** Scalar kind of a storage array's elements, used to check tensor dtypes. */
  scalar: ScalarKind | null;
  /** Bytes per element of a runtime-sized array, or the fixed size of a uniform struct. */
  stride: number;
  /** Fixed byte size of a uniform struct (0 for runtime arrays). */
  size: number;
  uniformMembers: UniformMember[] | null;
}

export interface EntryInfo {
  name: string;
  workgroupSize: [number, number, number];
  bindings: BindingInfo[];
  overrides: string[];
}

export interface KernelModule {
  name: string;
  source: string;
  module: GPUShaderModule;
  entries: Map<string, EntryInfo>;
}

function scalarOf(typeName: string | undefined): ScalarKind | null {
  if (typeName === 'f32' || typeName === 'u32' || typeName === 'i32') return typeName;
  return null;
}

interface ReflectedType {
  name: string;
  size: number;
  format?: ReflectedType | null;
  stride?: number;
  members?: { name: string; offset: number; size: number; type: ReflectedType }[] | null;
}

function uniformMembers(t: ReflectedType, kernel: string, varName: string): UniformMember[] {
  if (!t.members) throw new KernelError(`kernel "${kernel}": uniform "${varName}" must be a struct`);
  return t.members.map((m) => {
    const vec = /^vec([234])/.exec(m.type.name);
    const kind = scalarOf(vec ? m.type.format?.name : m.type.name);
    if (!kind) {
      throw new KernelError(
        `kernel "${kernel}": uniform member ${varName}.${m.name} has type ${m.type.name}; only f32/u32/i32 scalars and vectors are supported`,
      );
    }
    return { name: m.name, offset: m.offset, count: vec ? Number(vec[1]) : 1, kind };
  });
}

/**
 * Reflects a WGSL source: entry points, their bindings (group 0 only), overrides.
 * Caveat of wgsl_reflect: an entry point is taken to use every module-scope binding whose name
 * also appears as a local identifier in it, so kernel files must not reuse binding names for
 * locals (the dispatch would then demand that binding).
 */
export function reflectKernel(name: string, source: string): Map<string, EntryInfo> {
  let reflect: WgslReflect;
  try {
    reflect = new WgslReflect(source);
  } catch (e) {
    throw new KernelError(`kernel "${name}": WGSL could not be parsed for reflection: ${(e as Error).message}`);
  }
  const entries = new Map<string, EntryInfo>();
  for (const fn of reflect.entry.compute) {
    const bindings: BindingInfo[] = [];
    for (const v of fn.resources) {
      if (v.group !== 0) throw new KernelError(`kernel "${name}": only @group(0) is supported (${v.name})`);
      const t = v.type as unknown as ReflectedType;
      if (v.resourceType === ResourceType.Uniform) {
        bindings.push({
          name: v.name,
          binding: v.binding,
          kind: 'uniform',
          element: null,
          scalar: null,
          stride: 0,
          size: t.size,
          uniformMembers: uniformMembers(t, name, v.name),
        });
      } else if (v.resourceType === ResourceType.Storage) {
        const fmt = t.format;
        const element = fmt ? (fmt.format ? `${fmt.name}<${fmt.format.name}>` : fmt.name) : t.name;
        bindings.push({
          name: v.name,
          binding: v.binding,
          kind: v.access === 'read' ? 'storage-read' : 'storage-rw',
          element,
          scalar: scalarOf(fmt ? (fmt.format ? fmt.format.name : fmt.name) : t.name),
          stride: t.stride ?? t.size,
          size: 0,
          uniformMembers: null,
        });
      } else {
        throw new KernelError(`kernel "${name}": binding ${v.name} is not a buffer; only buffers are supported`);
      }
    }
    bindings.sort((a, b) => a.binding - b.binding);
    entries.set(fn.name, {
      name: fn.name,
      workgroupSize: (fn.workgroupSize ?? [1, 1, 1]) as [number, number, number],
      bindings,
      overrides: fn.overrides.map((o) => o.name),
    });
  }
  return entries;
}

/** Turns WGSL compilation messages into one exception naming the kernel, line and column. */
export async function checkCompilation(name: string, module: GPUShaderModule, source: string): Promise<void> {
  const info = await module.getCompilationInfo();
  const errors = info.messages.filter((m) => m.type === 'error');
  if (errors.length === 0) return;
  const lines = source.split('\n');
  const text = errors
    .map((m) => {
      const code = lines[m.lineNum - 1]?.trim() ?? '';
      return `  kernels/${name}.wgsl:${m.lineNum}:${m.linePos}: ${m.message}\n    ${code}`;
    })
    .join('\n');
  throw new KernelError(`kernel "${name}" failed to compile:\n${text}`);
}

/** Writes uniform values into `view` at the struct offsets; every member must be given. */
export function packUniforms(
  binding: BindingInfo,
  values: Record<string, number | readonly number[]>,
  view: DataView,
  base: number,
  kernelLabel: string,
): void {
  const members = binding.uniformMembers!;
  for (const key of Object.keys(values)) {
    if (!members.some((m) => m.name === key)) {
      throw new KernelError(
        `${kernelLabel}: uniform "${binding.name}" has no member "${key}" (members: ${members.map((m) => m.name).join(', ')})`,
      );
    }
  }
  for (const m of members) {
    const v = values[m.name];
    if (v === undefined) throw new KernelError(`${kernelLabel}: uniform member ${binding.name}.${m.name} was not given`);
    const arr = typeof v === 'number' ? [v] : v;
    if (arr.length !== m.count) {
      throw new KernelError(`${kernelLabel}: uniform member ${binding.name}.${m.name} needs ${m.count} values, got ${arr.length}`);
    }
    for (let i = 0; i < m.count; i++) {
      const off = base + m.offset + i * 4;
      const x = arr[i];
      if (m.kind === 'f32') view.setFloat32(off, x, true);
      else if (m.kind === 'u32') {
        if (!Number.isInteger(x) || x < 0 || x > 0xffffffff) {
          throw new KernelError(`${kernelLabel}: uniform ${binding.name}.${m.name} must be a u32, got ${x}`);
        }
        view.setUint32(off, x, true);
      } else {
        if (!Number.isInteger(x)) throw new KernelError(`${kernelLabel}: uniform ${binding.name}.${m.name} must be an i32, got ${x}`);
        view.setInt32(off, x, true);
      }
    }
  }
}
