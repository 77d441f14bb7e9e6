// Typed errors of the engine. Each message says what went wrong and what to do about it.

export class EngineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EngineError';
  }
}

/** No WebGPU adapter could be created for the requested backend. */
export class NoAdapterError extends EngineError {
  constructor(message: string) {
    super(message);
    this.name = 'NoAdapterError';
  }
}

/** The engine was used after destroy(). */
export class EngineDestroyedError extends EngineError {
  constructor(what: string) {
    super(`${what}: the engine has been destroyed; create a new one with createEngine()`);
    this.name = 'EngineDestroyedError';
  }
}

/** A kernel file is missing, or its WGSL does not compile/validate. */
export class KernelError extends EngineError {
  constructor(message: string) {
    super(message);
    this.name = 'KernelError';
  }
}

/** Tensor shapes, dtypes or dispatch bindings do not fit the op. */
export class ShapeError extends EngineError {
  constructor(message: string) {
    super(message);
    this.name = 'ShapeError';
  }
}

/** A value a user passed is out of its valid range (e.g. a class label >= number of classes). */
export class ValueError extends EngineError {
  constructor(message: string) {
    super(message);
    this.name = 'ValueError';
  }
}
