/**
 * Sample data for every email template, typed by the data the handlers really send
 * (`TemplateData` in functions/domain/emails.ts), and the rendering SES applies to a stored
 * template: Handlebars without HTML escaping, the same function aws-ses-v2-local uses for
 * SendEmail / SendBulkEmail. Every optional field and flag is set, so each `{{#if}}` block
 * shows; `{{#each}}` lists have two entries. Used by test/unit/email-templates.test.ts and
 * test/browser/email-templates.test.ts.
 */
import { compileTemplate } from 'aws-ses-v2-local/dist/v2/renderTemplate.js';
import type { TemplateData } from '../../functions/domain/emails.ts';
import { loadEmailTemplates } from '../../functions/email/load-templates.ts';
import type { TemplateId } from '../../functions/email/template-ids.ts';

const BASE = 'https://policies.allsaints-mat.example.org';
const TRUST = 'All Saints Multi Academy Trust';
const SCHOOL = "St Mary's Church of England Primary School";

const SOCIAL_MEDIA = {
  title: 'Use of Social Media Policy',
  version: 3,
  documentUrl: `${BASE}/policies/use-of-social-media/v3`,
  ackUrl: `${BASE}/ack/eyJzIjoiU00tVDEiLCJwIjoidXNlLW9mLXNvY2lhbC1tZWRpYSIsInYiOjN9.c2lnbmF0dXJlLW9uZQ`,
};
const ACCEPTABLE_USE = {
  title: 'Social Media Acceptable Use Agreement',
  version: 1,
  documentUrl: `${BASE}/policies/social-media-acceptable-use/v1`,
  ackUrl: `${BASE}/ack/eyJzIjoiU00tVDEiLCJwIjoic29jaWFsLW1lZGlhLWFjY2VwdGFibGUtdXNlIiwidiI6MX0.c2lnbmF0dXJlLXR3bw`,
};
const CHANGE_SUMMARY =
  'Section 8a now names the Trust Network Manager as the holder of the login details of every official channel, and section 6a asks for a refresher every 12 months.';

export type EmailSamples = { [T in TemplateId]: TemplateData[T] };

