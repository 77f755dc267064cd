/**
 * A small ONNX graph builder: names values, adds nodes, initializers and constants, and serialises a
 * ModelProto with onnx-proto. The FAM graphs (fam-graphs.ts) are written with it, no Python at run time.
 *
 * Every activation is a value name (string). Element types are the two the engine computes in
 * (float32 on CPU, float16 on GPU) plus int64 for ids and shapes. Only standard ONNX ops (opset 17).
 */
import { onnx } from 'onnx-proto';

export type ElemType = 'float32' | 'float16' | 'int64';

/** A dimension: a fixed size, or a symbolic name for a size known only at run time. */
export type Dim = number | string;

/** Attribute values by ONNX type: number (int unless float:true is implied by the op), number[], string. */
export type AttrValue = number | number[] | string | { float: number };

const ONNX_TYPE: Record<ElemType, onnx.TensorProto.DataType> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float16: onnx.TensorProto.DataType.FLOAT16,
  int64: onnx.TensorProto.DataType.INT64,
};

/** The opset the graphs target (ReduceMean takes `axes` as an attribute up to 17). */
export const OPSET = 17;
const IR_VERSION = 8;

function valueInfo(name: string, type: ElemType, dims: Dim[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ONNX_TYPE[type],
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attribute(name: string, value: AttrValue): onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error(`attribute ${name}=${value}: use { float } for floats`);
    return { name, type: T.INT, i: value };
  }
  if (typeof value === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: T.INTS, ints: value };
  return { name, type: T.FLOAT, f: value.float };
}

function bytesOf(data: Float32Array | Uint16Array | BigInt64Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

export class GraphBuilder {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly inits: onnx.ITensorProto[] = [];
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];
  private readonly constCache = new Map<string, string>();
  private readonly used = new Set<string>();
  private counter = 0;

  constructor(readonly name: string) {}

  /** A fresh value name with a readable prefix. */
  fresh(prefix: string): string {
    let name: string;
    do name = `${prefix}_${this.counter++}`;
    while (this.used.has(name));
    this.used.add(name);
    return name;
  }

  private claim(name: string): string {
    if (this.used.has(name)) throw new Error(`graph ${this.name}: value name ${name} used twice`);
    this.used.add(name);
    return name;
  }

  input(name: string, type: ElemType, dims: Dim[]): string {
    this.inputs.push(valueInfo(this.claim(name), type, dims));
    return name;
  }

  /** Declares `value` as a graph output named `name` (an Identity when the names differ). */
  output(value: string, name: string, type: ElemType, dims: Dim[]): void {
    if (value !== name) this.nodes.push({ opType: 'Identity', input: [value], output: [this.claim(name)] });
    this.outputs.push(valueInfo(name, type, dims));
  }

  initializer(name: string, type: ElemType, dims: number[], data: Float32Array | Uint16Array | BigInt64Array): string {
    return this.addInitializer(this.claim(name), type, dims, data);
  }

  private addInitializer(name: string, type: ElemType, dims: number[], data: Float32Array | Uint16Array | BigInt64Array): string {
    const expected = dims.reduce((a, b) => a * b, 1);
    if (data.length !== expected) {
      throw new Error(`initializer ${name}: ${data.length} elements for dims [${dims.join(', ')}] (expected ${expected})`);
    }
    this.inits.push({ name, dims, dataType: ONNX_TYPE[type], rawData: bytesOf(data) });
    return name;
  }

  /** An int64 constant (shapes, axes, indices), shared between uses. */
  ints(values: number[], dims: number[] = [values.length]): string {
    const key = `i64:${dims.join('x')}:${values.join(',')}`;
    let name = this.constCache.get(key);
    if (!name) {
      name = this.addInitializer(this.fresh('const_i64'), 'int64', dims, BigInt64Array.from(values.map(BigInt)));
      this.constCache.set(key, name);
    }
    return name;
  }

  /** A float scalar constant of the given type (shape [1], broadcasts). */
  scalar(value: number, type: ElemType, toHalf: (x: Float32Array) => Uint16Array): string {
    const key = `${type}:${value}`;
    let name = this.constCache.get(key);
    if (!name) {
      const f32 = Float32Array.of(value);
      name = this.addInitializer(this.fresh('const_f'), type, [1], type === 'float16' ? toHalf(f32) : f32);
      this.constCache.set(key, name);
    }
    return name;
  }

  /** Adds a node with one output and returns the output's name. */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}): string {
    return this.opN(opType, inputs, 1, attrs)[0]!;
  }

  /** Adds a node with `count` outputs. */
  opN(opType: string, inputs: string[], count: number, attrs: Record<string, AttrValue> = {}): string[] {
    const outs = Array.from({ length: count }, () => this.fresh(opType.toLowerCase()));
    this.nodes.push({
      opType,
      name: this.fresh(`n_${opType}`),
      input: inputs,
      output: outs,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outs;
  }

  /** Serialises the graph as an ONNX model (weights embedded). */
  toBytes(): Uint8Array {
    const model: onnx.IModelProto = {
      irVersion: IR_VERSION,
      producerName: 'famulus',
      opsetImport: [{ domain: '', version: OPSET }],
      graph: { name: this.name, node: this.nodes, initializer: this.inits, input: this.inputs, output: this.outputs },
    };
    return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
  }
}
