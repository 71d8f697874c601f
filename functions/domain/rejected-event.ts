/**
 * The notice a refused event sends the configured integration contact (issue 6 "Bad
 * input": "a rejected event also tells the configured integration contact which event (id,
 * type, fields) was refused, without personal values"). Pure: no AWS imports.
 *
 * Only the event id, the detail-type the handler expects and the field problems travel:
 * field paths and the rules broken (FieldProblem never holds a value). A field path can
 * name an unknown key the publisher sent, so every text is reduced to a safe alphabet and
 * a bounded length before it reaches a template (aws-ses-v2-local does not HTML-escape).
 */
import type { FieldProblem } from '../contracts/events.ts';
import { type IntendedEmail, ledgerKey } from './emails.ts';

/** At most this many problems are listed; the count says how many there were. */
export const MAX_LISTED_PROBLEMS = 20;

const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Keeps letters, digits and `. _ : -` (anything else becomes `?`), at most `max` characters. */
export function safeText(text: string, max: number, allowed = /[A-Za-z0-9._:-]/): string {
  const kept = [...text].map((ch) => (allowed.test(ch) ? ch : '?')).join('');
  return kept.length > max ? `${kept.slice(0, max)}…` : kept;
}

/** Rule texts are ours, but they pass through the same filter (spaces and simple punctuation kept). */
const RULE_CHARS = /[A-Za-z0-9 .,:;_()"'/=-]/;

export interface RejectedEvent {
  eventId: string;
  detailType: string;
  problems: readonly FieldProblem[];
}

/** The ledger key of the notice: the event id when it is a plain id, otherwise a fixed-alphabet form of it. */
export function rejectedEventKey(eventId: string): string {
  return ledgerKey.eventRejected(SAFE_ID.test(eventId) ? eventId : safeText(eventId, 128));
}

export type RejectedEventNotice = Extract<IntendedEmail, { templateId: 'event-rejected' }>;

export function rejectedEventNotice(event: RejectedEvent, to: string, trustName: string): RejectedEventNotice {
  const listed = event.problems.slice(0, MAX_LISTED_PROBLEMS).map((p) => ({
    field: safeText(p.field, 200),
    problem: safeText(p.problem, 300, RULE_CHARS),
  }));
  return {
    key: rejectedEventKey(event.eventId),
    templateId: 'event-rejected',
    to: { email: to },
    data: {
      trustName,
      eventId: safeText(event.eventId, 128),
      detailType: safeText(event.detailType, 64, /[A-Za-z0-9 ]/),
      problemCount: event.problems.length,
      problems: listed,
    },
  };
}
