/**
 * A unified-style line diff (`-` only in the old text, `+` only in the new),
 * with a few lines of context around each change: enough for a person to see
 * why `hak-deploy hive --check` failed. LCS by dynamic programming: the files
 * it compares are a few hundred lines.
 */
export function lineDiff(oldText: string, newText: string, context = 2): string {
  const a = oldText.split("\n");
  const b = newText.split("\n");
  const n = a.length;
  const m = b.length;
  // lcs[i][j] = length of the longest common subsequence of a[i..] and b[j..].
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--) lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const ops: { tag: " " | "-" | "+"; text: string }[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      ops.push({ tag: " ", text: a[i]! });
      i++;
      j++;
    } else if (i < n && (j === m || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      // Removals before additions, as diff(1) prints them.
      ops.push({ tag: "-", text: a[i++]! });
    } else {
      ops.push({ tag: "+", text: b[j++]! });
    }
  }
  const keep = ops.map((op, k) => op.tag !== " " || ops.slice(Math.max(0, k - context), k + context + 1).some((o) => o.tag !== " "));
  const out: string[] = [];
  ops.forEach((op, k) => {
    if (keep[k]) out.push(`${op.tag} ${op.text}`);
    else if (k === 0 || keep[k - 1]) out.push("  ...");
  });
  return out.join("\n");
}
