// Reverse-mode automatic differentiation over engine tensors.
//
// A Variable wraps a tensor. Differentiable ops (the functions below) take Variables and, while
// gradients are recorded and one of their inputs requires a gradient, append a node to the tape:
// the op's inputs, the tensors its backward pass needs (own views, so they outlive the caller's
// handles), and a closure that maps the output's gradient to the inputs' gradients with the
// backward kernels of src/engine/ops. Node ids grow with recording order, so walking the nodes
// reachable from the loss by decreasing id is a valid reverse topological order.
//
// Ownership (there is no garbage collector for GPU buffers):
// - Leaves (inputs, Parameters) belong to whoever created them.
// - Outputs of recorded ops belong to the graph: backward() frees them, their saved tensors and
//   every gradient except the leaves' .grad, unless the Variable was marked with keep() (then the
//   caller disposes it). Call freeGraph() on a loss that will not be differentiated.
// - Inside noGrad(fn) nothing is recorded, and every Variable created in fn is freed when fn
//   returns, except those it returns or keep()s.
// - Outputs of ops that record nothing outside noGrad (no input requires a gradient) belong to the
//   caller.
// The loss is the fused softmax cross-entropy (Loss): its kernel already produces d(loss)/d(logits),
// which seeds the backward pass directly.
import type { Engine } from './engine.ts';
import { EngineError, ValueError } from './errors.ts';
import { addInto, relu as reluOp, reluBackward } from './ops/elementwise.ts';
import { conv1d as conv1dOp, conv1dBackwardBias, conv1dBackwardInput, conv1dBackwardWeight, type Conv1dParams } from './ops/conv1d.ts';
import { dense as denseOp, denseBackwardBias, denseBackwardInput, denseBackwardWeight } from './ops/dense.ts';
import { dropout as dropoutOp, dropoutBackward, type DropoutParams } from './ops/dropout.ts';
import { mean as meanOp, meanBackward, sum as sumOp, sumBackward } from './ops/reduce.ts';
import { softmaxCrossEntropy as softmaxXentOp, type SoftmaxXentOptions } from './ops/softmax-xent.ts';
import { batchNorm1d as batchNorm1dOp, batchNorm1dBackward, type BatchNormParams, type BatchNormRunning } from './ops/batchnorm.ts';
import { avgPool1d as avgPool1dOp, avgPool1dBackward, type AvgPool1dParams } from './ops/pool.ts';
import type { Tensor } from './tensor.ts';

/** Misuse of the autograd tape (what to do instead is in the message). */
export class AutogradError extends EngineError {
  constructor(message: string) {
    super(message);
    this.name = 'AutogradError';
  }
}

/** A Variable's buffer was freed (by backward(), the end of a noGrad scope, or dispose()). */
export class FreedTensorError extends AutogradError {
  constructor(message: string) {
    super(message);
    this.name = 'FreedTensorError';
  }
}

/** backward() through a graph that a previous backward() already freed. */
export class GraphFreedError extends AutogradError {
  constructor(message: string) {
    super(message);
    this.name = 'GraphFreedError';
  }
}

/** The implicit seed d(loss)/d(loss) = 1 that backward() starts from (only scalars receive it). */
const SEED = Symbol('seed');
/** Gradient of a node's output: a tensor, or the seed. */
type Grad = Tensor<'f32'> | typeof SEED;

interface Node {
  id: number;
  op: string;
  inputs: (Variable | null)[];
  output: Variable;
  /** Tensors the backward closure needs; the node owns them. */
  saved: Tensor[];
  /**
   * Gradients of the inputs that require one (null entries for the others). Ops that set
   * takesSeed receive the seed itself; the others get it as a tensor of ones.
   */
  backward: (gy: Grad, needs: boolean[], saved: Tensor[]) => (Grad | null)[];
  takesSeed: boolean;
  freed: boolean;
}

let nextNodeId = 1;
let gradDisabled = 0;
const scopes: Set<Variable>[] = [];

function shapeText(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}

export class Variable {
  /** Accumulated gradient of a leaf that requires one (null until a backward pass reaches it). */
  grad: Tensor<'f32'> | null = null;
  /** @internal The op that produced this Variable while recording. */
  node: Node | null = null;
  private tensor: Tensor | null;
  private freedBy: string | null = null;
  private kept = false;

  constructor(
    data: Tensor,
    private readonly leafRequiresGrad = false,
    readonly label?: string,
  ) {
    this.tensor = data;
  }

