import { describe, expect, it } from 'vitest';
import {
  CATALOGUE,
  ContractError,
  DETAIL_TYPE_LIST,
  parseForPublish,
  readDetail,
} from '../../functions/contracts/events.ts';
import { examples } from '../support/examples.ts';

function contractError(run: () => unknown): ContractError {
  try {
    run();
  } catch (error) {
    if (error instanceof ContractError) return error;
    throw error;
  }
  throw new Error('expected a ContractError');
}

describe('event contracts', () => {
  it.each(DETAIL_TYPE_LIST)('%s accepts the DESIGN.md example, strictly and tolerantly', (type) => {
    expect(parseForPublish(type, examples[type])).toEqual(examples[type]);
    expect(readDetail(type, examples[type]).unknownKeys).toEqual([]);
  });

  it('names a source for every detail-type', () => {
    expect(CATALOGUE['Staff Onboarded'].source).toBe('trust.hr');
    expect(CATALOGUE['Breach Reported'].source).toBe('trust.safeguarding');
    expect(CATALOGUE['Policy Acknowledged'].source).toBe('trust.policies');
  });

  it.each(DETAIL_TYPE_LIST)('%s accepts a detail without the optional eventId and occurredAt', (type) => {
    const { eventId: _e, occurredAt: _o, ...rest } = examples[type];
    expect(() => parseForPublish(type, rest)).not.toThrow();
  });

  const staff = examples['Staff Onboarded'];
  const malformed: [string, Record<string, unknown>, string][] = [
    ['an unknown key', { ...staff, nationalInsurance: 'QQ123456C' }, 'detail.nationalInsurance'],
    ['a bad email', { ...staff, email: 'amira-at-school' }, 'detail.email'],
    ['an impossible date', { ...staff, startDate: '2026-02-30' }, 'detail.startDate'],
    ['a date in the wrong form', { ...staff, startDate: '01/09/2026' }, 'detail.startDate'],
    ['an empty roles list', { ...staff, roles: [] }, 'detail.roles'],
    ['an unknown role', { ...staff, roles: ['teacher', 'caretaker'] }, 'detail.roles.1'],
    ['a bad staffId', { ...staff, staffId: 'HR 10234!' }, 'detail.staffId'],
    ['a missing givenName', { ...staff, givenName: undefined }, 'detail.givenName'],
    ['a blank familyName', { ...staff, familyName: '   ' }, 'detail.familyName'],
    ['markup in a name', { ...staff, givenName: '<img src=x>' }, 'detail.givenName'],
    ['template braces in a name', { ...staff, familyName: '{{ackUrl}}' }, 'detail.familyName'],
    ['a bad employmentType', { ...staff, employmentType: 'contractor' }, 'detail.employmentType'],
    ['a non-boolean managesOfficialChannels', { ...staff, managesOfficialChannels: 'yes' }, 'detail.managesOfficialChannels'],
    ['a bad occurredAt', { ...staff, occurredAt: 'yesterday' }, 'detail.occurredAt'],
    ['a bad eventId', { ...staff, eventId: 'has spaces' }, 'detail.eventId'],
  ];
  it.each(malformed)('Staff Onboarded with %s is rejected naming the field, never the value', (_, detail, field) => {
    const error = contractError(() => parseForPublish('Staff Onboarded', detail));
    expect(error.fields).toContain(field);
    expect(error.message).toContain(field);
    for (const value of Object.values(detail)) {
      if (typeof value === 'string' && value.length > 3 && !['permanent', 'teacher'].includes(value)) {
        expect(error.message).not.toContain(value);
      }
    }
  });

  it('a non-object detail is rejected as a whole', () => {
    expect(contractError(() => parseForPublish('Staff Left', 'HR-1')).fields).toEqual(['detail']);
  });

  const policy = examples['Policy Updated'];
  it.each([
    ['version 0', { ...policy, version: 0 }, 'detail.version'],
    ['a fractional version', { ...policy, version: 1.5 }, 'detail.version'],
    ['reviewPeriodMonths 61', { ...policy, reviewPeriodMonths: 61 }, 'detail.reviewPeriodMonths'],
    ['an empty audience', { ...policy, audience: [] }, 'detail.audience'],
    ['a repeated audience', { ...policy, audience: ['employees', 'employees'] }, 'detail.audience'],
    ['an http document URL', { ...policy, documentUrl: 'http://policies.example.org/p.pdf' }, 'detail.documentUrl'],
    ['a bad change kind', { ...policy, change: 'minor' }, 'detail.change'],
    ['a bad committee', { ...policy, governingCommittee: 'pta' }, 'detail.governingCommittee'],
  ])('Policy Updated with %s is rejected naming the field', (_, detail, field) => {
    expect(contractError(() => parseForPublish('Policy Updated', detail)).fields).toContain(field);
  });

  it('Policy Updated allows http only for localhost', () => {
    expect(() => parseForPublish('Policy Updated', { ...policy, documentUrl: 'http://127.0.0.1:3000/policies/x' })).not.toThrow();
  });

  it('Breach Reported refuses an unknown category and an unknown key inside subject', () => {
    const breach = examples['Breach Reported'];
    expect(contractError(() => parseForPublish('Breach Reported', { ...breach, category: 'gossip' })).fields).toEqual([
      'detail.category',
    ]);
    const error = contractError(() =>
      parseForPublish('Breach Reported', { ...breach, subject: { kind: 'staff', name: 'Someone' } }),
    );
    expect(error.fields).toEqual(['detail.subject.name']);
    expect(error.message).not.toContain('Someone');
  });

  it('Breach Reported has no narrative field: a narrative on the bus is refused', () => {
    const error = contractError(() =>
      parseForPublish('Breach Reported', { ...examples['Breach Reported'], narrative: 'what happened' }),
    );
    expect(error.fields).toEqual(['detail.narrative']);
  });

  it('Staff Updated must change something', () => {
    expect(contractError(() => parseForPublish('Staff Updated', { staffId: 'HR-1' })).fields).toEqual(['detail.staffId']);
    expect(() => parseForPublish('Staff Updated', { staffId: 'HR-1', email: 'new@example.org' })).not.toThrow();
  });

  it('tolerant reading strips unknown keys and names them, without values', () => {
    const { detail, unknownKeys } = readDetail('Staff Onboarded', {
      ...staff,
      payrollNumber: 'P-99881',
    });
    expect(unknownKeys).toEqual(['detail.payrollNumber']);
    expect(detail).not.toHaveProperty('payrollNumber');
    expect(detail.email).toBe(staff.email);
  });

  it('tolerant reading names unknown keys in nested objects', () => {
    const { unknownKeys, detail } = readDetail('Breach Reported', {
      ...examples['Breach Reported'],
      subject: { kind: 'student', yearGroup: 9 },
    });
    expect(unknownKeys).toEqual(['detail.subject.yearGroup']);
    expect(detail.subject).toEqual({ kind: 'student' });
  });

  it('tolerant reading still refuses bad values', () => {
    const error = contractError(() => readDetail('Staff Onboarded', { ...staff, email: 'nope', extra: 1 }));
    expect(error.fields).toEqual(['detail.email']);
  });
});
