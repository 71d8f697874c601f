/**
 * Retention (DESIGN.md "Data": "Retention is configurable"). Pure: no AWS imports.
 *
 * - A leaver's profile: DynamoDB's TTL (`expiresAt`, epoch seconds, on the data table)
 *   removes it `leaversMonths` after their leaving date. Their safeguarding cases are not
 *   touched by this (they carry no `expiresAt`), and a re-hire (`Staff Onboarded`) writes a
 *   profile without one.
 * - The email ledger has no TTL by design: its business keys must never be reused (a
 *   deleted key would let a redelivered event send again). `ledgerYears` is the period the
 *   trust keeps it for; removing older rows is an operator's decision, not automatic.
 */
import type { TrustConfig } from '../config/trust-config.ts';
import { addMonths } from './dates.ts';

export interface Retention {
  /** How long a leaver's profile is kept after their leaving date. */
  leaversMonths: number;
  /** How long the email ledger is kept (not enforced: the ledger has no TTL). */
  ledgerYears: number;
}

export const DEFAULT_RETENTION: Retention = { leaversMonths: 24, ledgerYears: 6 };

/** The configured retention, with the defaults for anything not configured. */
export function retentionOf(config: Pick<TrustConfig, 'retention'>): Retention {
  return { ...DEFAULT_RETENTION, ...config.retention };
}

/** When DynamoDB may remove a leaver's profile: `leftOn` + `leaversMonths`, 00:00 UTC, in epoch seconds. */
export function leaverExpiresAt(leftOn: string, retention: Pick<Retention, 'leaversMonths'>): number {
  return Math.floor(Date.parse(`${addMonths(leftOn, retention.leaversMonths)}T00:00:00Z`) / 1000);
}
