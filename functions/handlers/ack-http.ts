/**
 * `GET|POST /ack/{token}` (API Gateway HTTP API; the local web server in `npm start`).
 * GET shows the policy and a confirm button and changes nothing (mail scanners prefetch
 * links); only POST records the acknowledgement, once, and emits `Policy Acknowledged`,
 * whose handler alone sends the receipt (DESIGN.md "Acknowledgement links").
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { ackKeyRing } from '../adapters/ack-keys.ts';
import { EventPublisher, eventBridgeClient } from '../adapters/event-publisher.ts';
import { PolicyRepository } from '../adapters/policy-repository.ts';
import { RequestRepository } from '../adapters/request-repository.ts';
import { awsClients, logger, requireEnv, runtimeConfig } from '../adapters/runtime.ts';
import { TokenError, verifyToken } from '../domain/ack-token.ts';
import { type AckOutcome, decideAck, tokenFailureOutcome } from '../domain/acknowledgement.ts';
import { formatLondonDateTime } from '../domain/dates.ts';
import { effectiveAckVersion } from '../domain/policy-update.ts';
import { ackPage, type AckPageFacts } from '../http/ack-pages.ts';
import { htmlResponse } from '../http/pages.ts';
import { httpHandler } from './pipeline.ts';

const config = runtimeConfig();
const { dynamo, secrets } = awsClients();
const dataTable = requireEnv('DATA_TABLE_NAME');
const requests = new RequestRepository(dynamo, dataTable);
const policies = new PolicyRepository(dynamo, dataTable);
const events = new EventPublisher(eventBridgeClient(), requireEnv('EVENT_BUS_NAME'));

function respond(outcome: AckOutcome, facts: AckPageFacts): APIGatewayProxyStructuredResultV2 {
  const { status, html } = ackPage(outcome, facts);
  return htmlResponse(status, html);
}

export const handler = httpHandler(async (event: APIGatewayProxyEventV2) => {
  const method = event.requestContext.http.method === 'POST' ? 'POST' : 'GET';
  const token = event.pathParameters?.token ?? '';
  const facts: AckPageFacts = { trustName: config.trust.name, actionPath: event.rawPath };
  const now = new Date();
  let claims: ReturnType<typeof verifyToken>;
  try {
    claims = verifyToken(token, await ackKeyRing(secrets), 'ack', now);
  } catch (error) {
    if (!(error instanceof TokenError)) throw error;
    logger.info('Acknowledgement link refused', { reason: error.reason, method });
    return respond(tokenFailureOutcome(error.reason), facts);
  }
  const [request, policy, versions] = await Promise.all([
    requests.get(claims.staffId, claims.policyId, claims.version),
    policies.getCurrent(claims.policyId),
    policies.listVersions(claims.policyId),
  ]);
  // The version whose acknowledgements count now: an editorial version carries them
  // forward, so a link for the last substantive version still works after one.
  const askedVersion = policy ? effectiveAckVersion(versions, policy.version) : null;
  if (policy) {
    facts.policyTitle = policy.title;
    facts.version = claims.version;
    if (policy.version === claims.version) facts.documentUrl = policy.documentUrl;
  }
  let outcome = decideAck(method, claims, { request, currentVersion: askedVersion });
  // The refresher cycle acknowledged (§6a; functions/domain/refreshers.ts): each cycle has its own receipt.
  let refreshCycle = request?.refreshCycle ?? 0;

  if (outcome.kind === 'record') {
    const result = await requests.acknowledge(claims.staffId, claims.policyId, claims.version, claims.tokenId, now);
    refreshCycle = result.request?.refreshCycle ?? refreshCycle;
    if (!result.recorded) {
      // Someone (another tab, a double click) got there first: say what is stored now.
      outcome = decideAck(method, claims, { request: result.request, currentVersion: askedVersion });
    }
  }
  const stored = outcome.kind === 'record' ? now.toISOString() : outcome.kind === 'already-acknowledged' ? outcome.acknowledgedAt : '';
  if (stored) facts.acknowledgedOn = formatLondonDateTime(stored);

  // Emit on the recording POST, and again on a replay of the very same link: if the first
  // emit was lost, the replay repairs it; the receipt's ledger key keeps it to one email.
  if (method === 'POST' && (outcome.kind === 'record' || (outcome.kind === 'already-acknowledged' && outcome.sameToken))) {
    await events.publish('Policy Acknowledged', {
      eventId: `ack-${claims.policyId}-${claims.version}-${claims.staffId}${refreshCycle > 0 ? `-r${refreshCycle}` : ''}`,
      policyId: claims.policyId,
      version: claims.version,
      staffId: claims.staffId,
      acknowledgedAt: stored,
      ...(refreshCycle > 0 ? { refreshCycle } : {}),
    });
  }
  logger.info('Acknowledgement page', { method, outcome: outcome.kind });
  return respond(outcome, facts);
});
