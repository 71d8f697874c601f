/**
 * Server-rendered pages: one layout, one stylesheet, the same security headers everywhere
 * (the acknowledgement pages in Lambda and the local web server). No script at all; the
 * stylesheet is inline and allowed by its hash, so the policy can stay `default-src 'none'`.
 * Pure: node:crypto only.
 */
import { createHash } from 'node:crypto';

const CSS = `body{font-family:system-ui,Arial,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b;line-height:1.5}
a{color:#1d3557}header{border-bottom:4px solid #1d3557;margin-bottom:1.5rem}h1{font-size:1.6rem}
table{border-collapse:collapse}td,th{border:1px solid #d0d5dd;padding:.3rem .6rem;text-align:left}
button{font:inherit;font-weight:bold;padding:.7rem 1.2rem;background:#1d3557;color:#fff;border:0;border-radius:4px;cursor:pointer}
button:focus{outline:3px solid #fdb022;outline-offset:2px}.notice{padding:.8rem;border-left:4px solid #1d3557;background:#eef2f7}
body.console{max-width:72rem}a:focus,input:focus,select:focus,summary:focus{outline:3px solid #fdb022;outline-offset:2px}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:#fff;padding:.4rem}
nav ul{list-style:none;padding:0;margin:0 0 1rem;display:flex;flex-wrap:wrap;gap:1.2rem}nav a[aria-current=page]{font-weight:bold;text-decoration:none;border-bottom:3px solid #1d3557}
.tiles{display:flex;flex-wrap:wrap;gap:1rem;margin:1rem 0}.tile{border:1px solid #d0d5dd;border-radius:6px;padding:.6rem 1rem;min-width:9rem}
.tile strong{display:block;font-size:1.6rem}.ok{color:#1a7f37}.warn{color:#8a4b00}.bad{color:#b42318}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}caption{text-align:left;font-weight:bold;padding:.4rem 0}
.chart{max-width:100%;height:auto}.legend{display:flex;gap:1.2rem;flex-wrap:wrap;padding:0;list-style:none}.key{display:inline-block;width:.9rem;height:.9rem;margin-right:.3rem;vertical-align:middle}
.k-ack{background:#1a7f37}.k-out{background:#f79009}.k-over{background:#b42318}form.inline{display:flex;gap:.6rem;align-items:end;flex-wrap:wrap;margin:1rem 0}
label{display:block;font-weight:bold}input,select{font:inherit;padding:.3rem}.narrative{white-space:pre-wrap;border:1px solid #d0d5dd;padding:.8rem;background:#fafafa}`;

const CSS_HASH = createHash('sha256').update(CSS).digest('base64');

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': `default-src 'none'; style-src 'sha256-${CSS_HASH}'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Strict-Transport-Security': 'max-age=31536000',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** An API Gateway (payload v2) answer carrying a page, with the security headers. */
export function htmlResponse(statusCode: number, html: string, headers: Record<string, string> = {}): { statusCode: number; headers: Record<string, string>; body: string } {
  return { statusCode, headers: { ...SECURITY_HEADERS, 'Content-Type': 'text/html; charset=utf-8', ...headers }, body: html };
}

export interface PageOptions {
  /** A class for <body> (`console`: the operator console's wider layout). */
  bodyClass?: string;
  /** Safe HTML placed in the header after the trust's name (the console's navigation). */
  header?: string;
}

/** A whole page; `title` and `trustName` are escaped here, `body` and `options.header` must already be safe HTML. */
export function page(title: string, body: string, trustName: string, options: PageOptions = {}): string {
  const bodyOpen = options.bodyClass ? `<body class="${escapeHtml(options.bodyClass)}">` : '<body>';
  const skip = options.header ? '<a class="skip" href="#main">Skip to content</a>' : '';
  return `<!DOCTYPE html><html lang="en-GB"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)}</title><style>${CSS}</style></head>${bodyOpen}${skip}<header><p>${escapeHtml(trustName)}</p>${options.header ?? ''}</header><main id="main">${body}</main></body></html>`;
}
