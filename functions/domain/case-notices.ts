/**
 * The emails a case sends (DESIGN.md "Breach and concern intake and routing": "Emails carry
 * the case reference, category, school and a link, never the narrative or the subject's
 * name"). Everything in them is the case id, text fixed in code or configuration, and a
 * link: nothing a reporter wrote, no name, and not why the recipient was chosen (a
 * conflict-of-interest reason could point at the subject). Pure: no AWS imports.
 */
import { schoolName, type TrustConfig } from '../config/trust-config.ts';
import { categoryLabel, FLAG_LABELS, type Routing } from './breach-routing.ts';
import type { CaseRecord } from './cases.ts';
import { type IntendedEmail, ledgerKey } from './emails.ts';
import { canBeEmailed, type Person } from './people.ts';

/** Where a case is opened: the authenticated case view (the link carries only the case id). */
export function caseUrl(publicBaseUrl: string, caseId: string): string {
  return `${publicBaseUrl}/cases/${encodeURIComponent(caseId)}`;
}

export type NoticeKind = { kind: 'notice' } | { kind: 'escalation'; level: 1 | 2; hoursWaiting: number };

export interface CaseNotices {
  emails: IntendedEmail[];
  /** Recipients not emailed: no longer on record, left, or their address bounced. */
  notEmailed: string[];
  /** The integration contact was told because nobody on the routing could be emailed. */
  toIntegrationContact: boolean;
}

/**
 * One email per recipient of the routing who can be emailed, keyed per case, kind and
 * recipient. If nobody on it can be (or routing found nobody: `unroutable`), the trust's
 * integration contact is told instead, so the notice is never silently dropped.
 */
export function caseNotices(
  record: Pick<CaseRecord, 'caseId' | 'schoolId' | 'category'>,
  routing: Routing,
  people: ReadonlyMap<string, Person>,
  config: TrustConfig,
  kind: NoticeKind,
): CaseNotices {
  const data = {
    trustName: config.trust.name,
    caseId: record.caseId,
    categoryLabel: categoryLabel(record.category),
    schoolName: schoolName(config, record.schoolId),
    flags: routing.flags.filter((f) => f !== 'unroutable').map((f) => ({ label: FLAG_LABELS[f] })),
    caseUrl: caseUrl(config.publicBaseUrl, record.caseId),
    ...(kind.kind === 'escalation'
      ? {
          escalation:
            kind.level === 1
              ? `This case has not been triaged within ${kind.hoursWaiting} hours of being reported, so it has been escalated to you.`
              : `This case has still not been triaged, ${kind.hoursWaiting} hours after it was reported, so it has been escalated to you.`,
        }
      : {}),
  };
  const key = (recipient: string) =>
    kind.kind === 'notice' ? ledgerKey.caseNotice(record.caseId, recipient) : ledgerKey.caseEscalation(record.caseId, kind.level, recipient);

  const emails: IntendedEmail[] = [];
  const notEmailed: string[] = [];
  for (const recipient of routing.recipients) {
    const person = people.get(recipient.staffId);
    if (!person || !canBeEmailed(person)) {
      notEmailed.push(recipient.staffId);
      continue;
    }
    emails.push({ key: key(recipient.staffId), templateId: 'case-notice', to: { email: person.email, staffId: person.staffId }, data });
  }
  const toIntegrationContact = emails.length === 0;
  if (toIntegrationContact) {
    emails.push({ key: key('integration-contact'), templateId: 'case-notice', to: { email: config.integrationContact }, data });
  }
  return { emails, notEmailed, toIntegrationContact };
}
