// The safetensors format, written from its specification (bytes in, bytes out; no I/O here):
//
//   8 bytes    N, the header length, unsigned 64-bit little-endian
//   N bytes    a UTF-8 JSON object: { "<name>": { "dtype": "F32", "shape": [...],
//              "data_offsets": [begin, end] }, ..., "__metadata__": { "<key>": "<string>" } }
//              (may end in spaces, which pad the data to an 8-byte boundary)
//   the rest   the tensor bytes, little-endian, row-major; offsets count from the end of the
//              header, and the tensors cover the data without holes or overlaps.
//
// We write and read F32 only: that is all the engine stores.

export class SafetensorsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetensorsError';
  }
}

export interface NamedTensorData {
  shape: number[];
  data: Float32Array;
}

export interface SafetensorsContents {
  tensors: Map<string, NamedTensorData>;
  metadata: Record<string, string>;
}

const METADATA_KEY = '__metadata__';
/** Headers larger than this are rejected as corrupt (the reference implementation uses 100 MB). */
const MAX_HEADER_BYTES = 100_000_000;

function elements(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Encodes named f32 tensors (in the given order) and optional string metadata. */
export function encodeSafetensors(
  tensors: Iterable<[string, NamedTensorData]>,
  metadata?: Record<string, string>,
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError(`metadata "${k}" must be a string, got ${typeof v}`);
    }
    header[METADATA_KEY] = metadata;
  }
  const list: [string, NamedTensorData][] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    if (name === METADATA_KEY) throw new SafetensorsError(`"${METADATA_KEY}" is reserved and cannot name a tensor`);
    if (Object.hasOwn(header, name)) throw new SafetensorsError(`tensor "${name}" is given twice`);
    if (!t.shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new SafetensorsError(`tensor "${name}" has an invalid shape [${t.shape.join(', ')}]`);
    }
    if (elements(t.shape) !== t.data.length) {
      throw new SafetensorsError(`tensor "${name}": shape [${t.shape.join(', ')}] needs ${elements(t.shape)} values, got ${t.data.length}`);
    }
    const bytes = t.data.length * 4;
    header[name] = { dtype: 'F32', shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    list.push([name, t]);
    offset += bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  let at = 8 + padded;
  for (const [, t] of list) {
    if (littleEndian) {
      out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    } else {
      for (let i = 0; i < t.data.length; i++) view.setFloat32(at + 4 * i, t.data[i], true);
    }
    at += t.data.length * 4;
  }
  return out;
}

function corrupt(what: string): SafetensorsError {
  return new SafetensorsError(`not a valid safetensors file: ${what}`);
}

/** Decodes a safetensors file. Tensor data are copies (aligned Float32Arrays). */
export function decodeSafetensors(bytes: Uint8Array): SafetensorsContents {
  if (bytes.length < 8) throw corrupt(`${bytes.length} bytes is shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(Math.min(MAX_HEADER_BYTES, bytes.length - 8))) {
    throw corrupt(`header length ${n} does not fit in a file of ${bytes.length} bytes`);
  }
  const headerLen = Number(n);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)));
  } catch (e) {
    throw corrupt(`the header is not UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw corrupt('the header is not a JSON object');
  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: { name: string; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw corrupt(`"${METADATA_KEY}" is not an object`);
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') throw corrupt(`metadata "${k}" is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const info = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof info !== 'object' || info === null) throw corrupt(`entry "${name}" is not an object`);
    if (info.dtype !== 'F32') {
      throw new SafetensorsError(`tensor "${name}" has dtype ${JSON.stringify(info.dtype)}; only F32 is supported (convert it to float32)`);
    }
    const shape = info.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw corrupt(`tensor "${name}" has an invalid shape ${JSON.stringify(shape)}`);
    }
    const offs = info.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => Number.isInteger(d) && d >= 0) || offs[0] > offs[1]) {
      throw corrupt(`tensor "${name}" has invalid data_offsets ${JSON.stringify(offs)}`);
    }
    const [begin, end] = offs as [number, number];
    if (end - begin !== elements(shape) * 4) {
      throw corrupt(`tensor "${name}": data_offsets [${begin}, ${end}] hold ${end - begin} bytes but shape [${shape.join(', ')}] needs ${elements(shape) * 4}`);
    }
    if (end > dataLen) throw corrupt(`tensor "${name}" ends at byte ${end} but the data section has ${dataLen} bytes`);
    entries.push({ name, shape, begin, end });
  }
  // The data must be covered exactly: sorted by offset, each tensor starts where the last ended.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  for (const e of sorted) {
    if (e.begin !== expected) throw corrupt(`tensor "${e.name}" starts at byte ${e.begin}, expected ${expected} (a hole or an overlap)`);
    expected = e.end;
  }
  if (expected !== dataLen) throw corrupt(`the tensors cover ${expected} bytes but the data section has ${dataLen}`);
  const tensors = new Map<string, NamedTensorData>();
  for (const e of entries) {
    const count = (e.end - e.begin) / 4;
    const data = new Float32Array(count);
    const at = bytes.byteOffset + dataStart + e.begin;
    if (littleEndian) {
      new Uint8Array(data.buffer).set(new Uint8Array(bytes.buffer, at, e.end - e.begin));
    } else {
      for (let i = 0; i < count; i++) data[i] = view.getFloat32(dataStart + e.begin + 4 * i, true);
    }
    tensors.set(e.name, { shape: e.shape, data });
  }
  return { tensors, metadata };
}

export interface NamedTensorCheck {
  /** The file, for messages. */
  where: string;
  /** A tensor of the file that nothing wants is an error. */
  strict: boolean;
  /** The end of the message for such a tensor (after "that the model does not have; "). */
  strictHint: string;
  /** Makes the error for a message and the tensor it is about. */
  error: (message: string, tensorName: string) => Error;
}

/**
 * Checks a file's tensors against the names and shapes a model wants: every wanted name present
 * with its shape and, when strict, nothing else (names in `ignore` excepted). Throws the first
 * mismatch; returns nothing, so callers write only after everything matched.
 */
export function checkNamedTensors(want: ReadonlyMap<string, readonly number[]>, tensors: ReadonlyMap<string, NamedTensorData>, check: NamedTensorCheck, ignore: ReadonlySet<string> = new Set()): void {
  const text = (s: readonly number[]): string => `[${s.join(', ')}]`;
  for (const [name, shape] of want) {
    const t = tensors.get(name);
    if (!t) throw check.error(`${check.where} has no tensor "${name}" (the model needs it with shape ${text(shape)}); was it saved from another model?`, name);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw check.error(`${check.where}: tensor "${name}" has shape ${text(t.shape)} but the model expects ${text(shape)}; check that config.json matches the weights`, name);
    }
  }
  if (!check.strict) return;
  for (const name of tensors.keys()) {
    if (!want.has(name) && !ignore.has(name)) throw check.error(`${check.where} has a tensor "${name}" that the model does not have; ${check.strictHint}`, name);
  }
}
