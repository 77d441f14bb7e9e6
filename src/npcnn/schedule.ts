// Learning-rate schedules: linear warm-up from 0, then constant, cosine decay to zero, or step
// decay (x0.1 at 50 % and again at 75 % of the steps).

export const SCHEDULES = ['cosine', 'constant', 'step'] as const;
export type Schedule = (typeof SCHEDULES)[number];

export interface ScheduleOptions {
  lr: number;
  steps: number;
  warmup: number;
  schedule: Schedule;
}

/** The learning rate of optimizer step `step` (0-based). */
export function learningRate(step: number, o: ScheduleOptions): number {
  if (o.warmup > 0 && step < o.warmup) return (o.lr * (step + 1)) / o.warmup;
  const span = Math.max(1, o.steps - o.warmup);
  const t = Math.min(1, (step - o.warmup) / span);
  switch (o.schedule) {
    case 'constant':
      return o.lr;
    case 'cosine':
      return 0.5 * o.lr * (1 + Math.cos(Math.PI * t));
    case 'step':
      return o.lr * (t >= 0.75 ? 0.01 : t >= 0.5 ? 0.1 : 1);
  }
}
