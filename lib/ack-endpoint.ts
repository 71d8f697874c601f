/**
 * The acknowledgement endpoint (DESIGN.md "Acknowledgement links"): an API Gateway HTTP
 * API with exactly two routes, both served by the acknowledgement function:
 *
 *   GET  /ack/{token}   the policy and a confirm button; changes nothing (mail scanners prefetch links)
 *   POST /ack/{token}   records the acknowledgement once and emits `Policy Acknowledged`
 *
 * Anything else gets API Gateway's own 404 without invoking the function.
 *
 * The endpoint is public by design: the signed, expiring, single-use token in the URL is
 * the credential, and staff open it from their email with no account to sign in with.
 *
 * Before deploying, set the trust configuration's `publicBaseUrl` (config/trust.json) to
 * this API's URL (the `AckApiUrl` output, without its trailing "/") or to a custom domain
 * mapped to it: the links in emails are built from `publicBaseUrl`, not from this stack.
 */
import { Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { LOG_RETENTION } from './trust-function.ts';

/** The one path, with the token as its only path parameter (`event.pathParameters.token`). */
export const ACK_PATH = '/ack/{token}';

/**
 * Throttling for every route of the stage (API Gateway's token bucket), requests per second.
 *
 * - Rate 20/s: people click one link and then one button, at human speed. Even if all
 *   10,000 people of the largest trust acknowledged within the same hour, that is 20,000
 *   requests, under 6 per second. Mail scanners that prefetch (GET) every link as the
 *   mail arrives follow the SES send rate (14 emails/s in config/trust.json), also under 20.
 * - Burst 40: a staff meeting where a head teacher says "do it now": a few dozen people
 *   within the same second or two.
 * Beyond that the caller gets 429 and nothing changes (the token stays usable), while a
 * flood of guessed or replayed tokens cannot run up Lambda, DynamoDB and Secrets Manager
 * costs or take the account's Lambda concurrency from the email pipeline.
 */
export const ACK_THROTTLE: apigwv2.ThrottleSettings = { rateLimit: 20, burstLimit: 40 };

/**
 * One JSON object per request (DESIGN.md: logs are structured JSON without personal data).
 * The route key (`GET /ack/{token}`) is logged, never the path: the path is the token, a
 * credential naming a person. Neither the source IP nor the user agent is logged either:
 * both are personal data, and throttling, not the logs, is what stops a flood.
 */
export const ACK_ACCESS_LOG_FORMAT = {
  requestId: '$context.requestId',
  requestTime: '$context.requestTime',
  httpMethod: '$context.httpMethod',
  routeKey: '$context.routeKey',
  status: '$context.status',
  protocol: '$context.protocol',
  responseLength: '$context.responseLength',
  responseLatency: '$context.responseLatency',
  integrationStatus: '$context.integration.status',
  integrationLatency: '$context.integration.latency',
  integrationError: '$context.integration.error',
  errorMessage: '$context.error.message',
  errorResponseType: '$context.error.responseType',
} as const;

export interface AckEndpointProps {
  /** The function that serves both routes (functions/handlers/ack-http.ts). */
  handler: lambda.IFunction;
}

export class AckEndpoint extends Construct {
  readonly api: apigwv2.HttpApi;
  /** The `$default` stage: the API's URL has no stage segment. */
  readonly stage: apigwv2.HttpStage;
  readonly accessLogs: logs.LogGroup;
  readonly routes: apigwv2.HttpRoute[];

  constructor(scope: Construct, id: string, props: AckEndpointProps) {
    super(scope, id);

    this.api = new apigwv2.HttpApi(this, 'Api', {
      apiName: 'trust-policy-notify-ack',
      description: 'Acknowledgement links: GET shows the policy, POST records the acknowledgement',
      // The stage is made below, with access logs and throttling, which the API's
      // automatic default stage cannot have.
      createDefaultStage: false,
    });

    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', { retention: LOG_RETENTION });
    this.stage = this.api.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: ACK_THROTTLE,
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(this.accessLogs),
        format: AccessLogFormat.custom(JSON.stringify(ACK_ACCESS_LOG_FORMAT)),
      },
    });

    // One integration (payload format 2.0) for both routes; each route gets its own
    // permission to invoke the function.
    this.routes = this.api.addRoutes({
      path: ACK_PATH,
      methods: [apigwv2.HttpMethod.GET, apigwv2.HttpMethod.POST],
      integration: new HttpLambdaIntegration('AckIntegration', props.handler),
    });
    for (const route of this.routes) {
      Validations.of(route).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason:
          'Public by design: the signed, expiring, single-use token in the URL is the credential (HMAC over person, policy, version, purpose and expiry, checked by the function before anything is read or written). Staff open the link from their email and have no account to sign in with; a tampered, expired or replayed token changes nothing.',
      });
    }
  }

  /** The API's URL, ending in "/": `https://<api-id>.execute-api.<region>.amazonaws.com/`. */
  get url(): string {
    return this.stage.url;
  }
}