  /**
   * Leaves: as constructed. Op outputs: while their graph exists; a kept output whose graph was
   * freed is a constant.
   */
  get requiresGrad(): boolean {
    return this.node ? !this.node.freed : this.leafRequiresGrad;
  }

  /** The value. Throws FreedTensorError once the buffer was freed. */
  get data(): Tensor {
    if (!this.tensor || this.tensor.isDisposed) {
      throw new FreedTensorError(
        `${this.describe()} was used after its buffer was freed (${this.freedBy ?? 'its tensor was disposed'}); ` +
          'call keep() on it before backward() or inside noGrad() to use it afterwards',
      );
    }
    return this.tensor;
  }
  get shape(): readonly number[] {
    return this.data.shape;
  }
  get engine(): Engine {
    return this.data.engine;
  }
  get isLeaf(): boolean {
    return this.node === null;
  }
  get isFreed(): boolean {
    return !this.tensor || this.tensor.isDisposed;
  }
  get isKept(): boolean {
    return this.kept;
  }

  /** @internal */
  describe(): string {
    const name = this.label ? `"${this.label}"` : this.node ? `the output of ${this.node.op}` : 'a variable';
    return `${name} ${this.tensor ? shapeText(this.tensor.shape) : ''}`.trim();
  }

  /**
   * Keeps this Variable alive past backward() or the end of a noGrad scope; the caller then
   * disposes it. Returns this.
   */
  keep(): this {
    this.kept = true;
    return this;
  }

  /** Copies the value to the CPU. */
  read(): Promise<Float32Array> {
    return this.data.read() as Promise<Float32Array>;
  }

  /** Differentiates this scalar; see backward(). */
  backward(options?: BackwardOptions): void {
    backward(this, options);
  }

  /** Frees the graph behind this Variable without differentiating it. */
  freeGraph(): void {
    freeNodes(collectNodes(this), 'freeGraph() freed it');
  }

  /** Frees the value and the gradient. */
  dispose(): void {
    this.free('dispose() was called');
    this.grad?.dispose();
    this.grad = null;
  }

  /** @internal */
  free(reason: string): void {
    if (!this.tensor) return;
    this.tensor.dispose();
    this.tensor = null;
    this.freedBy = reason;
  }
}

// ---- recording -----------------------------------------------------------------------------

/** Whether ops record onto the tape now (false inside noGrad). */
export function isGradEnabled(): boolean {
  return gradDisabled === 0;
}

/** A Variable that does not require a gradient (a network input, labels, ...); the caller owns it. */
export function variable(data: Tensor, label?: string): Variable {
  return new Variable(data, false, label);
}

/**
 * Runs fn without recording. Every Variable an op creates inside is freed when fn returns, except
 * the Variables in fn's result (itself, an array of them, or an object's values) and those kept
 * with keep(). fn must be synchronous: read results after noGrad returns.
 */
export function noGrad<T>(fn: () => T): T {
  const scope = new Set<Variable>();
  scopes.push(scope);
  gradDisabled++;
  let result: T;
  try {
    result = fn();
  } catch (e) {
    for (const v of scope) if (!v.isKept) v.free('the noGrad scope that created it ended');
    throw e;
  } finally {
    gradDisabled--;
    scopes.pop();
  }
  if (result !== null && typeof result === 'object' && typeof (result as { then?: unknown }).then === 'function') {
    for (const v of scope) if (!v.isKept) v.free('the noGrad scope that created it ended');
    throw new AutogradError('noGrad(fn): fn returned a promise; make fn synchronous and await the reads after noGrad() returns');
  }
  const returned = new Set<Variable>();
  if (result instanceof Variable) returned.add(result);
  else if (result !== null && typeof result === 'object') {
    for (const v of Object.values(result as object)) if (v instanceof Variable) returned.add(v);
  }
  for (const v of scope) if (!v.isKept && !returned.has(v)) v.free('the noGrad scope that created it ended');
  // Returned Variables now belong to the caller, or to an enclosing noGrad scope.
  const outer = scopes[scopes.length - 1];
  if (outer) for (const v of returned) if (scope.has(v)) outer.add(v);
  return result;
}

function checkInputs(op: string, inputs: (Variable | null)[]): Engine {
  let engine: Engine | null = null;
  for (const v of inputs) {
    if (!v) continue;
    const t = v.data; // throws FreedTensorError
    if (engine && t.engine !== engine) throw new AutogradError(`${op}: the inputs live on different engines`);
    engine = t.engine;
  }
  if (!engine) throw new AutogradError(`${op}: no input`);
  return engine;
}

