/** Small graphs the runtime needs besides the model itself. */
import { GraphBuilder, type ElemType } from './builder';

/** A one-node graph (y = x + x) used to find out cheaply whether an execution provider starts at all. */
export function probeGraph(): Uint8Array {
  const g = new GraphBuilder('probe');
  const x = g.input('x', 'float32', [1]);
  g.output(g.op('Add', [x, x]), 'y', 'float32', [1]);
  return g.toBytes();
}

/**
 * Identity copies in.{i} → out.{i}, to move tensors between host and device with onnxruntime's own copies:
 * with host outputs it reads device tensors back (Tensor.getData() on a 'gpu-buffer' tensor aborts the process
 * with onnxruntime-node 1.30, see docs/gpu.md); with 'gpu-buffer' outputs it uploads weights once.
 */
export function copyGraph(tensors: { type: ElemType; dims: number[] }[]): Uint8Array {
  const g = new GraphBuilder('copy');
  tensors.forEach((t, i) => g.output(g.input(`in.${i}`, t.type, t.dims), `out.${i}`, t.type, t.dims));
  return g.toBytes();
}
