/**
 * `POST /reports` (API Gateway HTTP API with IAM authorization in AWS; the local web server,
 * loopback only, in `npm start`; `trust-notify report-breach` posts to it): the breach and
 * concern intake (DESIGN.md "Breach and concern intake and routing").
 *
 * parse the report (strict; errors name fields, never values) → open the case: narrative,
 * case and first timeline entry in one transaction → publish `Breach Reported` WITHOUT the
 * narrative → 201 `{ caseId }`.
 *
 * A report carrying an `eventId` is taken once: sent again, it answers with the case it
 * opened. If publishing fails after the case is stored, the caller still gets its case id
 * (201, `announced: false`): the hourly triage job announces any case left unrouted.
 * Nothing from the report is logged but the case id and counts.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { CaseRepository } from '../adapters/case-repository.ts';
import { EventPublisher, eventBridgeClient } from '../adapters/event-publisher.ts';
import { awsClients, logger, requireEnv, runtimeConfig } from '../adapters/runtime.ts';
import { isSchoolOfTrust } from '../config/trust-config.ts';
import { parseBreachReport, REPORT_NAME } from '../contracts/breach-report.ts';
import { ContractError } from '../contracts/events.ts';
import { openCase } from '../domain/cases.ts';
import { jsonApiHandler } from './pipeline.ts';

const config = runtimeConfig();
const { dynamo } = awsClients();
const cases = new CaseRepository(dynamo, requireEnv('DATA_TABLE_NAME'), requireEnv('NARRATIVE_TABLE_NAME'));
const events = new EventPublisher(eventBridgeClient(), requireEnv('EVENT_BUS_NAME'));

/** The largest body taken: 20,000 characters of narrative, JSON-escaped at worst, and the other fields (413 above it, jsonApiHandler). */
const MAX_BODY_BYTES = 256 * 1024;

const respond = (statusCode: number, body: unknown) => ({
  statusCode,
  headers: { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' },
  body: JSON.stringify(body),
});

function bodyOf(event: APIGatewayProxyEventV2): unknown {
  const raw = event.body ?? '';
  const text = event.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw;
  try {
    return JSON.parse(text);
  } catch {
    throw new ContractError(REPORT_NAME, [{ field: 'report', problem: 'must be a JSON object' }]);
  }
}

export const handler = jsonApiHandler(async (event) => {
  const report = parseBreachReport(bodyOf(event));
  if (!isSchoolOfTrust(config, report.schoolId)) {
    throw new ContractError(REPORT_NAME, [{ field: 'report.schoolId', problem: 'is not a school of the trust' }]);
  }
  const now = new Date();
  for (let attempt = 0; attempt < 3; attempt++) {
    const caseId = await cases.allocateCaseId(now);
    const record = openCase(report, caseId, now, config.escalation.triageHours);
    const opened = await cases.open(record, report.narrative, report.eventId);
    if (opened.outcome === 'id-taken') {
      logger.warn('Case id already taken: allocating another', { caseId });
      continue;
    }
    if (opened.outcome === 'duplicate') {
      logger.info('Report already taken: answering with its case', { caseId: opened.caseId });
      return respond(200, { caseId: opened.caseId, duplicate: true });
    }
    let announced = true;
    try {
      await events.publish('Breach Reported', {
        eventId: `breach-reported-${caseId}`,
        caseId,
        schoolId: record.schoolId,
        category: record.category,
        ...(record.reportedByStaffId ? { reportedByStaffId: record.reportedByStaffId } : {}),
        subject: record.subject,
        occurredOn: record.occurredOn,
        occurredAt: record.reportedAt,
      });
    } catch (error) {
      announced = false;
      logger.error('Case opened but Breach Reported not published: the triage job will announce it', {
        caseId,
        errorName: (error as Error).name,
      });
    }
    logger.info('Case opened', { caseId, announced, narrativeLength: report.narrative.length });
    return respond(201, { caseId, ...(announced ? {} : { announced: false }) });
  }
  throw new Error('no free case id after 3 attempts');
}, { maxBytes: MAX_BODY_BYTES });
