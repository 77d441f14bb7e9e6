// Progress output: a redrawn bar on a terminal; plain lines every few seconds when piped, so a
// long job run from a script or a log shows that it is alive.
import { describe, expect, it } from 'vitest';
import { Progress } from '../../src/cli/progress.ts';

function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  return { stream: { isTTY, columns: 100, write: (s: string) => writes.push(s) }, writes };
}

describe('Progress', () => {
  it('piped: one plain line per interval with count, rate and time left; nothing at the end', () => {
    let t = 0;
    const { stream, writes } = fakeStream(false);
    const p = new Progress('synth', 1000, stream, 'patterns', 5000, () => t);
    for (let i = 0; i < 10; i++) {
      t += 1000; // 100 patterns per second
      p.tick(100);
    }
    // at 5 s (500 done) one line; at 10 s the job is complete: no line
    expect(writes).toEqual(['synth: 500/1000 patterns, 100.0/s, about 5 s left\n']);
    expect(p.rate).toBeCloseTo(100, 6);
  });

  it('on a terminal: a redrawn bar (carriage return, no newline)', () => {
    let t = 0;
    const { stream, writes } = fakeStream(true);
    const p = new Progress('eval', 10, stream, 'files', 5000, () => t);
    t = 200;
    p.tick(5);
    expect(writes).toHaveLength(1);
    expect(writes[0]).toMatch(/^\reval \[#+\.+\] 5\/10 25\.0 files\/s ETA 0s\x1b\[K$/);
    p.finish();
    expect(writes.at(-1)).toBe('\r\x1b[K');
  });
});
