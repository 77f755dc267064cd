/**
 * The tokenizer a bundle was made with, as a hash: tokenizer.json and tokenizer_config.json when the model has
 * one (the model id covers tokenizer.json only; the config's special tokens change how text is cut too). Each
 * file enters as `<name>\n<byte length>\n<bytes>`, as in the model id.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json'];

export function tokenizerSha256(modelDir: string): string {
  const h = createHash('sha256');
  for (const name of TOKENIZER_FILES) {
    const file = path.join(modelDir, name);
    if (!fs.existsSync(file)) continue;
    const bytes = fs.readFileSync(file);
    h.update(`${name}\n${bytes.length}\n`).update(bytes);
  }
  return h.digest('hex');
}
