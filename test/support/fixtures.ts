/**
 * Records for unit tests of the domain and the pages: a person and an acknowledgement
 * request with every required field, overridable field by field.
 */
import type { TrustConfig } from '../../functions/config/trust-config.ts';
import type { IntendedEmail } from '../../functions/domain/emails.ts';
import type { AckRequest } from '../../functions/domain/onboarding.ts';
import type { Person } from '../../functions/domain/people.ts';

/** An active, emailable teacher who started in 2020; `familyName` Lee, email `<staffid>@example.org`. */
export const testPerson = (staffId: string, schoolId: string, over: Partial<Person> = {}): Person => ({
  staffId,
  givenName: staffId,
  familyName: 'Lee',
  email: `${staffId.toLowerCase()}@example.org`,
  schoolId,
  roles: ['teacher'],
  employmentType: 'permanent',
  startDate: '2020-01-01',
  managesOfficialChannels: false,
  status: 'active',
  emailDeliverable: true,
  lastChangeAt: '2020-01-01T00:00:00Z',
  ...over,
});

/** A request of `policyId` version `version`, asked 2026-11-25; acknowledged ones carry an acknowledgedAt. */
export const testRequest = (
  policyId: string,
  staffId: string,
  version: number,
  status: AckRequest['status'],
  dueOn = '2026-12-09',
  over: Partial<AckRequest> = {},
): AckRequest => ({
  staffId,
  schoolId: 'st-marys',
  policyId,
  version,
  status,
  requestedAt: '2026-11-25T10:00:00Z',
  dueOn,
  reminderCount: 0,
  ...(status === 'acknowledged' ? { acknowledgedAt: '2026-11-26T10:00:00Z' } : {}),
  ...over,
});

/**
 * `count` receipt emails (a template every test server has) with keys `<prefix>#<i>` to
 * `<prefix>.<i>@example.org`: for tests of the delivery loop, which care about keys and
 * addresses, not content.
 */
export function testReceiptEmails(prefix: string, count: number, config: Pick<TrustConfig, 'trust' | 'schools'>): IntendedEmail[] {
  return Array.from({ length: count }, (_, i) => ({
    key: `${prefix}#${i}`,
    templateId: 'receipt' as const,
    to: { email: `${prefix}.${i}@example.org`, staffId: `RC-${i}` },
    data: {
      givenName: `Person ${i}`,
      trustName: config.trust.name,
      schoolName: config.schools[0]?.name ?? '',
      policyTitle: 'Use of Social Media Policy',
      version: 1,
      acknowledgedOn: '25 November 2026 at 10:00',
      documentUrl: 'http://127.0.0.1:3000/policies/use-of-social-media/v1',
    },
  }));
}
