/**
 * The operator console in AWS (issue #7): the console function (functions/handlers/console-http.ts)
 * on the acknowledgement endpoint's HTTP API, behind an Amazon Cognito user pool.
 *
 *   browser ──GET / , GET /{proxy+}──▶ HTTP API (AckEndpoint/Api) ──▶ ConsoleFunction
 *      │                                  GET|POST /ack/{token} stays more specific: still the ack function
 *      └─ no session ──302──▶ Cognito hosted UI (<prefix>.auth.<region>.amazoncognito.com)
 *            email + password + TOTP code ──▶ /auth/callback?code ──▶ the function exchanges the
 *            code (PKCE, public client) and keeps the id token in a __Host- cookie
 *
 * The console lives on the same API as the acknowledgement links so that the case links in
 * emails, `<publicBaseUrl>/cases/<caseId>`, open it in AWS as they do locally. The routes have
 * no API Gateway authorizer: a browser navigation sends cookies, never a bearer token, so
 * the function itself checks the session cookie on every request (functions/http/console-auth.ts:
 * signature, issuer, audience, expiry, token use), and the viewer is the token's email.
 *
 * The user pool: no self sign-up (an administrator creates each account, README "Operator
 * console in AWS"), sign-in with the email address, a strong password, MFA required with an
 * authenticator app (TOTP; no SMS), recovery by email only, deletion protection and retained
 * on stack deletion. Feature plan Plus, for threat protection (compromised-credential checks
 * and adaptive authentication, enforced): at US$0.02 per monthly active user, a safeguarding
 * team of 20 costs US$0.40 a month, cheap for who may read breach narratives.
 *
 * The app client: public (no secret), authorization code grant only (no implicit grant),
 * scopes openid and email, callback `<publicBaseUrl>/auth/callback`, sign-out URL
 * `<publicBaseUrl>/`, id tokens valid one hour (the console session), token revocation on.
 * (While publicBaseUrl is not https, e.g. the local default on a first deployment, the API's
 * own https URL stands in for it: Cognito refuses http callback URLs other than localhost.)
 *
 * What the function may do is what its code does (test/infra/least-privilege.test.ts): on the
 * data table, read people, policies, requests and cases (GetItem, BatchGetItem, Query on the
 * table, gsi1 and gsi2) and record each narrative read or refusal on the case's timeline (the
 * case's Update and the entry's Put, one transaction); on the ledger, the Scan of its ledger
 * page (functions/adapters/ledger-repository.ts `scanAll`: the ledger has no index to list
 * by); on the narratives, GetItem and Query (the narrative and its notes), with Decrypt of
 * the narrative key through DynamoDB, named in that key's policy. It may call
 * sqs:GetQueueAttributes on exactly the stack's dead-letter queues (DLQ_URLS). No SES, no
 * EventBridge, no queue sends, no deletes.
 *
 * The trust's own sign-in (Entra ID, Google Workspace) instead of Cognito-local users:
 * federate it into the same pool, and nothing in the function changes (it still verifies this
 * pool's id tokens and reads `email`):
 *
 *   const entra = new cognito.UserPoolIdentityProviderOidc(this, 'EntraId', {
 *     userPool: console.userPool,
 *     name: 'EntraID',
 *     clientId: '<application (client) id>',
 *     clientSecret: '<client secret>',            // better: SecretValue from Secrets Manager
 *     issuerUrl: 'https://login.microsoftonline.com/<tenant id>/v2.0',  // Google: https://accounts.google.com
 *     scopes: ['openid', 'email', 'profile'],
 *     attributeMapping: { email: cognito.ProviderAttribute.other('email') },
 *   });
 *   // Then on the app client: supportedIdentityProviders [UserPoolClientIdentityProvider.custom('EntraID')]
 *   // (optionally without COGNITO), and client.node.addDependency(entra).
 *
 * The trust's provider then enforces its own MFA and conditional access; restrict the
 * enterprise application to the safeguarding and operations groups.
 */
