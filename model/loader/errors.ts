/**
 * The one error type of the model loader. Every message names the file it is about and the values it saw,
 * so a user reading it knows which file to fix or replace (nanoGPT's "asserts print the numbers" habit).
 */
export class ModelFileError extends Error {
  override readonly name = 'ModelFileError';

  /** @param file the file (or directory) the error is about, as given by the caller. */
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(message);
  }
}
