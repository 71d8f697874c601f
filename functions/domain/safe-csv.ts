/**
 * CSV for spreadsheets (DESIGN.md "Directory CSV"): RFC 4180 quoting and CRLF line ends,
 * with spreadsheet formulas neutralised, because school staff open these files in Excel.
 * A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is prefixed with a
 * single quote, so Excel (and LibreOffice, Google Sheets) shows it as text rather than
 * evaluating it (OWASP "CSV Injection"): a name such as `=HYPERLINK("http://…","Click")`
 * stays a name. Pure: no I/O.
 */

const FORMULA_START = /^[=+\-@\t\r]/;

/** The text a spreadsheet shows as text: prefixed with `'` when it could start a formula. */
export function neutraliseFormula(text: string): string {
  return FORMULA_START.test(text) ? `'${text}` : text;
}

export type CsvValue = string | number | null | undefined;

/** One cell: neutralised, then quoted (RFC 4180) when it holds a quote, comma, CR or LF. */
export function csvCell(value: CsvValue): string {
  if (value === null || value === undefined) return '';
  const text = neutraliseFormula(String(value));
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * Rows as CSV text, each line ended by CRLF. With `bom`, a UTF-8 byte order mark first,
 * so Excel reads accented names correctly (the directory import accepts one too).
 */
export function toCsv(rows: readonly (readonly CsvValue[])[], options: { bom?: boolean } = {}): string {
  const body = rows.map((row) => `${row.map(csvCell).join(',')}\r\n`).join('');
  return options.bom ? `\uFEFF${body}` : body;
}
