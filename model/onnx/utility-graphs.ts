import { GraphBuilder } from './builder';

/** A one-node graph (y = x + x) used to find out cheaply whether an execution provider starts at all. */
export function probeGraph(): Uint8Array {
  const g = new GraphBuilder('probe');
  const x = g.input('x', 'float32', [1]);
  g.output(g.op('Add', [x, x]), 'y', 'float32', [1]);
  return g.toBytes();
}
