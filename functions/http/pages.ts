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
button:focus{outline:3px solid #fdb022;outline-offset:2px}.notice{padding:.8rem;border-left:4px solid #1d3557;background:#eef2f7}`;

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

/** A whole page; `title` and `trustName` are escaped here, `body` must already be safe HTML. */
export function page(title: string, body: string, trustName: string): string {
  return `<!DOCTYPE html><html lang="en-GB"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)}</title><style>${CSS}</style></head><body><header><p>${escapeHtml(trustName)}</p></header><main>${body}</main></body></html>`;
}
