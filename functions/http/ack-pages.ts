/**
 * The acknowledgement pages (DESIGN.md "Acknowledgement links"): what a member of staff
 * sees after clicking their link. Plain language, one action, no script. Pure.
 */
import type { AckOutcome } from '../domain/acknowledgement.ts';
import { escapeHtml, page } from './pages.ts';

export interface AckPageFacts {
  trustName: string;
  policyTitle?: string;
  version?: number;
  documentUrl?: string;
  /** The form posts back to the page's own address. */
  actionPath: string;
  /** Europe/London date-time of the acknowledgement, for the confirmation. */
  acknowledgedOn?: string;
}

function policyName(f: AckPageFacts): string {
  return f.policyTitle ? `${escapeHtml(f.policyTitle)}${f.version ? ` (version ${f.version})` : ''}` : 'this policy';
}

export function ackPage(outcome: AckOutcome, f: AckPageFacts): { status: number; html: string } {
  const doc = f.documentUrl ? `<p><a href="${escapeHtml(f.documentUrl)}">Read the ${policyName(f)}</a> (opens the policy).</p>` : '';
  const render = (title: string, body: string) => ({ status: outcome.status, html: page(title, body, f.trustName) });
  switch (outcome.kind) {
    case 'confirm':
      return render(
        `Confirm: ${f.policyTitle ?? 'policy'}`,
        `<h1>Confirm you have read the ${policyName(f)}</h1>${doc}
<p>When you have read it, press the button. Your confirmation is recorded with the date and time, and you will get a receipt by email.</p>
<form method="post" action="${escapeHtml(f.actionPath)}"><button type="submit">I have read and understood this policy</button></form>`,
      );
    case 'record':
      return render(
        'Thank you',
        `<h1>Thank you</h1><p class="notice" role="status">You confirmed that you have read and understood the ${policyName(f)}${
          f.acknowledgedOn ? ` on ${escapeHtml(f.acknowledgedOn)}` : ''
        }. A receipt is on its way to your email.</p>${doc}`,
      );
    case 'already-acknowledged':
      return render(
        'Already confirmed',
        `<h1>You have already confirmed this policy</h1><p class="notice" role="status">Your confirmation of the ${policyName(f)} was recorded${
          f.acknowledgedOn ? ` on ${escapeHtml(f.acknowledgedOn)}` : ''
        }. Nothing more is needed, and nothing was changed.</p>${doc}`,
      );
    case 'expired':
      return render(
        'Link expired',
        '<h1>This link has expired</h1><p>Links to confirm a policy work for a limited time. Nothing was recorded. A reminder with a new link will follow, or ask your school office for one.</p>',
      );
    case 'superseded':
      return render(
        'A newer version exists',
        `<h1>This policy has been updated</h1><p>This link is for an earlier version. Nothing was recorded. Version ${outcome.currentVersion} is now current, and you will be (or have been) sent a link for it.</p>`,
      );
    case 'cancelled':
      return render('Link no longer needed', '<h1>This link is no longer needed</h1><p>Nothing was recorded. If you think this is wrong, please contact your school office.</p>');
    case 'invalid':
      return render(
        'Link not valid',
        '<h1>This link is not valid</h1><p>It may have been copied incompletely. Nothing was recorded. Please open the link from your email again.</p>',
      );
    case 'unknown':
      return render('Not found', '<h1>We could not find this request</h1><p>Nothing was recorded. Please contact your school office.</p>');
  }
}
