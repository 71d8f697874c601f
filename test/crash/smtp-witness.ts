/**
 * The crash suite's witness (test/crash/run.ts): a tiny SMTP capture server, run as its OWN
 * process so that killing the platform never kills it. aws-ses-v2-local, inside the platform,
 * forwards every email SES accepted to it (SMTP_TRANSPORT; see ses-durable.ts for when).
 *
 *   node test/crash/smtp-witness.ts <file.jsonl>
 *
 * Listens on 127.0.0.1 and a free port. Speaks just enough SMTP for nodemailer without TLS
 * or authentication: EHLO/HELO, MAIL FROM, RCPT TO, DATA, RSET, NOOP, QUIT. For every
 * message it appends one JSON line to <file.jsonl> (time, envelope recipients, Subject,
 * Message-ID) and fsyncs it BEFORE answering 250: once the sender hears 250, the message is
 * on disk, whatever happens to either process afterwards.
 *
 * Started with an IPC channel (run.ts), it reports `{ type: 'ready', port }` once listening
 * and `{ type: 'message', ... }` after each fsync (before the 250), which is how the suite
 * kills the platform "the moment the witness receives a message". It exits when that
 * channel closes (the suite ended or died), so it never outlives the suite.
 */
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';

export interface WitnessRecord {
  /** When the message was fsynced (ISO, and epoch ms). */
  t: string;
  ms: number;
  /** Envelope sender and recipients (MAIL FROM / RCPT TO), as given. */
  from: string;
  rcpt: string[];
  subject: string;
  messageId: string;
  /** Connection and message sequence numbers, for reading the file by eye. */
  conn: number;
  seq: number;
}

export type WitnessNotice = { type: 'ready'; port: number } | ({ type: 'message' } & WitnessRecord);

/** RFC 2047 encoded words (=?utf-8?B?...?= / =?utf-8?Q?...?=), as nodemailer writes non-ASCII subjects. */
export function decodeEncodedWords(value: string): string {
  return value
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g, (_all, charset: string, enc: string, text: string) => {
      const bytes =
        enc.toUpperCase() === 'B'
          ? Buffer.from(text, 'base64')
          : Buffer.from(
              text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(Number.parseInt(hex, 16))),
              'latin1',
            );
      return new TextDecoder(charset.toLowerCase() === 'utf8' ? 'utf-8' : charset.toLowerCase()).decode(bytes);
    });
}

/** The header block of a message (before the first empty line), unfolded, as name → value (first wins). */
export function parseHeaders(message: string): Map<string, string> {
  const end = message.search(/\r?\n\r?\n/);
  const block = (end === -1 ? message : message.slice(0, end)).replace(/\r?\n[ \t]+/g, ' ');
  const headers = new Map<string, string>();
  for (const line of block.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!headers.has(name)) headers.set(name, line.slice(colon + 1).trim());
  }
  return headers;
}

const addressOf = (arg: string) => /<([^>]*)>/.exec(arg)?.[1] ?? arg.trim().split(/\s+/)[0] ?? '';

function main() {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node test/crash/smtp-witness.ts <file.jsonl>\n');
    process.exit(2);
  }
  const fd = openSync(file, 'a');
  let connections = 0;
  let messages = 0;
  const notify = (notice: WitnessNotice) => {
    if (process.send && process.connected) process.send(notice);
  };

  const server = createServer((socket: Socket) => {
    const conn = ++connections;
    let buffer = '';
    let inData = false;
    let from = '';
    let rcpt: string[] = [];
    const reply = (line: string) => {
      if (!socket.destroyed) socket.write(`${line}\r\n`);
    };
    socket.setEncoding('latin1'); // bytes in, bytes out: headers are ASCII (RFC 5322), bodies are not parsed
    socket.on('error', () => socket.destroy());
    reply('220 127.0.0.1 crash-suite witness ESMTP');

    const accept = (raw: string) => {
      // Dot-unstuffing (RFC 5321 4.5.2), then the headers we record.
      const text = raw.replace(/(^|\r\n)\.\./g, '$1.');
      const headers = parseHeaders(text);
      const record: WitnessRecord = {
        t: new Date().toISOString(),
        ms: Date.now(),
        from,
        rcpt,
        subject: decodeEncodedWords(Buffer.from(headers.get('subject') ?? '', 'latin1').toString('utf8')),
        messageId: headers.get('message-id') ?? '',
        conn,
        seq: ++messages,
      };
      writeSync(fd, `${JSON.stringify(record)}\n`);
      fsyncSync(fd);
      notify({ type: 'message', ...record });
      reply(`250 2.0.0 Ok: witnessed as ${record.seq}`);
      from = '';
      rcpt = [];
    };

    const command = (line: string) => {
      const verb = line.slice(0, 4).toUpperCase();
      const arg = line.slice(4).trim();
      switch (verb) {
        case 'EHLO':
          reply('250-127.0.0.1 witness');
          reply('250-8BITMIME');
          reply('250 SMTPUTF8');
          return;
        case 'HELO':
          reply('250 127.0.0.1 witness');
          return;
        case 'MAIL':
          from = addressOf(arg.replace(/^FROM:/i, ''));
          rcpt = [];
          reply('250 2.1.0 Ok');
          return;
        case 'RCPT':
          if (!/^TO:/i.test(arg)) return reply('501 5.5.4 Syntax: RCPT TO:<address>');
          rcpt.push(addressOf(arg.replace(/^TO:/i, '')));
          reply('250 2.1.5 Ok');
          return;
        case 'DATA':
          if (rcpt.length === 0) return reply('503 5.5.1 Error: need RCPT command');
          inData = true;
          reply('354 End data with <CR><LF>.<CR><LF>');
          return;
        case 'RSET':
          from = '';
          rcpt = [];
          reply('250 2.0.0 Ok');
          return;
        case 'NOOP':
          reply('250 2.0.0 Ok');
          return;
        case 'QUIT':
          reply('221 2.0.0 Bye');
          socket.end();
          return;
        default:
          reply('502 5.5.2 Error: command not recognized');
      }
    };

    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (;;) {
        if (inData) {
          // The message ends with a line holding only "." (it may be the very first line).
          const end = buffer.startsWith('.\r\n') ? 0 : buffer.indexOf('\r\n.\r\n');
          if (end === -1) return;
          const raw = end === 0 ? '' : buffer.slice(0, end);
          buffer = buffer.slice(end === 0 ? 3 : end + 5);
          inData = false;
          accept(raw);
          continue;
        }
        const eol = buffer.indexOf('\n');
        if (eol === -1) return;
        const line = buffer.slice(0, eol).replace(/\r$/, '');
        buffer = buffer.slice(eol + 1);
        command(line);
      }
    });
  });

  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    notify({ type: 'ready', port });
    if (!process.send) process.stdout.write(`witness listening on 127.0.0.1:${port}, writing ${file}\n`);
  });
  const stop = () => {
    server.close();
    try {
      fsyncSync(fd);
      closeSync(fd);
    } catch {
      // already closed
    }
    process.exit(0);
  };
  process.on('disconnect', stop);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (import.meta.main) main();
