/**
 * Acknowledging a policy from a signed link (DESIGN.md "Acknowledgement links"; §1f, §4a.ii:
 * staff are made aware of the policy, and the Trust can show who has read it).
 *
 * Given what the token says and what is stored, decide what the page shows, with which
 * HTTP status, and whether the acknowledgement may be recorded. Only a POST records; a GET
 * (which mail scanners prefetch) only shows. Pure: no AWS imports.
 */
import type { TokenClaims, TokenFailure } from './ack-token.ts';
import type { AckRequest } from './onboarding.ts';

export type AckOutcome =
  /** GET on a good link: show the policy and the confirm button. */
  | { kind: 'confirm'; status: 200 }
  /** POST on a good link: record it (conditionally) and emit `Policy Acknowledged`. */
  | { kind: 'record'; status: 200 }
  | { kind: 'already-acknowledged'; status: 409; acknowledgedAt: string; sameToken: boolean }
  | { kind: 'expired'; status: 410 }
  | { kind: 'superseded'; status: 410; currentVersion: number }
  | { kind: 'cancelled'; status: 410 }
  | { kind: 'invalid'; status: 400 }
  | { kind: 'unknown'; status: 404 };

export interface AckState {
  /** The request the token names, or null if there is none. */
  request: AckRequest | null;
  /** The policy's current version, or null if the policy is unknown. */
  currentVersion: number | null;
}

export function tokenFailureOutcome(reason: TokenFailure): AckOutcome {
  return reason === 'expired' ? { kind: 'expired', status: 410 } : { kind: 'invalid', status: 400 };
}

export function decideAck(method: 'GET' | 'POST', claims: TokenClaims, state: AckState): AckOutcome {
  const { request, currentVersion } = state;
  if (!request || currentVersion === null) return { kind: 'unknown', status: 404 };
  if (request.status === 'acknowledged') {
    return {
      kind: 'already-acknowledged',
      status: 409,
      acknowledgedAt: request.acknowledgedAt ?? '',
      sameToken: request.ackTokenId === claims.tokenId,
    };
  }
  // A link used in an earlier refresher cycle (functions/domain/refreshers.ts) stays used:
  // it shows that acknowledgement and never records the new cycle.
  const used = request.acknowledgements?.find((past) => past.ackTokenId === claims.tokenId);
  if (used) return { kind: 'already-acknowledged', status: 409, acknowledgedAt: used.acknowledgedAt, sameToken: false };
  // A newer version replaces this one: the link is for a superseded version.
  if (request.status === 'superseded' || claims.version < currentVersion) {
    return { kind: 'superseded', status: 410, currentVersion };
  }
  if (request.status === 'cancelled') return { kind: 'cancelled', status: 410 };
  return method === 'GET' ? { kind: 'confirm', status: 200 } : { kind: 'record', status: 200 };
}
