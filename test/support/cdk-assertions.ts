/**
 * Helpers for infra tests that assert one feature's resources: synthesize the stack once
 * without bundling, find resources by construct path, render references as paths, and
 * list a function's IAM permissions and environment.
 */
import { CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { expect } from 'vitest';
import { createTrustApp } from '../../lib/trust-policy-notify-app.ts';

type Json = Record<string, unknown>;

export let resourcesById: Record<string, Json>;
/** Logical id → the construct's path below the stack, e.g. `Tables/DataTable`. */
export const nameOf = new Map<string, string>();

/** Synthesizes the stack once (no bundling) and indexes its resources by construct path. */
export function synthesizeForAssertions(): void {
  const { stack } = createTrustApp({ context: { 'aws:cdk:bundling-stacks': [] } });
  const template = Template.fromStack(stack);
  resourcesById = template.toJSON().Resources as Record<string, Json>;
  for (const construct of stack.node.findAll()) {
    if (construct instanceof CfnElement) {
      const path = construct.node.path.slice(stack.node.path.length + 1).replace(/\/Resource$/, '');
      nameOf.set(stack.resolve(construct.logicalId), path);
    }
  }
}

export function logicalIdOf(path: string): string {
  for (const [id, name] of nameOf) if (name === path) return id;
  throw new Error(`no resource at ${path}`);
}
export const props = (resource: Json | undefined): Json => (resource?.Properties ?? {}) as Json;
export const resourceAt = (path: string): Json => resourcesById[logicalIdOf(path)] ?? {};
export const ofType = (type: string) => Object.entries(resourcesById).filter(([, r]) => r.Type === type);
export const asList = (value: unknown): unknown[] => (Array.isArray(value) ? value : [value]);

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
  const roleId = (props(resourceAt(functionPath)).Role as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0];
  const policies = ofType('AWS::IAM::Policy').filter(([, p]) => asList(props(p).Roles).some((r) => (r as Json).Ref === roleId));
  expect(policies).toHaveLength(1);
  const allowed: Record<string, string[]> = {};
  for (const [, policy] of policies) {
    for (const statement of (props(policy).PolicyDocument as { Statement: { Effect: string; Action: unknown; Resource: unknown }[] }).Statement) {
      expect(statement.Effect).toBe('Allow');
      for (const action of asList(statement.Action) as string[]) {
        allowed[action] = [...(allowed[action] ?? []), ...asList(statement.Resource).map(describeRef)].sort();
      }
    }
  }
  return allowed;
}
export const allow = (actions: string[], names: string[]) => Object.fromEntries(actions.map((a) => [a, [...names].sort()]));

export function envOf(functionPath: string): Record<string, string> {
  const variables = (props(resourceAt(functionPath)).Environment as { Variables: Json }).Variables;
  return Object.fromEntries(Object.entries(variables).map(([key, value]) => [key, describeRef(value)]));
}
