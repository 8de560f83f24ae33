/** How rows are printed: an aligned table, one JSON object a line, or CSV with a header. */
export type Format = "table" | "json" | "csv";

function cell(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function csvCell(v: unknown): string {
  const s = cell(v);
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** Renders rows in the format asked for; `columns` fixes the order (and the header of an empty table). */
export function renderRows(
  rows: readonly Record<string, unknown>[],
  format: Format,
  columns?: readonly string[],
): string {
  const cols = columns ?? [...new Set(rows.flatMap((r) => Object.keys(r)))];
  if (format === "json") return rows.map((r) => JSON.stringify(r)).join("\n");
  if (format === "csv")
    return [cols.join(","), ...rows.map((r) => cols.map((c) => csvCell(r[c])).join(","))].join("\n");
  const text = rows.map((r) =>
    cols.map((c) => {
      const s = cell(r[c]);
      return s.length > 80 ? `${s.slice(0, 77)}...` : s;
    }),
  );
  const widths = cols.map((c, i) => Math.max(c.length, ...text.map((t) => t[i]!.length)));
  const line = (values: readonly string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  return [line(cols), line(widths.map((w) => "-".repeat(w))), ...text.map(line)].join("\n");
}
