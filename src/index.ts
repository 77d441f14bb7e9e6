// Public API of xrd-npcnn: what an embedding application needs. Raw GPU ops (no autograd) are
// grouped under `ops`; the differentiable versions of the same ops come from the autograd layer.

// Engine: device, tensors, errors
export { createEngine, Engine } from './engine/engine.ts';
export type { BackendChoice, EngineInfo, EngineOptions, DispatchSpec } from './engine/engine.ts';
export { Tensor } from './engine/tensor.ts';
export type { DType } from './engine/tensor.ts';
export * from './engine/errors.ts';

// Autograd, parameters, optimizers (checkpoints of a parameter registry: npcnn/model-dir.ts, below)
export * from './engine/autograd.ts';
export * from './engine/parameters.ts';
export * from './engine/optim.ts';
export * from './io/files.ts';
export { encodeSafetensors, decodeSafetensors, SafetensorsError } from './engine/safetensors.ts';

// Raw ops on tensors (forward and backward as separate functions)
import * as batchNormOps from './engine/ops/batchnorm.ts';
import * as commonOps from './engine/ops/common.ts';
import * as conv1dOps from './engine/ops/conv1d.ts';
import * as denseOps from './engine/ops/dense.ts';
import * as dropoutOps from './engine/ops/dropout.ts';
import * as elementwiseOps from './engine/ops/elementwise.ts';
import * as optimizerOps from './engine/ops/optimizer.ts';
import * as poolOps from './engine/ops/pool.ts';
import * as reduceOps from './engine/ops/reduce.ts';
import * as softmaxXentOps from './engine/ops/softmax-xent.ts';
export const ops = {
  ...batchNormOps,
  ...commonOps,
  ...conv1dOps,
  ...denseOps,
  ...dropoutOps,
  ...elementwiseOps,
  ...optimizerOps,
  ...poolOps,
  ...reduceOps,
  ...softmaxXentOps,
};

// Simulator
export * from './sim/crystal.ts';
export * from './sim/cif.ts';
export * from './sim/spacegroup.ts';
export * from './sim/formfactors.ts';
export * from './sim/reflections.ts';
export * from './sim/peaks-io.ts';
export * from './sim/random.ts';
export * from './sim/synth.ts';
export * from './sim/effects.ts';
export * from './sim/render.ts';
export * from './sim/stream.ts';
export * from './sim/npy.ts';
export * from './sim/dataset-writer.ts';
export * from './plot/pattern-svg.ts';

// Classifier: model configs and directories, training, inference
export * from './npcnn/config.ts';
export * from './npcnn/model.ts';
export * from './npcnn/model-dir.ts';
export * from './npcnn/data.ts';
export * from './npcnn/schedule.ts';
export * from './npcnn/train.ts';
export * from './npcnn/infer.ts';
export * from './npcnn/predict.ts';
export * from './npcnn/metrics.ts';
export * from './npcnn/calibration.ts';
export * from './npcnn/explain.ts';
export * from './npcnn/folds.ts';
export { RunDirectoryError } from './npcnn/run-dir.ts';

// Measured pattern files
export * from './io/patterns.ts';