/**
 * Wraps an op's output. Records a node when gradients are on and an input requires one; `save`
 * lists tensors for backward (the node takes views of them).
 */
function record(
  op: string,
  inputs: (Variable | null)[],
  out: Tensor,
  save: Tensor[],
  backward: Node['backward'],
  takesSeed = false,
): Variable {
  const needed = isGradEnabled() && inputs.some((v) => v?.requiresGrad);
  const v = new Variable(out);
  if (needed) {
    v.node = { id: nextNodeId++, op, inputs, output: v, saved: save.map((t) => t.reshape(t.shape)), backward, takesSeed, freed: false };
  } else {
    scopes[scopes.length - 1]?.add(v);
  }
  return v;
}

// ---- backward ------------------------------------------------------------------------------

export interface BackwardOptions {
  /** Keep the graph (intermediates and saved tensors) for another backward() (default false). */
  retainGraph?: boolean;
}

function collectNodes(root: Variable): Node[] {
  const seen = new Set<Node>();
  const stack: Node[] = root.node ? [root.node] : [];
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    for (const v of n.inputs) if (v?.node && !v.node.freed && !seen.has(v.node)) stack.push(v.node);
  }
  return [...seen].sort((a, b) => b.id - a.id);
}

function freeNodes(nodes: Node[], reason: string): void {
  for (const n of nodes) {
    if (n.freed) continue;
    n.freed = true;
    for (const t of n.saved) t.dispose();
    n.saved = [];
    n.inputs = [];
    const out = n.output;
    if (!out.isKept) out.free(reason);
  }
}

/**
 * Computes d(loss)/d(leaf) for every leaf that requires a gradient and adds it to leaf.grad
 * (gradients accumulate over calls until zeroGrad()). loss must hold one element. Afterwards the
 * graph is freed (see the header) unless retainGraph is set.
 */
export function backward(loss: Variable, options: BackwardOptions = {}): void {
  if (loss.node?.freed) {
    throw new GraphFreedError(
      `backward(): the graph of ${loss.describe()} was freed by an earlier backward(); ` +
        'pass { retainGraph: true } to the first call to differentiate it again',
    );
  }
  const t = loss.data;
  if (t.size !== 1) {
    throw new AutogradError(`backward(): the loss must be a scalar (one element), got shape ${shapeText(t.shape)}; reduce it first (e.g. a mean)`);
  }
  if (!loss.node) {
    throw new AutogradError(`backward(): ${loss.describe()} was not computed from anything that requires a gradient (or was computed inside noGrad)`);
  }
  const engine = t.engine;
  const nodes = collectNodes(loss);
  const grads = new Map<Variable, Grad>([[loss, SEED]]);
  try {
    for (const node of nodes) {
      if (!grads.has(node.output)) continue;
      let gy = grads.get(node.output)!;
      grads.delete(node.output);
      if (gy === SEED && !node.takesSeed) gy = engine.tensor([1], node.output.shape);
      const needs = node.inputs.map((v) => !!v?.requiresGrad);
      const gxs = node.backward(gy, needs, node.saved);
      if (gy !== SEED) gy.dispose();
      node.inputs.forEach((v, i) => {
        const gx = gxs[i];
        if (!gx) return;
        if (!v || !needs[i]) {
          if (gx !== SEED) gx.dispose();
          return;
        }
        if (v.isLeaf) {
          const g = gx === SEED ? engine.tensor([1], v.shape) : gx;
          if (v.grad) v.grad = accumulate(engine, v.grad, g);
          else v.grad = g;
        } else {
          const prev = grads.get(v);
          if (prev === undefined) grads.set(v, gx);
          else {
            // Two paths into one scalar that both carry the seed cannot happen with these ops.
            if (prev === SEED || gx === SEED) throw new AutogradError(`backward(): ${v.describe()} receives the loss seed twice`);
            grads.set(v, accumulate(engine, prev, gx));
          }
        }
      });
      if (!options.retainGraph) freeNodes([node], 'backward() freed the graph');
    }
  } finally {
    for (const g of grads.values()) if (g !== SEED) g.dispose();
    if (!options.retainGraph) freeNodes(nodes, 'backward() freed the graph');
  }
}