import { Duration, Fn, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { TrustConfig } from '../functions/config/trust-config.ts';
import { CALLBACK_PATH } from '../functions/http/console-auth.ts';
import { allowDecryptThroughDynamoDb } from './key-policy.ts';
import { deadLetterQueuesIn, pathBelow } from './operations-alarms.ts';
import { TrustFunction } from './trust-function.ts';

/** The console's session: the id token's lifetime (Cognito allows 5 minutes to 1 day). */
export const CONSOLE_SESSION = Duration.hours(1);

export interface OperatorConsoleProps {
  config: TrustConfig;
  /** People, policies, requests, cases and timelines: read, and written for the narrative-view entries. */
  dataTable: dynamodb.Table;
  /** The email ledger: scanned for the ledger page. */
  ledgerTable: dynamodb.Table;
  /** Breach narratives (lib/case-intake.ts), with their own key: read only. */
  narrativeTable: dynamodb.Table;
  /** Every dead-letter queue of the stack (`deadLetterQueuesIn(stack)`): their depths are shown. */
  deadLetterQueues: readonly sqs.Queue[];
  /** The acknowledgement endpoint's API: the console's routes are added to it. */
  api: apigwv2.HttpApi;
}

export class OperatorConsole extends Construct {
  readonly handler: TrustFunction;
  readonly userPool: cognito.UserPool;
  readonly client: cognito.UserPoolClient;
  readonly domain: cognito.UserPoolDomain;
  /** GET / and GET /{proxy+}. */
  readonly routes: apigwv2.HttpRoute[];
  /** `<publicBaseUrl>/` (or the API's own URL while publicBaseUrl is not https): where the console signs in. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: OperatorConsoleProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const { config } = props;
    // Sign-in returns to <publicBaseUrl>/auth/callback. Cognito accepts http callback URLs for
    // localhost only, so while publicBaseUrl is still the local default (the first deployment,
    // before it is set to the AckApiUrl output) the console signs in at the API's own URL.
    const base = config.publicBaseUrl.startsWith('https://') ? config.publicBaseUrl : props.api.apiEndpoint;
    const callbackUrl = `${base}${CALLBACK_PATH}`;
    this.url = `${base}/`;

    this.userPool = new cognito.UserPool(this, 'UserPool', {
      userPoolName: 'trust-policy-notify-console',
      selfSignUpEnabled: false,
      signInAliases: { email: true },
      signInCaseSensitive: false,
      autoVerify: { email: true },
      standardAttributes: { email: { required: true, mutable: true } },
      userInvitation: {
        emailSubject: `${config.trust.name}: your operator console account`,
        emailBody: `An account for the ${config.trust.name} operator console has been created for you. Sign in at ${this.url} with the username {username} and the temporary password {####}; you will choose a new password and set up an authenticator app.`,
      },
      mfa: cognito.Mfa.REQUIRED,
      mfaSecondFactor: { otp: true, sms: false },
      passwordPolicy: {
        minLength: 12,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        passwordHistorySize: 5,
        tempPasswordValidity: Duration.days(3),
      },
      accountRecovery: cognito.AccountRecovery.EMAIL_ONLY,
      featurePlan: cognito.FeaturePlan.PLUS,
      standardThreatProtectionMode: cognito.StandardThreatProtectionMode.FULL_FUNCTION,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // A prefix unique in the region: the configured one, or one from this stack's own id.
    const domainPrefix = config.console?.authDomainPrefix ?? Fn.join('-', ['tpn-console', Fn.select(2, Fn.split('/', stack.stackId))]);
    this.domain = this.userPool.addDomain('Domain', { cognitoDomain: { domainPrefix } });
    this.client = this.userPool.addClient('Client', {
      userPoolClientName: 'operator-console',
      generateSecret: false,
      oAuth: {
        flows: { authorizationCodeGrant: true, implicitCodeGrant: false, clientCredentials: false },
        scopes: [cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL],
        callbackUrls: [callbackUrl],
        logoutUrls: [this.url],
      },
      supportedIdentityProviders: [cognito.UserPoolClientIdentityProvider.COGNITO],
      preventUserExistenceErrors: true,
      enableTokenRevocation: true,
      idTokenValidity: CONSOLE_SESSION,
      accessTokenValidity: CONSOLE_SESSION,
      refreshTokenValidity: CONSOLE_SESSION,
    });

    // Invoked synchronously by API Gateway: no async retries or DLQ; 10 s, inside API Gateway's 29 s.
    this.handler = new TrustFunction(this, 'ConsoleFunction', {
      entry: 'functions/handlers/console-http.ts',
      description: 'Operator console: compliance, cases, ledger and dead-letter queues as server-rendered pages, behind Cognito sign-in',
      config,
      timeout: Duration.seconds(10),
      invocation: 'sync',
    })
      .bindTable(
        props.dataTable,
        {
          actions: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
          queries: ['gsi1', 'gsi2'],
        },
        'DATA_TABLE_NAME',
      )
      .bindTable(props.ledgerTable, { actions: ['dynamodb:Scan'] }, 'LEDGER_TABLE_NAME')
      .bindTable(props.narrativeTable, { actions: ['dynamodb:GetItem', 'dynamodb:Query'] }, 'NARRATIVE_TABLE_NAME');
    if (!props.narrativeTable.encryptionKey) throw new Error('the narrative table has no customer-managed key');
    allowDecryptThroughDynamoDb(props.narrativeTable.encryptionKey, 'ConsoleReadsThroughDynamoDb', this.handler.executionRole);
    this.handler.addEnvironment('CONSOLE_AUTH', 'cognito');
    this.handler.addEnvironment('CONSOLE_USER_POOL_ID', this.userPool.userPoolId);
    this.handler.addEnvironment('CONSOLE_CLIENT_ID', this.client.userPoolClientId);
    this.handler.addEnvironment('CONSOLE_AUTH_DOMAIN_URL', this.domain.baseUrl());
    this.handler.addEnvironment('CONSOLE_CALLBACK_URL', callbackUrl);

    // The dead-letter queues page: each DLQ's depth, by the name `trust-notify redrive --queue` takes.
    const dlqs = [...props.deadLetterQueues];
    this.handler.addEnvironment(
      'DLQ_URLS',
      stack.toJsonString(Object.fromEntries(dlqs.map((dlq) => [pathBelow(stack, dlq).replaceAll('/', ''), dlq.queueUrl]))),
    );
    if (dlqs.length > 0) {
      this.handler.addToRolePolicy(new iam.PolicyStatement({ actions: ['sqs:GetQueueAttributes'], resources: dlqs.map((dlq) => dlq.queueArn) }));
    }
    // A DLQ constructed after this construct would be missing from the page: refuse to synthesize.
    this.node.addValidation({
      validate: () =>
        deadLetterQueuesIn(stack)
          .filter((dlq) => !dlqs.includes(dlq))
          .map((dlq) => `the dead-letter queue ${pathBelow(stack, dlq)} is not on the operator console: construct OperatorConsole after every DLQ`),
    });

    // GET only: the console shows and changes nothing (except recording who read a narrative).
    const integration = new HttpLambdaIntegration('ConsoleIntegration', this.handler);
    this.routes = [
      new apigwv2.HttpRoute(this, 'RootRoute', { httpApi: props.api, routeKey: apigwv2.HttpRouteKey.with('/', apigwv2.HttpMethod.GET), integration }),
      new apigwv2.HttpRoute(this, 'ProxyRoute', { httpApi: props.api, routeKey: apigwv2.HttpRouteKey.with('/{proxy+}', apigwv2.HttpMethod.GET), integration }),
    ];
    for (const route of this.routes) {
      Validations.of(route).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason:
          'Signed in with Amazon Cognito, checked by the function: a browser navigation sends a cookie, not a bearer token, so no API Gateway authorizer can see the session. The function verifies the __Host- session cookie (a Cognito id token: signature, issuer, audience, expiry) on every request and redirects to the hosted UI otherwise.',
      });
    }
  }
}
