// Check that @huggingface/tokenizers (the engine's tokenizer library) encodes like Python `tokenizers` did:
//   node model/train/eval/check_tokenizer.mjs model/weights/default ids.json
// ids.json comes from tokenizer_ids.py on the GPU machine. Exits 1 on any difference.
import fs from "node:fs";
import path from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";

const [dir, idsFile] = process.argv.slice(2);
const read = (p) => JSON.parse(fs.readFileSync(p, "utf8"));
const tok = new Tokenizer(read(path.join(dir, "tokenizer.json")), read(path.join(dir, "tokenizer_config.json")));
let bad = 0;
for (const { text, ids } of read(idsFile)) {
  const got = tok.encode(text, { add_special_tokens: false }).ids;
  const same = got.length === ids.length && got.every((v, i) => v === ids[i]);
  if (!same) bad += 1;
  console.log(`${same ? "same" : "DIFFERENT"} ${JSON.stringify(text.slice(0, 40))} (${ids.length} ids)` +
    (same ? "" : `\n  python ${JSON.stringify(ids)}\n  js     ${JSON.stringify(got)}`));
}
console.log(`${read(idsFile).length - bad} passed, ${bad} failed`);
process.exit(bad ? 1 : 0);
