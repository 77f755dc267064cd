/** Assertions on the errors the engine protocol rejects with, shared by the engine and transport tests. */
import { strict as assert } from 'node:assert';
import { EngineError } from '../../model/engine/protocol';

/** An EngineError with `code`, from a promise that must reject. */
export async function rejection(p: Promise<unknown>, code: string): Promise<EngineError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof EngineError, `expected an EngineError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected an error with code ${code}`);
}
