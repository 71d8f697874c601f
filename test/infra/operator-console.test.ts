/**
 * The operator console in the CDK stack (lib/operator-console.ts, issue #7): GET / and
 * GET /{proxy+} on the acknowledgement API to the console function (the ack routes stay
 * more specific), the Cognito user pool (admin-created users, email sign-in, MFA required
 * with TOTP, a strong password policy, Plus with threat protection, retained), its hosted UI
 * domain and public PKCE code-flow client, and the console function's least-privilege role
 * and environment; cdk-nag's findings on it answered. Synthesized without bundling
 * (stack.test.ts checks the bundle); expected values are written out literally.
 */
import { Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTrustConfig } from '../../functions/config/load-trust-config.ts';
import { parseTrustConfig } from '../../functions/config/trust-config.ts';
import { consoleAuthSettings } from '../../functions/http/console-auth.ts';
import { DeadLetterQueue } from '../../lib/secure-queue.ts';
import { createTrustApp } from '../../lib/trust-policy-notify-app.ts';
import {
  allow,
  arnOf,
  asList,
  describeRef,
  envOf,
  invokeConfigsFor,
  invokePermissionsFor,
  logicalIdOf,
  nameOf,
  ofType,
  permissionsOf,
  props,
  resourceAt,
  synthesis,
  synthesizeForAssertions,
} from '../support/cdk-assertions.ts';

type Json = Record<string, unknown>;

beforeAll(synthesizeForAssertions);

const FN = 'OperatorConsole/ConsoleFunction';

function merge(...grants: Record<string, string[]>[]): Record<string, string[]> {
  const merged: Record<string, string[]> = {};
  for (const grant of grants) for (const [action, names] of Object.entries(grant)) merged[action] = [...(merged[action] ?? []), ...names].sort();
  return merged;
}

/** Every DeadLetterQueue construct of the stack, as paths below the stack. */
function dlqPaths(): string[] {
  const { stack } = synthesis();
  return stack.node
    .findAll()
    .filter((c) => c instanceof DeadLetterQueue)
    .map((c) => c.node.path.slice(stack.node.path.length + 1))
    .sort();
}

/** `{"Fn::Join": ["", ["integrations/", {"Ref": <id>}]]}` → `<id>`. */
const integrationOf = (route: Json) => ((props(route).Target as { 'Fn::Join': [string, [string, { Ref: string }]] })['Fn::Join'][1][1]).Ref;

/** Route key → the function (construct path) its integration invokes, for one API. */
function servedBy(apiPath: string): Record<string, string> {
  const apiId = logicalIdOf(apiPath);
  return Object.fromEntries(
    ofType('AWS::ApiGatewayV2::Route')
      .filter(([, r]) => (props(r).ApiId as Json).Ref === apiId)
      .map(([, r]) => {
        const integration = props(resourceAt(nameOf.get(integrationOf(r)) ?? ''));
        expect(integration).toMatchObject({ IntegrationType: 'AWS_PROXY', PayloadFormatVersion: '2.0' });
        return [String(props(r).RouteKey), describeRef(integration.IntegrationUri)];
      }),
  );
}

/**
 * The route API Gateway selects for a request (HTTP APIs, "Routing API requests"): of the
 * routes whose method and path match, the most specific: no greedy `{proxy+}` before one
 * with it, then fewer path variables.
 */