/**
 * dst + src, in place when dst owns its buffer. A gradient can be a view of a tensor a retained
 * graph still holds (the fused loss gradient): that one is copied before it is added to.
 */
function accumulate(engine: Engine, dst: Tensor<'f32'>, src: Tensor<'f32'>): Tensor<'f32'> {
  let out = dst;
  if (dst.storage.refs > 1) {
    out = engine.empty(dst.shape);
    engine.copy(dst, out);
    dst.dispose();
  }
  addInto(engine, out, src);
  src.dispose();
  return out;
}

// ---- differentiable ops ----------------------------------------------------------------------

/** The gradient tensor of an op without takesSeed (the driver never passes it the seed). */
function tensorGrad(gy: Grad): Tensor<'f32'> {
  if (gy === SEED) throw new AutogradError('internal: the seed reached an op that does not take it');
  return gy;
}

/** max(x, 0). */
export function relu(x: Variable): Variable {
  const engine = checkInputs('relu', [x]);
  return record('relu', [x], reluOp(engine, x.data), [x.data], (gy, _, [xs]) => [reluBackward(engine, tensorGrad(gy), xs!)]);
}

/**
 * Inverted dropout; the mask comes from (seed, step), so backward recomputes it. In evaluation
 * (training false, or p = 0) the result is a view of x: no copy, no dispatch.
 */
export function dropout(x: Variable, params: DropoutParams): Variable {
  const engine = checkInputs('dropout', [x]);
  const p = { ...params };
  if (!(p.p >= 0 && p.p < 1)) throw new ValueError(`dropout: p must be in [0, 1), got ${p.p}; p = 1 drops everything, so leave the layer out instead`);
  if (!p.training || p.p === 0) return reshape(x, x.data.shape);
  return record('dropout', [x], dropoutOp(engine, x.data, p), [], (gy) => [dropoutBackward(engine, tensorGrad(gy), p)]);
}

/** A view with another shape (no copy); one dimension may be -1. */
export function reshape(x: Variable, shape: readonly number[]): Variable {
  checkInputs('reshape', [x]);
  const from = x.data.shape;
  return record('reshape', [x], x.data.reshape(shape), [], (gy) => [gy === SEED ? SEED : gy.reshape(from)], true);
}

/** [N, ...] -> [N, prod(rest)] as a view. */
export function flatten(x: Variable): Variable {
  return reshape(x, [x.shape[0] ?? 1, -1]);
}

/** PyTorch Conv1d: x [N, Cin, L], w [Cout, Cin, K], b [Cout] or null -> [N, Cout, Lout]. */
export function conv1d(x: Variable, w: Variable, b: Variable | null, params: Conv1dParams = {}): Variable {
  const engine = checkInputs('conv1d', [x, w, b]);
  const p = { ...params };
  const inputLength = x.data.shape[2]!;
  const kernelSize = w.data.shape[2]!;
  const y = conv1dOp(engine, x.data, w.data, b?.data ?? null, p);
  return record('conv1d', [x, w, b], y, [x.data, w.data], (gy, [nx, nw, nb], [xs, ws]) => {
    const g = tensorGrad(gy);
    return [
      nx ? conv1dBackwardInput(engine, g, ws!, p, inputLength) : null,
      nw ? conv1dBackwardWeight(engine, xs!, g, p, kernelSize) : null,
      nb ? conv1dBackwardBias(engine, g) : null,
    ];
  });
}

/** x W^T + b: x [N, In], w [Out, In], b [Out] -> [N, Out]. */
export function dense(x: Variable, w: Variable, b: Variable): Variable {
  const engine = checkInputs('dense', [x, w, b]);
  const y = denseOp(engine, x.data, w.data, b.data);
  return record('dense', [x, w, b], y, [x.data, w.data], (gy, [nx, nw, nb], [xs, ws]) => {
    const g = tensorGrad(gy);
    return [nx ? denseBackwardInput(engine, g, ws!) : null, nw ? denseBackwardWeight(engine, g, xs!) : null, nb ? denseBackwardBias(engine, g) : null];
  });
}

/** 1-D average pooling over [N, C, L]. */
export function avgPool1d(x: Variable, params: AvgPool1dParams): Variable {
  const engine = checkInputs('avgPool1d', [x]);
  const p = { ...params };
  const inShape = x.data.shape;
  return record('avgPool1d', [x], avgPool1dOp(engine, x.data, p), [], (gy) => [avgPool1dBackward(engine, tensorGrad(gy), inShape, p)]);
}

