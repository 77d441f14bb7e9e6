// NumPy .npy format, version 1.0: the 6-byte magic "\x93NUMPY", version bytes 1 0, a uint16
// little-endian header length, then an ASCII Python dict literal
// ({'descr': '<f4', 'fortran_order': False, 'shape': (N, P), }) padded with spaces and ended by
// '\n' so that magic + length + header is a multiple of 64 bytes; then the raw C-order data.
// Written: little-endian float32 / int32 / uint32, C order. Read: those and float64 (NumPy's
// default float, common in files users bring).

export class NpyError extends Error {
  override name = 'NpyError';
}

export type NpyDescr = '<f4' | '<i4' | '<u4';
export type NpyData = Float32Array | Int32Array | Uint32Array;
/** What the reader accepts: the written types and float64. */
export type NpyReadDescr = NpyDescr | '<f8';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const PREAMBLE = 10; // magic (6) + version (2) + header length (2)
const ALIGN = 64;

function shapeLiteral(shape: readonly number[]): string {
  // Python tuple syntax: (5,) for one dimension, () for a scalar.
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(', ')})`;
}

/** The header bytes (preamble + padded dict) for an array of `shape` and `descr`. */
export function npyHeader(shape: readonly number[], descr: NpyDescr = '<f4'): Uint8Array {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new NpyError(`npy shape [${shape.join(', ')}] has a dimension that is not a non-negative integer`);
  }
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeLiteral(shape)}, }`;
  const unpadded = PREAMBLE + dict.length + 1; // + '\n'
  const total = Math.ceil(unpadded / ALIGN) * ALIGN;
  const headerLen = total - PREAMBLE;
  if (headerLen > 0xffff) throw new NpyError(`npy header of ${headerLen} bytes does not fit format 1.0`);
  const text = dict + ' '.repeat(total - unpadded) + '\n';
  const out = new Uint8Array(total);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  out[8] = headerLen & 0xff;
  out[9] = headerLen >> 8;
  for (let i = 0; i < text.length; i++) out[PREAMBLE + i] = text.charCodeAt(i);
  return out;
}

export function descrOf(data: NpyData): NpyDescr {
  if (data instanceof Float32Array) return '<f4';
  if (data instanceof Int32Array) return '<i4';
  return '<u4';
}

/** A whole .npy file in memory (use DatasetWriter for arrays that do not fit in memory). */
export function encodeNpy(data: NpyData, shape: readonly number[]): Uint8Array {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new NpyError(`npy shape [${shape.join(', ')}] holds ${n} values but the data has ${data.length}`);
  const header = npyHeader(shape, descrOf(data));
  const out = new Uint8Array(header.length + data.byteLength);
  out.set(header, 0);
  // Typed arrays are in platform byte order; every platform Node runs on is little-endian.
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), header.length);
  return out;
}

export interface NpyHeaderInfo {
  descr: NpyReadDescr;
  shape: number[];
  /** Byte offset of the data. */
  dataOffset: number;
}

/** Parse the header of a .npy file (needs at least the first header bytes). */
export function parseNpyHeader(bytes: Uint8Array): NpyHeaderInfo {
  if (bytes.length < PREAMBLE || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new NpyError('not a .npy file: the magic string \\x93NUMPY is missing');
  }
  const major = bytes[6];
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = bytes[8] | (bytes[9] << 8);
    start = PREAMBLE;
  } else if (major === 2 || major === 3) {
    headerLen = (bytes[8] | (bytes[9] << 8) | (bytes[10] << 16)) + bytes[11] * 2 ** 24;
    start = 12;
  } else {
    throw new NpyError(`unsupported .npy version ${major}.${bytes[7]}`);
  }
  if (bytes.length < start + headerLen) throw new NpyError('truncated .npy header');
  let text = '';
  for (let i = 0; i < headerLen; i++) text += String.fromCharCode(bytes[start + i]);
  const descr = /'descr':\s*'([^']*)'/.exec(text)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new NpyError(`malformed .npy header: ${text.trim()}`);
  }
  if (descr !== '<f4' && descr !== '<i4' && descr !== '<u4' && descr !== '<f8') {
    throw new NpyError(`unsupported .npy dtype '${descr}' (supported: <f4, <f8, <i4, <u4)`);
  }
  if (fortran === 'True') throw new NpyError('Fortran-ordered .npy arrays are not supported');
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw new NpyError(`malformed .npy shape (${shapeText})`);
  return { descr, shape, dataOffset: start + headerLen };
}

/** Decode a whole .npy file. */
export function decodeNpy(bytes: Uint8Array): { data: NpyData | Float64Array; shape: number[] } {
  const h = parseNpyHeader(bytes);
  const n = h.shape.reduce((a, b) => a * b, 1);
  const byteLength = n * npyItemSize(h.descr);
  if (bytes.length - h.dataOffset !== byteLength) {
    throw new NpyError(
      `.npy data is ${bytes.length - h.dataOffset} bytes but shape (${h.shape.join(', ')}) needs ${byteLength}`,
    );
  }
  // Copy so the result is 4-byte aligned whatever the offset of `bytes` is.
  const raw = bytes.slice(h.dataOffset, h.dataOffset + byteLength).buffer;
  const data = h.descr === '<f4' ? new Float32Array(raw) : h.descr === '<f8' ? new Float64Array(raw) : h.descr === '<i4' ? new Int32Array(raw) : new Uint32Array(raw);
  return { data, shape: h.shape };
}

/** Bytes per element of a dtype. */
export function npyItemSize(descr: NpyReadDescr): number {
  return descr === '<f8' ? 8 : 4;
}