function selectRoute(routeKeys: string[], method: string, path: string): string | null {
  const candidates = routeKeys
    .map((key) => {
      const [m = '', p = ''] = key.split(' ');
      const segments = p.split('/');
      const pattern = new RegExp(`^${segments.map((s) => (/^\{\w+\+\}$/.test(s) ? '.+' : /^\{\w+\}$/.test(s) ? '[^/]+' : s)).join('/')}$`);
      return { key, m, pattern, greedy: p.includes('+}') ? 1 : 0, variables: (p.match(/\{/g) ?? []).length };
    })
    .filter((r) => (r.m === method || r.m === 'ANY') && r.pattern.test(path))
    .sort((a, b) => a.greedy - b.greedy || a.variables - b.variables);
  return candidates[0]?.key ?? null;
}

describe('routes on the acknowledgement API', () => {
  it('GET / and GET /{proxy+} go to the console function; the ack routes still go to the ack function', () => {
    expect(servedBy('AckEndpoint/Api')).toEqual({
      'GET /ack/{token}': 'AckFunction',
      'POST /ack/{token}': 'AckFunction',
      'GET /': FN,
      'GET /{proxy+}': FN,
    });
  });

  it('the console routes have no API Gateway authorizer (the function checks the Cognito session) and share one integration', () => {
    const routes = ['OperatorConsole/RootRoute', 'OperatorConsole/ProxyRoute'].map((path) => props(resourceAt(path)));
    for (const route of routes) {
      expect(route.ApiId).toEqual({ Ref: logicalIdOf('AckEndpoint/Api') });
      expect(route.AuthorizationType).toBe('NONE');
      expect(route.AuthorizerId).toBeUndefined();
    }
    expect(new Set(routes.map((r) => JSON.stringify(r.Target))).size).toBe(1);
  });

  it.each([
    ['GET', '/ack/v1.abc.def', 'GET /ack/{token}'],
    ['POST', '/ack/v1.abc.def', 'POST /ack/{token}'],
    ['GET', '/', 'GET /'],
    ['GET', '/cases/CASE-2026-000001', 'GET /{proxy+}'],
    ['GET', '/compliance/use-of-social-media/v1/st-marys', 'GET /{proxy+}'],
    ['GET', '/auth/callback', 'GET /{proxy+}'],
    ['GET', '/ack', 'GET /{proxy+}'],
    ['POST', '/cases/CASE-2026-000001', null],
    ['POST', '/', null],
  ])('%s %s is served by %s (API Gateway picks the most specific route)', (method, path, expected) => {
    const keys = ofType('AWS::ApiGatewayV2::Route')
      .filter(([, r]) => (props(r).ApiId as Json).Ref === logicalIdOf('AckEndpoint/Api'))
      .map(([, r]) => String(props(r).RouteKey));
    expect(selectRoute(keys, method, path)).toBe(expected);
  });

  it('API Gateway may invoke the console function on / and /{proxy+} of that API only; it is synchronous (no async config, no DLQ)', () => {
    const permissions = invokePermissionsFor(arnOf(FN)).map(([, p]) => ({ ...props(p), FunctionName: 'console', SourceArn: describeRef(props(p).SourceArn) }));
    expect(permissions).toEqual([
      {
        Action: 'lambda:InvokeFunction',
        FunctionName: 'console',
        Principal: 'apigateway.amazonaws.com',
        SourceArn: `arn:aws:execute-api:eu-west-2:\${AWS::AccountId}:AckEndpoint/Api/*/*/`,
      },
      {
        Action: 'lambda:InvokeFunction',
        FunctionName: 'console',
        Principal: 'apigateway.amazonaws.com',
        SourceArn: `arn:aws:execute-api:eu-west-2:\${AWS::AccountId}:AckEndpoint/Api/*/*/{proxy+}`,
      },
    ]);
    expect(invokeConfigsFor(logicalIdOf(FN))).toHaveLength(0);
    expect([...nameOf.values()]).not.toContain(`${FN}/FailureDlq`);
    expect(props(resourceAt(FN))).toMatchObject({ Runtime: 'nodejs24.x', Architectures: ['arm64'], Timeout: 10, MemorySize: 512, TracingConfig: { Mode: 'Active' } });
  });
});

describe('the Cognito user pool', () => {
  it('admin-created users only, email sign-in (case-insensitive), MFA required with an authenticator app (TOTP), no SMS', () => {
    expect(props(resourceAt('OperatorConsole/UserPool'))).toMatchObject({
      UserPoolName: 'trust-policy-notify-console',
      AdminCreateUserConfig: { AllowAdminCreateUserOnly: true },
      UsernameAttributes: ['email'],
      UsernameConfiguration: { CaseSensitive: false },
      AutoVerifiedAttributes: ['email'],
      MfaConfiguration: 'ON',
      EnabledMfas: ['SOFTWARE_TOKEN_MFA'],
      AccountRecoverySetting: { RecoveryMechanisms: [{ Name: 'verified_email', Priority: 1 }] },
    });
    expect(props(resourceAt('OperatorConsole/UserPool')).SmsConfiguration).toBeUndefined();
  });

  it('a strong password policy: 12+ characters of all four kinds, no reuse of the last 5, temporary passwords for 3 days', () => {
    expect((props(resourceAt('OperatorConsole/UserPool')).Policies as Json).PasswordPolicy).toEqual({
      MinimumLength: 12,
      RequireLowercase: true,
      RequireUppercase: true,
      RequireNumbers: true,
      RequireSymbols: true,
      PasswordHistorySize: 5,
      TemporaryPasswordValidityDays: 3,
    });
  });

  it('Plus feature plan with threat protection enforced; deletion-protected and retained with the stack', () => {
    const pool = resourceAt('OperatorConsole/UserPool');
    expect(props(pool)).toMatchObject({ UserPoolTier: 'PLUS', UserPoolAddOns: { AdvancedSecurityMode: 'ENFORCED' }, DeletionProtection: 'ACTIVE' });
    expect(pool.DeletionPolicy).toBe('Retain');
    expect(pool.UpdateReplacePolicy).toBe('Retain');
  });

  it('the invitation email names the trust and the console; its placeholders are the ones Cognito fills in', () => {
    const { InviteMessageTemplate } = props(resourceAt('OperatorConsole/UserPool')).AdminCreateUserConfig as { InviteMessageTemplate: { EmailSubject: string; EmailMessage: unknown } };
    expect(InviteMessageTemplate.EmailSubject).toBe('All Saints Multi Academy Trust: your operator console account');
    expect(JSON.stringify(InviteMessageTemplate.EmailMessage)).toMatch(/\{username\}.*\{####\}/);
  });

  it('the hosted UI domain defaults to a prefix made unique by the stack id: tpn-console-<stack uuid>', () => {
    expect(props(resourceAt('OperatorConsole/UserPool/Domain'))).toEqual({
      Domain: { 'Fn::Join': ['-', ['tpn-console', { 'Fn::Select': [2, { 'Fn::Split': ['/', { Ref: 'AWS::StackId' }] }] }]] },
      UserPoolId: { Ref: logicalIdOf('OperatorConsole/UserPool') },
    });
  });

  it('the app client: public (no secret), authorization code grant only, openid + email, one-hour tokens, COGNITO sign-in', () => {
    expect(props(resourceAt('OperatorConsole/UserPool/Client'))).toMatchObject({
      ClientName: 'operator-console',
      UserPoolId: { Ref: logicalIdOf('OperatorConsole/UserPool') },
      GenerateSecret: false,
      AllowedOAuthFlowsUserPoolClient: true,
      AllowedOAuthFlows: ['code'],
      AllowedOAuthScopes: ['openid', 'email'],
      SupportedIdentityProviders: ['COGNITO'],
      PreventUserExistenceErrors: 'ENABLED',
      EnableTokenRevocation: true,
      IdTokenValidity: 60,
      AccessTokenValidity: 60,
      TokenValidityUnits: { IdToken: 'minutes', AccessToken: 'minutes', RefreshToken: 'minutes' },
    });
  });

  it('with the local default publicBaseUrl (http), sign-in returns to the API’s own https URL (Cognito refuses http callbacks)', () => {
    const client = props(resourceAt('OperatorConsole/UserPool/Client'));
    expect(asList(client.CallbackURLs).map(describeRef)).toEqual(['AckEndpoint/Api.ApiEndpoint/auth/callback']);
    expect(asList(client.LogoutURLs).map(describeRef)).toEqual(['AckEndpoint/Api.ApiEndpoint/']);
    expect(envOf(FN).CONSOLE_CALLBACK_URL).toBe('AckEndpoint/Api.ApiEndpoint/auth/callback');
    expect(describeRef(synthesis().outputs.ConsoleUrl?.Value)).toBe('AckEndpoint/Api.ApiEndpoint/');
  });

  it('with an https publicBaseUrl and a configured prefix: callback <publicBaseUrl>/auth/callback, sign-out <publicBaseUrl>/, that domain', () => {
    // Prepare: the trust's own configuration, as it would be for production.
    const config = { ...loadTrustConfig(), publicBaseUrl: 'https://notify.allsaints-mat.example.org', console: { authDomainPrefix: 'all-saints-console' } };

    // Act
    const { stack } = createTrustApp({ config, context: { 'aws:cdk:bundling-stacks': [] } });
    const template = Template.fromStack(stack);

    // Assess
    template.hasResourceProperties('AWS::Cognito::UserPoolClient', {
      CallbackURLs: ['https://notify.allsaints-mat.example.org/auth/callback'],
      LogoutURLs: ['https://notify.allsaints-mat.example.org/'],
    });
    template.hasResourceProperties('AWS::Cognito::UserPoolDomain', { Domain: 'all-saints-console' });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: { CONSOLE_CALLBACK_URL: 'https://notify.allsaints-mat.example.org/auth/callback' } },
    });
    template.hasOutput('ConsoleUrl', { Value: 'https://notify.allsaints-mat.example.org/' });
  });

  it('the configuration refuses a domain prefix Cognito would refuse, naming the field', () => {
    const config = loadTrustConfig();
    for (const authDomainPrefix of ['Not Valid', 'my-aws-console', 'cognito', '-leading-hyphen']) {
      expect(() => parseTrustConfig({ ...config, console: { authDomainPrefix } }, 'config/trust.json'), authDomainPrefix).toThrow(
        /config\.console\.authDomainPrefix/,
      );
    }
    expect(parseTrustConfig({ ...config, console: { authDomainPrefix: 'all-saints-console' } }).console).toEqual({ authDomainPrefix: 'all-saints-console' });
  });
});