/**
 * BatchNorm1d over [N, C, L] or [N, C]. In training the running statistics (plain tensors, not
 * Variables) are updated in place.
 */
export function batchNorm1d(x: Variable, gamma: Variable, beta: Variable, running: BatchNormRunning, params: BatchNormParams): Variable {
  const engine = checkInputs('batchNorm1d', [x, gamma, beta]);
  const training = params.training;
  const { y, stats } = batchNorm1dOp(engine, x.data, gamma.data, beta.data, running, params);
  const out = record('batchNorm1d', [x, gamma, beta], y, [x.data, gamma.data, stats], (gy, [nx, ng, nb], [xs, gs, st]) => {
    const g = batchNorm1dBackward(engine, tensorGrad(gy), xs!, gs!, st!, training);
    if (!nx) g.dx.dispose();
    if (!ng) g.dgamma.dispose();
    if (!nb) g.dbeta.dispose();
    return [nx ? g.dx : null, ng ? g.dgamma : null, nb ? g.dbeta : null];
  });
  stats.dispose(); // the node holds its own view
  return out;
}

/** Sum of all elements, shape []. */
export function sum(x: Variable): Variable {
  const engine = checkInputs('sum', [x]);
  const shape = x.data.shape;
  return record('sum', [x], sumOp(engine, x.data), [], (gy) => [sumBackward(engine, tensorGrad(gy), shape)]);
}

/** Mean of all elements, shape []. */
export function mean(x: Variable): Variable {
  const engine = checkInputs('mean', [x]);
  const shape = x.data.shape;
  return record('mean', [x], meanOp(engine, x.data), [], (gy) => [meanBackward(engine, tensorGrad(gy), shape)]);
}

/**
 * The mean softmax cross-entropy loss of a batch (shape [1]). It also holds the per-sample losses
 * and the label status of the fused kernel, freed with it.
 */
export class Loss extends Variable {
  constructor(
    loss: Tensor,
    /** Per-sample losses [N]. */
    readonly losses: Tensor<'f32'>,
    private readonly status: Tensor<'i32'>,
    private readonly classes: number,
  ) {
    super(loss);
  }

  /**
   * Throws a ValueError if a label (given as a GPU tensor, which is not checked on the CPU) was out
   * of range; the loss and its gradient are NaN then. Keep the loss (keep()) to call this after backward().
   */
  async check(): Promise<void> {
    void this.data; // FreedTensorError once freed
    const s = await this.status.read();
    if (s[0] !== 0) {
      throw new ValueError(
        `softmaxCrossEntropy: label ${s[1]} at index ${s[0]! - 1} is out of range for ${this.classes} classes; labels must be integers in 0..${this.classes - 1}`,
      );
    }
  }

  /** check(), then the loss as a number. */
  async readLoss(): Promise<number> {
    await this.check();
    return (await this.read())[0]!;
  }

  /** @internal */
  override free(reason: string): void {
    if (this.isFreed) return;
    super.free(reason);
    this.losses.dispose();
    this.status.dispose();
  }
}

/**
 * Mean cross-entropy of softmax(logits [N, C]) against integer labels (an i32 tensor [N], or an
 * Int32Array, which is range-checked on the CPU first). backward() must start from this loss: the
 * fused kernel's gradient seeds the pass directly.
 */
export function softmaxCrossEntropy(logits: Variable, labels: Tensor | Int32Array, options: SoftmaxXentOptions = {}): Loss {
  const engine = checkInputs('softmaxCrossEntropy', [logits]);
  const r = softmaxXentOp(engine, logits.data, labels, options);
  const classes = logits.data.shape[1]!;
  const loss = new Loss(r.loss, r.losses, r.status, classes);
  const shape = logits.data.shape;
  if (isGradEnabled() && logits.requiresGrad) {
    loss.node = {
      id: nextNodeId++,
      op: 'softmaxCrossEntropy',
      inputs: [logits],
      output: loss,
      saved: [r.grad],
      takesSeed: true,
      freed: false,
      backward: (gy, _, saved) => {
        if (gy !== SEED) throw new AutogradError('softmaxCrossEntropy: backward() must start from the loss itself (scaling a loss is not supported; use options.gradScale)');
        return [saved[0]!.reshape(shape) as Tensor<'f32'>];
      },
    };
  } else {
    r.grad.dispose();
    scopes[scopes.length - 1]?.add(loss);
  }
  return loss;
}
