import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadTrustConfig, REPO_ROOT } from '../../functions/config/load-trust-config.ts';
import { ConfigError, emailSchoolName, parsePolicyHeader, resolveTrustConfig, reviewDueBy, schoolName } from '../../functions/config/trust-config.ts';
import { addDays, formatLongDate, londonDate } from '../../functions/domain/dates.ts';
import { TRUST_SCHOOL_ID } from '../../functions/contracts/roles.ts';
import { registeredPolicy } from '../../functions/domain/policies.ts';

const raw = JSON.parse(readFileSync(`${REPO_ROOT}/config/trust.json`, 'utf8'));
const read = (path: string) => readFileSync(`${REPO_ROOT}/${path}`, 'utf8');

describe('trust configuration', () => {
  it('registers the seed policy from its own header, years only as the seed states them', () => {
    const seed = loadTrustConfig().policies.find((p) => p.policyId === 'use-of-social-media');
    expect(seed).toMatchObject({
      title: 'Use of Social Media Policy',
      approved: '2022',
      reviewDue: '2023',
      reviewPeriodMonths: 12, // "Annually"
      ownerRole: 'trust-network-manager', // "Trust Network Manager"
      governingCommittee: 'trust-board', // "Trust Board"
      audience: ['employees', 'governors', 'volunteers'], // §2a
    });
  });

  it('the review of a year-only policy is due by 31 December of that year, so a fresh install finds it overdue', () => {
    expect(reviewDueBy('2023')).toBe('2023-12-31');
    expect(reviewDueBy('2024-03-01')).toBe('2024-03-01');
    const seed = loadTrustConfig().policies[0];
    if (!seed) throw new Error('no policy');
    expect(registeredPolicy(seed, 'http://127.0.0.1:3000')).toMatchObject({
      reviewDueBy: '2023-12-31',
      documentUrl: 'http://127.0.0.1:3000/policies/use-of-social-media/v1',
    });
  });

  it('registers the social media acceptable use agreement for channel managers (§8h.i)', () => {
    const aua = loadTrustConfig().policies.find((p) => p.policyId === 'social-media-acceptable-use');
    expect(aua?.requires).toBe('managesOfficialChannels');
  });

  it('the repository copy of the seed policy is the shared seed, unchanged', () => {
    let shared: string;
    try {
      shared = readFileSync(`${REPO_ROOT}/../shared/seed/social-media-policy.md`, 'utf8');
    } catch {
      return; // outside this workplace there is no shared folder to compare with
    }
    expect(read('policies/social-media-policy.md')).toBe(shared);
  });

  it('refuses a bad file naming the field', () => {
    expect(() => resolveTrustConfig({ ...raw, region: 'London' }, read)).toThrow(/config\.region/);
    expect(() => resolveTrustConfig({ ...raw, sender: { address: 'x', displayName: 'y' } }, read)).toThrow(/config\.sender\.address/);
    expect(() => resolveTrustConfig({ ...raw, surprise: true }, read)).toThrow(/config\.surprise/);
    expect(() => resolveTrustConfig({ ...raw, schools: [{ id: 'trust', name: 'x' }] }, read)).toThrow(ConfigError);
  });

  it("an email's school line is the school's name, and none for central staff (reports still name the trust)", () => {
    const config = loadTrustConfig();
    expect(emailSchoolName(config, 'st-marys')).toBe("St Mary's Church of England Primary School");
    expect(emailSchoolName(config, TRUST_SCHOOL_ID)).toBe('');
    expect(schoolName(config, TRUST_SCHOOL_ID)).toBe(config.trust.name);
  });

  it('refuses a policy header it cannot read, naming the line', () => {
    expect(() => parsePolicyHeader('# T\n<b>Review Period:</b>\t<b>Sometimes</b>', 'p.md')).toThrow(/review period/);
    expect(() => parsePolicyHeader('# T\n<b>Review Period:</b>\t<b>Annually</b>', 'p.md')).toThrow(/p.md: the header has no "governing committee" line/);
  });
});

describe('dates', () => {
  it('"today" is the date in Europe/London, across the clock changes', () => {
    expect(londonDate(new Date('2026-07-01T23:30:00Z'))).toBe('2026-07-02'); // BST: already tomorrow
    expect(londonDate(new Date('2026-12-01T23:30:00Z'))).toBe('2026-12-01'); // GMT
    expect(londonDate(new Date('2026-03-29T00:30:00Z'))).toBe('2026-03-29'); // the spring-forward night
    expect(londonDate(new Date('2026-10-25T00:30:00Z'))).toBe('2026-10-25'); // the fall-back night
  });

  it('adds days across month and leap-year ends, and formats dates the UK way', () => {
    expect(addDays('2028-02-28', 1)).toBe('2028-02-29');
    expect(addDays('2026-12-25', 14)).toBe('2027-01-08');
    expect(formatLongDate('2026-12-09')).toBe('9 December 2026');
  });
});