export const EMAIL_SAMPLES: EmailSamples = {
  welcome: {
    givenName: 'Amira',
    trustName: TRUST,
    schoolName: SCHOOL,
    dueDate: '9 December 2026',
    policies: [SOCIAL_MEDIA, ACCEPTABLE_USE],
  },
  'induction-notice': {
    recipientGivenName: 'Helen',
    trustName: TRUST,
    schoolName: SCHOOL,
    newStaffName: 'Amira Khan',
    roles: 'class teacher, official channel manager',
    startDate: '1 December 2026',
    policies: [SOCIAL_MEDIA, ACCEPTABLE_USE].map(({ ackUrl: _, ...policy }) => policy),
    routingNote: "St Mary's Church of England Primary School has no Head of School on record, so this comes to you as the trust's HR advisor.",
  },
  receipt: {
    givenName: 'Amira',
    trustName: TRUST,
    schoolName: SCHOOL,
    policyTitle: SOCIAL_MEDIA.title,
    version: 3,
    acknowledgedOn: '25 November 2026 at 14:05',
    documentUrl: SOCIAL_MEDIA.documentUrl,
  },
  'policy-updated': {
    givenName: 'Amira',
    trustName: TRUST,
    schoolName: SCHOOL,
    policyTitle: SOCIAL_MEDIA.title,
    version: 3,
    changeSummary: CHANGE_SUMMARY,
    documentUrl: SOCIAL_MEDIA.documentUrl,
    dueDate: '9 December 2026',
    ackUrl: SOCIAL_MEDIA.ackUrl,
  },
  'policy-changed': {
    givenName: 'Amira',
    trustName: TRUST,
    schoolName: SCHOOL,
    policyTitle: SOCIAL_MEDIA.title,
    version: 4,
    changeSummary: 'Corrected the name of the Trust Network Manager role in section 8a; the rules are unchanged.',
    documentUrl: `${BASE}/policies/use-of-social-media/v4`,
  },
  'policy-live': {
    givenName: 'Dev',
    trustName: TRUST,
    policyTitle: SOCIAL_MEDIA.title,
    version: 3,
    change: 'substantive',
    changeSummary: CHANGE_SUMMARY,
    approvedOn: '20 November 2026',
    reviewDueBy: '20 November 2027',
    documentUrl: SOCIAL_MEDIA.documentUrl,
  },
  'policies-to-confirm': {
    givenName: 'Amira',
    trustName: TRUST,
    schoolName: SCHOOL,
    dueDate: '9 December 2026',
    policies: [ACCEPTABLE_USE, { ...SOCIAL_MEDIA, title: 'Official Channels Procedure', version: 2 }],
  },
  'credential-rotation': {
    recipientGivenName: 'Helen',
    trustName: TRUST,
    channelName: "St Mary's Facebook page",
    platform: 'facebook',
    ownerSchoolName: SCHOOL,
    leaverName: 'Amira Khan',
    hasLeft: true,
    leftOn: '31 December 2026',
    routingNote: 'Nobody holds a leadership role at the school, so this comes to you as the trust\'s Network Manager.',
  },
  'review-due': {
    givenName: 'Dev',
    trustName: TRUST,
    headline: 'Policy review overdue',
    policyTitle: ACCEPTABLE_USE.title,
    policyId: 'social-media-acceptable-use',
    version: 1,
    reviewDue: '2023 (by 31 December 2023)',
    status: 'overdue by 151 weeks and 2 days',
    reason: 'the person responsible for this policy (Trust Network Manager)',
    ownerRole: 'Trust Network Manager',
    committee: 'the Trust Board',
    reviewPeriod: '12 months',
    documentUrl: ACCEPTABLE_USE.documentUrl,
    ownerNote: 'Nobody holds the Trust Network Manager role: the Trust Board is told instead.',
  },
  'case-notice': {
    trustName: TRUST,
    caseId: 'SMC-2026-0042',
    categoryLabel: "Concern about a community member's online conduct",
    schoolName: SCHOOL,
    flags: [{ label: 'Involves a child: the Designated Safeguarding Lead leads' }, { label: 'Possible crime: consider contacting the police' }],
    caseUrl: `${BASE}/cases/SMC-2026-0042`,
    escalation: 'Not triaged within 24 hours: escalated to you as Head of School.',
  },
  reminder: {
    givenName: 'Amira',
    trustName: TRUST,
    schoolName: SCHOOL,
    policyTitle: SOCIAL_MEDIA.title,
    version: 3,
    documentUrl: SOCIAL_MEDIA.documentUrl,
    ackUrl: SOCIAL_MEDIA.ackUrl,
    dueDate: '9 December 2026',
    overdueBy: '7 days',
    reminderNumber: 3,
    maxReminders: 3,
    finalReminder: true,
    refresher: true,
  },
  'head-digest': {
    recipientGivenName: 'Helen',
    trustName: TRUST,
    date: '16 December 2026',
    count: 2,
    people: [
      {
        name: 'Amira Khan',
        schoolName: SCHOOL,
        policyTitle: SOCIAL_MEDIA.title,
        version: 3,
        dueDate: '9 December 2026',
        overdueBy: '3 weeks',
        remindersSent: 3,
        isNew: true,
      },
      {
        name: 'Bea Quinn',
        schoolName: "St John's Church of England Primary School",
        policyTitle: ACCEPTABLE_USE.title,
        version: 1,
        dueDate: '2 December 2026',
        overdueBy: '4 weeks and 1 day',
        remindersSent: 3,
        isNew: false,
        note: 'email address undeliverable: HR and their line manager have been told',
      },
    ],
    stillBeingReminded: 4,
    routingNote: "St John's Church of England Primary School has no Head of School on record, so its people come to you as next in line.",
  },
  'trust-rollup': {
    recipientGivenName: 'Grace',
    trustName: TRUST,
    date: '16 December 2026',
    schools: [
      { schoolName: SCHOOL, overdue: 12, beingReminded: 8, escalated: 4, newlyEscalated: 1, undeliverable: 1 },
      { schoolName: 'Holy Trinity Church of England Academy', overdue: 3, beingReminded: 3, escalated: 0, newlyEscalated: 0, undeliverable: 0 },
    ],
    totalOverdue: 15,
    totalBeingReminded: 11,
    totalEscalated: 4,
    totalNewlyEscalated: 1,
    totalUndeliverable: 1,
    routingNote: 'Nobody holds the trust leadership roles, so this comes to you as the integration contact.',
  },
  'undeliverable-notice': {
    recipientGivenName: 'Helen',
    trustName: TRUST,
    personName: 'Bea Quinn',
    schoolName: SCHOOL,
    policyTitle: SOCIAL_MEDIA.title,
    version: 3,
    documentUrl: SOCIAL_MEDIA.documentUrl,
    dueDate: '9 December 2026',
    reason: 'their line manager',
    routingNote: 'Bea Quinn has no line manager on record, so this comes to you as the Head of School.',
  },
  refresher: {
    givenName: 'Amira',
    trustName: TRUST,
    schoolName: SCHOOL,
    policyTitle: SOCIAL_MEDIA.title,
    version: 3,
    documentUrl: SOCIAL_MEDIA.documentUrl,
    ackUrl: SOCIAL_MEDIA.ackUrl,
    dueDate: '9 December 2027',
    lastAcknowledgedOn: '25 November 2026 at 14:05',
    period: '12 months',
  },
  'undeliverable-address': {
    recipientGivenName: 'Olu',
    trustName: TRUST,
    personName: 'Bea Quinn',
    schoolName: SCHOOL,
    cause: 'emails to their address are returned as undeliverable',
    noticeLabel: "the welcome email asking them to read and confirm the trust's policies",
    mandatory: true,
    hasOutstanding: true,
    outstanding: [
      { policyTitle: SOCIAL_MEDIA.title, version: 3, dueDate: '9 December 2026', documentUrl: SOCIAL_MEDIA.documentUrl },
      { policyTitle: ACCEPTABLE_USE.title, version: 1, dueDate: '9 December 2026', documentUrl: ACCEPTABLE_USE.documentUrl },
    ],
    reason: "the trust's HR advisor",
    action: 'Please correct their email address in the HR system: reminders then reach them again.',
    routingNote: 'There is no HR advisor on record, so this comes to you as the Head of School.',
  },
  'event-rejected': {
    trustName: TRUST,
    eventId: '7f9c2a4e-1b3d-4c5e-8f60-718293a4b5c6',
    detailType: 'Staff Onboarded',
    problemCount: 2,
    problems: [
      { field: 'detail.startDate', problem: 'must be a date (YYYY-MM-DD)' },
      { field: 'detail.roles[0]', problem: 'must be one of the configured roles' },
    ],
  },
};