describe('the console function', () => {
  it('its logs, X-Ray, the data table read (and the timeline entry of a narrative read written), the ledger scanned, the narratives read, GetQueueAttributes on exactly the DLQs', () => {
    expect(permissionsOf(FN)).toEqual(
      merge(
        allow(['logs:CreateLogStream', 'logs:PutLogEvents'], [`${FN}LogGroup`]),
        allow(['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], ['*']),
        // People, policies, requests and cases; the timeline entry of a narrative read or refusal
        // (the case's Update and the entry's Put, one transaction).
        allow(['dynamodb:BatchGetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], ['Tables/DataTable']),
        allow(['dynamodb:GetItem'], ['Tables/DataTable', 'CaseIntake/NarrativeTable']),
        allow(['dynamodb:Query'], ['Tables/DataTable', 'Tables/DataTable/index/gsi1', 'Tables/DataTable/index/gsi2', 'CaseIntake/NarrativeTable']),
        // The ledger page reads the whole ledger (it has no index to list by).
        allow(['dynamodb:Scan'], ['Tables/LedgerTable']),
        // Through DynamoDB only, for the tables above (test/infra/least-privilege.test.ts).
        allow(['kms:Decrypt'], ['Tables/DataKey', 'CaseIntake/NarrativeKey']),
        allow(['sqs:GetQueueAttributes'], dlqPaths()),
      ),
    );
  });

  it('nothing else: no SES, no EventBridge, no queue sends or receives, no writes to the ledger or the narratives, no deletes', () => {
    const allowed = permissionsOf(FN);
    for (const action of Object.keys(allowed)) expect(action).not.toMatch(/^(ses|events|secretsmanager|sns):/);
    expect(Object.keys(allowed).filter((a) => a.startsWith('sqs:'))).toEqual(['sqs:GetQueueAttributes']);
    for (const action of ['dynamodb:PutItem', 'dynamodb:UpdateItem']) expect(allowed[action]).toEqual(['Tables/DataTable']);
    for (const action of ['dynamodb:DeleteItem', 'dynamodb:BatchWriteItem', 'kms:Encrypt', 'kms:GenerateDataKey*']) expect(allowed[action]).toBeUndefined();
  });

  it('its environment: the three tables, cognito sign-in settings, and every DLQ by the name `trust-notify redrive --queue` takes', () => {
    const env = envOf(FN);
    expect(env).toMatchObject({
      DATA_TABLE_NAME: 'Tables/DataTable',
      LEDGER_TABLE_NAME: 'Tables/LedgerTable',
      NARRATIVE_TABLE_NAME: 'CaseIntake/NarrativeTable',
      CONSOLE_AUTH: 'cognito',
      CONSOLE_USER_POOL_ID: 'OperatorConsole/UserPool',
      CONSOLE_CLIENT_ID: 'OperatorConsole/UserPool/Client',
      CONSOLE_AUTH_DOMAIN_URL: 'https://OperatorConsole/UserPool/Domain.auth.eu-west-2.amazoncognito.com',
    });
    expect(Object.keys(env).sort()).toEqual(
      [
        'NODE_OPTIONS',
        'POWERTOOLS_SERVICE_NAME',
        'POWERTOOLS_LOG_LEVEL',
        'DATA_TABLE_NAME',
        'LEDGER_TABLE_NAME',
        'NARRATIVE_TABLE_NAME',
        'CONSOLE_AUTH',
        'CONSOLE_USER_POOL_ID',
        'CONSOLE_CLIENT_ID',
        'CONSOLE_AUTH_DOMAIN_URL',
        'CONSOLE_CALLBACK_URL',
        'DLQ_URLS',
      ].sort(),
    );
    // DLQ_URLS: name → queue URL (a Ref of the queue), one entry per DLQ.
    const dlqUrls = JSON.parse(env.DLQ_URLS ?? '{}') as Record<string, string>;
    expect(Object.fromEntries(Object.entries(dlqUrls).sort())).toEqual(Object.fromEntries(dlqPaths().map((p) => [p.replaceAll('/', ''), p]).sort()));
    expect(dlqUrls).toMatchObject({ EmailDlq: 'Email/Dlq', EventsDeliveryDlq: 'Events/DeliveryDlq', PolicyFanoutDlq: 'PolicyFanout/Dlq' });
  });

  it('the sign-in settings in its environment are what console-auth expects, once deployed (ids and domain as CloudFormation gives them)', () => {
    // The references resolve at deployment; stand-ins of the deployed shape for them:
    const deployed = {
      ...envOf(FN),
      CONSOLE_USER_POOL_ID: 'eu-west-2_AbCdEf123',
      CONSOLE_CLIENT_ID: '4k2consoleclient0000000000',
      CONSOLE_AUTH_DOMAIN_URL: 'https://tpn-console-51af3dc0-da77-11e4-872e-1234567db123.auth.eu-west-2.amazoncognito.com',
      CONSOLE_CALLBACK_URL: 'https://abcdef1234.execute-api.eu-west-2.amazonaws.com/auth/callback',
    };
    expect(consoleAuthSettings(deployed)).toMatchObject({ mode: 'cognito', callbackUrl: deployed.CONSOLE_CALLBACK_URL });
  });

  it('the environment stays well inside Lambda’s 4 KB, with every DLQ URL at its longest (CloudFormation names queues up to 80 characters)', () => {
    const variables = props(resourceAt(FN)).Environment as { Variables: Json };
    const longest = (value: unknown): string => {
      if (typeof value === 'string') return value;
      const v = value as Json;
      if (typeof v.Ref === 'string') {
        const type = resourceAt(nameOf.get(v.Ref) ?? '').Type;
        // https://sqs.<region>.amazonaws.com/<account>/<name of 80 characters>
        return type === 'AWS::SQS::Queue' ? `https://sqs.eu-west-2.amazonaws.com/123456789012/${'q'.repeat(80)}` : 'n'.repeat(80);
      }
      const join = v['Fn::Join'] as [string, unknown[]] | undefined;
      if (join) return join[1].map(longest).join(join[0]);
      return 'x'.repeat(100); // Fn::GetAtt (the API endpoint)
    };
    const size = Object.entries(variables.Variables).reduce((n, [key, value]) => n + key.length + longest(value).length, 0);
    // Each further DLQ adds about 170 bytes: this fails before the function's deployment would.
    expect(size).toBeLessThan(4096 - 200);
  });
});

describe('cdk-nag', () => {
  it('finds nothing unacknowledged on the console, its user pool, client, domain or routes', () => {
    const { app } = synthesis();
    for (const checks of [new AwsSolutionsChecks(), new ServerlessChecks()]) {
      const findings = checks
        .validateScope(app)
        .violations.flatMap((v) => v.violatingResources.filter((r) => /\/OperatorConsole\//.test(r.constructPath ?? '')).map((r) => `${v.ruleName} at ${r.constructPath}`));
      expect(findings).toEqual([]);
    }
  });

  it('acknowledges APIG4 on each console route (the function checks the Cognito session), and what every TrustFunction has', () => {
    const { stack } = synthesis();
    const acks: { path: string; id: string; reason: string }[] = [];
    for (const construct of stack.node.findAll()) {
      const path = construct.node.path.slice(stack.node.path.length + 1);
      if (!path.startsWith('OperatorConsole/')) continue;
      for (const entry of construct.node.metadata) {
        if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
        for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) acks.push({ path, id: id.replace(/^annotation::/i, ''), reason });
      }
    }
    expect(acks.map((a) => `${a.path}: ${a.id}`).sort()).toEqual(
      [
        'OperatorConsole/RootRoute: AwsSolutions-APIG4',
        'OperatorConsole/ProxyRoute: AwsSolutions-APIG4',
        `${FN}Role/DefaultPolicy: AwsSolutions-IAM5[Resource::*]`,
        `${FN}/Resource: Serverless-LambdaDLQ`,
      ].sort(),
    );
    for (const ack of acks) expect(ack.reason.length, `${ack.path} ${ack.id}`).toBeGreaterThanOrEqual(80);
    for (const ack of acks.filter((a) => a.id === 'AwsSolutions-APIG4')) {
      expect(ack.reason).toMatch(/Cognito/);
      expect(ack.reason).toMatch(/cookie/);
    }
  });

  it('a DLQ constructed after the console would fail synthesis (it could not show it)', () => {
    const probe = createTrustApp({ context: { 'aws:cdk:bundling-stacks': [] } });
    new DeadLetterQueue(probe.stack, 'LateDlq', { holds: 'nothing: a probe for the operator console validation' });
    const errors = probe.stack.node.findAll().flatMap((c) => c.node.validate());
    expect(errors).toContain('the dead-letter queue LateDlq is not on the operator console: construct OperatorConsole after every DLQ');
  });
});

describe('outputs', () => {
  it('ConsoleUrl and ConsoleUserPoolId', () => {
    const { outputs } = synthesis();
    expect(describeRef(outputs.ConsoleUserPoolId?.Value)).toBe('OperatorConsole/UserPool');
    expect(outputs.ConsoleUrl).toBeDefined();
  });
});
