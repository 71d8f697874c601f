/**
 * Helpers for infra tests that assert one feature's resources: synthesize the stack once
 * without bundling, find resources by construct path, render references as paths, and
 * list a function's IAM permissions and environment.
 */
import { type App, CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { expect } from 'vitest';
import { createTrustApp } from '../../lib/trust-policy-notify-app.ts';
import type { TrustPolicyNotifyStack } from '../../lib/trust-policy-notify-stack.ts';

type Json = Record<string, unknown>;

/** Logical id → resource of the synthesized template (a live binding: read it after `synthesizeForAssertions`). */
export let resourcesById: Record<string, Json>;
/** Logical id → the construct's path below the stack, e.g. `Tables/DataTable`. */
export const nameOf = new Map<string, string>();
/** What `synthesis()` returns: the app (for cdk-nag), the stack and the template's outputs. */
export interface Synthesis {
  app: App;
  stack: TrustPolicyNotifyStack;
  outputs: Record<string, { Value: unknown }>;
}
let synthesized: Synthesis | undefined;

/** Synthesizes the stack once (no bundling) and indexes its resources by construct path. */
export function synthesizeForAssertions(): void {
  const { app, stack } = createTrustApp({ context: { 'aws:cdk:bundling-stacks': [] } });
  const template = Template.fromStack(stack).toJSON();
  resourcesById = template.Resources as Record<string, Json>;
  synthesized = { app, stack, outputs: (template.Outputs ?? {}) as Record<string, { Value: unknown }> };
  for (const construct of stack.node.findAll()) {
    if (construct instanceof CfnElement) {
      const path = construct.node.path.slice(stack.node.path.length + 1).replace(/\/Resource$/, '');
      nameOf.set(stack.resolve(construct.logicalId), path);
    }
  }
}

/** The app, stack and template outputs of the last `synthesizeForAssertions` (for cdk-nag and outputs). */
export function synthesis(): Synthesis {
  if (!synthesized) throw new Error('call synthesizeForAssertions first (in beforeAll)');
  return synthesized;
}

export function logicalIdOf(path: string): string {
  for (const [id, name] of nameOf) if (name === path) return id;
  throw new Error(`no resource at ${path}`);
}
export const props = (resource: Json | undefined): Json => (resource?.Properties ?? {}) as Json;
export const resourceAt = (path: string): Json => resourcesById[logicalIdOf(path)] ?? {};
export const ofType = (type: string) => Object.entries(resourcesById).filter(([, r]) => r.Type === type);
export const asList = (value: unknown): unknown[] => (Array.isArray(value) ? value : [value]);
/** `Fn::GetAtt` of the resource's Arn, as the template writes it. */
export const arnOf = (path: string) => ({ 'Fn::GetAtt': [logicalIdOf(path), 'Arn'] });

/** The Lambda permissions (AWS::Lambda::Permission) on the function with this ARN value (e.g. `arnOf(path)`). */
export const invokePermissionsFor = (functionArn: unknown) =>
  ofType('AWS::Lambda::Permission').filter(([, p]) => JSON.stringify(props(p).FunctionName) === JSON.stringify(functionArn));
/** The async invoke configs (AWS::Lambda::EventInvokeConfig) of the function with this logical id. */
export const invokeConfigsFor = (functionId: string) =>
  ofType('AWS::Lambda::EventInvokeConfig').filter(([, c]) => (props(c).FunctionName as Json).Ref === functionId);

/** A CloudFormation value with references rendered as construct paths. */
export function describeRef(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as Json;
  if (typeof v.Ref === 'string') return v.Ref.startsWith('AWS::') ? `\${${v.Ref}}` : (nameOf.get(v.Ref) ?? v.Ref);
  const getAtt = v['Fn::GetAtt'];
  if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') {
    const name = nameOf.get(getAtt[0]) ?? getAtt[0];
    return getAtt[1] === 'Arn' ? name : `${name}.${String(getAtt[1])}`;
  }
  const join = v['Fn::Join'];
  if (Array.isArray(join) && typeof join[0] === 'string' && Array.isArray(join[1])) return join[1].map(describeRef).join(join[0]);
  throw new Error(`cannot describe ${JSON.stringify(value)}`);
}

/** Every action the function's role allows, with the resources (construct paths). */
export function permissionsOf(functionPath: string): Record<string, string[]> {
  return permissionsOfRole(roleIdOf(functionPath));
}

/** One statement of a policy document, as the template writes it. */
export interface Statement {
  Sid?: string;
  Effect: string;
  Principal?: unknown;
  Action: unknown;
  Resource?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

/** The statements of the one IAM policy attached to a role (logical id). */
export function statementsOfRole(roleId: string): Statement[] {
  const policies = ofType('AWS::IAM::Policy').filter(([, p]) => asList(props(p).Roles).some((r) => (r as Json).Ref === roleId));
  expect(policies).toHaveLength(1);
  return (props(policies[0]?.[1]).PolicyDocument as { Statement: Statement[] }).Statement;
}

/** The logical id of a function's execution role. */
export const roleIdOf = (functionPath: string): string => (props(resourceAt(functionPath)).Role as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0] ?? '';

/** Every action a role (logical id) allows, with the resources (construct paths); one policy, Allow only. */
export function permissionsOfRole(roleId: string): Record<string, string[]> {
  const allowed: Record<string, string[]> = {};
  for (const statement of statementsOfRole(roleId)) {
    expect(statement.Effect).toBe('Allow');
    for (const action of asList(statement.Action) as string[]) {
      allowed[action] = [...(allowed[action] ?? []), ...asList(statement.Resource).map(describeRef)].sort();
    }
  }
  return allowed;
}
export const allow = (actions: string[], names: string[]) => Object.fromEntries(actions.map((a) => [a, [...names].sort()]));

export function envOf(functionPath: string): Record<string, string> {
  const variables = (props(resourceAt(functionPath)).Environment as { Variables: Json }).Variables;
  return Object.fromEntries(Object.entries(variables).map(([key, value]) => [key, describeRef(value)]));
}