/**
 * The one action an email asks for, where it asks for one: the button's label and its link
 * in the sample (for a list of policies, the first one's). Emails without an action have none.
 */
export const CALL_TO_ACTION: Partial<Record<TemplateId, { label: string; url: string }>> = {
  welcome: { label: 'Confirm I have read it', url: SOCIAL_MEDIA.ackUrl },
  'policies-to-confirm': { label: 'Confirm I have read it', url: ACCEPTABLE_USE.ackUrl },
  'policy-updated': { label: 'Confirm I have read it', url: SOCIAL_MEDIA.ackUrl },
  reminder: { label: 'Confirm I have read it', url: SOCIAL_MEDIA.ackUrl },
  refresher: { label: 'Confirm I have read it', url: SOCIAL_MEDIA.ackUrl },
  'case-notice': { label: 'Open the case', url: `${BASE}/cases/SMC-2026-0042` },
  'policy-changed': { label: 'Read the policy', url: `${BASE}/policies/use-of-social-media/v4` },
  'policy-live': { label: 'Read the policy', url: SOCIAL_MEDIA.documentUrl },
  'review-due': { label: 'Read the policy', url: ACCEPTABLE_USE.documentUrl },
};

export interface RenderedEmail {
  subject: string;
  html: string;
  text: string;
}

/**
 * Renders a template's stored parts (templates/<id>/) with data as SES does, in strict mode:
 * a placeholder the data does not provide throws instead of rendering empty.
 */
export function renderEmail<T extends TemplateId>(id: T, data: TemplateData[T] = EMAIL_SAMPLES[id]): RenderedEmail {
  const files = loadEmailTemplates('tpn').find((t) => t.id === id);
  if (!files) throw new Error(`no template files for ${id}`);
  const context = data as unknown as Record<string, unknown>; // TemplateData[T] is a plain JSON object, as SES receives it.
  const render = (source: string) => compileTemplate(source, { strict: true })(context);
  return { subject: render(files.subject), html: render(files.html), text: render(files.text) };
}
