// Counts type assertions (`x as T`, `<T>x`; not `as const`) in src/ outside src/check and src/cli, per file.
// Usage: node scripts/count-casts.mjs          (LIST=1 prints each one with its line)
import ts from 'typescript';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
const root = process.argv[2] ?? 'src';
const files = [];
const walk = (dir) => { for (const name of readdirSync(dir)) { const path = join(dir, name); if (statSync(path).isDirectory()) walk(path); else if (path.endsWith('.ts') && !path.endsWith('.d.ts')) files.push(path); } };
walk(root);
let total = 0; const per = [];
for (const file of files) {
  if (file.startsWith('src/check/') || file.startsWith('src/cli/')) continue;
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  let count = 0;
  const visit = (node) => {
    if ((ts.isAsExpression(node) || ts.isTypeAssertionExpression(node)) && !(ts.isTypeReferenceNode(node.type) && node.type.typeName.getText() === 'const')) {
      count += 1;
      if (process.env.LIST) console.log(`${file}:${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}: ${node.getText().slice(0, 100).replace(/\n/g, ' ')}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  if (count) per.push([count, file]);
  total += count;
}
per.sort((a, b) => b[0] - a[0]);
if (!process.env.LIST) for (const [count, file] of per) console.log(count, file);
console.log('total', total);
