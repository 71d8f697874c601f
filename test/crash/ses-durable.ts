/**
 * Preloaded into the PLATFORM process by the crash suite only (`node --import <this>
 * bin/trust-notify.ts start`): makes the local SES answer a send only once the witness has
 * the email on disk, so that "SES accepted" means "witnessed", as "SES accepted" means
 * "will be delivered" in AWS.
 *
 * Why it is needed: aws-ses-v2-local 2.10.2 does NOT await the SMTP forward before answering.
 * `store.saveEmail` (dist/store.js) calls `void sendEmailToSmtp(email)` and the handlers
 * (dist/v2/sendBulkEmail.js, sendEmail.js) answer 200 right after saveEmail returns; the
 * forward (dist/smtp.js, one nodemailer connection per email, errors only logged) runs
 * afterwards on the same event loop. So with the stock emulator, a kill -9 of the platform
 * after SES answered and before the forward finished loses emails that SES accepted and the
 * ledger may already record `sent`: the witness would count them lost although the system
 * under test did everything right (the loss is the emulator's, which dies with the platform
 * here but is a separate, durable service in AWS). With this preload:
 *   - every forward is awaited (same mapping as dist/smtp.js, same SMTP_TRANSPORT), and the
 *     handler's answer waits for all forwards the request started (AsyncLocalStorage);
 *   - a forward the witness refuses turns the answer into a 500 (outcome unknown to the
 *     caller, as an SES 5xx is), never a silent 200. The witness is never killed, so this
 *     only happens if it is broken; the suite counts those lines in the platform's log.
 * Nothing of the system under test (functions/, local/) is changed: only the SES emulator's
 * durability, and only in the crash suite's runs.
 */
import { isMainThread } from 'node:worker_threads';

if (isMainThread && process.env.SMTP_TRANSPORT?.trim()) {
  const { AsyncLocalStorage } = await import('node:async_hooks');
  const { createRequire } = await import('node:module');
  const { dirname, join } = await import('node:path');
  const require = createRequire(import.meta.url);
  const dist = dirname(require.resolve('aws-ses-v2-local'));
  const sesRequire = createRequire(join(dist, 'smtp.js'));
  const nodemailer = sesRequire('nodemailer') as {
    createTransport(options: unknown): { sendMail(data: Record<string, unknown>): Promise<unknown> };
  };
  const transporter = nodemailer.createTransport(JSON.parse(process.env.SMTP_TRANSPORT));

  interface StoredEmail {
    messageId: string;
    from: string;
    destination: { to: string[]; cc: string[]; bcc: string[] };
    subject: string;
    attachments: unknown[];
    body?: { html?: string; text?: string };
    replyTo: string[];
    headers?: { name: string; value: string }[];
  }
  const pendingOfRequest = new AsyncLocalStorage<Promise<unknown>[]>();

  /** dist/smtp.js's mapping, awaited and with its failure kept. */
  const forward = (email: StoredEmail): Promise<unknown> => {
    const data: Record<string, unknown> = {
      messageId: email.messageId,
      from: email.from,
      to: email.destination.to,
      cc: email.destination.cc,
      bcc: email.destination.bcc,
      subject: email.subject,
      attachments: email.attachments,
    };
    if (email.body?.html) data.html = email.body.html;
    if (email.body?.text) data.text = email.body.text;
    if (email.replyTo.length > 0) data.replyTo = email.replyTo;
    if (email.headers && email.headers.length > 0) data.headers = email.headers.map((h) => ({ key: h.name, value: h.value }));
    return transporter.sendMail(data);
  };

  const smtp = require(join(dist, 'smtp.js')) as { sendEmailToSmtp: (email: StoredEmail) => Promise<void> };
  smtp.sendEmailToSmtp = (email: StoredEmail) => {
    const sending = forward(email);
    const pending = pendingOfRequest.getStore();
    if (pending) pending.push(sending);
    return sending.then(
      () => undefined,
      (error: Error) => {
        process.stderr.write(`crash-suite ses-durable: the witness did not take an email: ${error.message}\n`);
      },
    );
  };

  type Handler = (req: unknown, res: ExpressResponse, next: unknown) => unknown;
  interface ExpressResponse {
    statusCode: number;
    status(code: number): ExpressResponse;
    send(body?: unknown): ExpressResponse;
  }
  for (const file of ['v2/sendBulkEmail.js', 'v2/sendEmail.js', 'v1/sendEmail.js', 'v1/sendRawEmail.js']) {
    const mod = require(join(dist, file)) as { default: Handler };
    const original = mod.default;
    mod.default = (req, res, next) => {
      const pending: Promise<unknown>[] = [];
      const send = res.send;
      let answered = false;
      res.send = function deferredSend(this: ExpressResponse, body?: unknown) {
        // Express calls send again from inside send (objects go through res.json): only the first waits.
        if (answered) return send.call(this, body);
        answered = true;
        void Promise.allSettled(pending).then((results) => {
          const failed = results.filter((r) => r.status === 'rejected').length;
          if (failed > 0 && res.statusCode < 400) {
            res.status(500);
            send.call(res, { message: `crash-suite witness did not take ${failed} of ${results.length} emails` });
            return;
          }
          send.call(res, body);
        });
        return res;
      };
      return pendingOfRequest.run(pending, () => original(req, res, next));
    };
  }
}
