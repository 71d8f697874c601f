/**
 * Local routing comes from the synthesized CDK template and nothing else (issue 3, DESIGN.md
 * "Local runtime": "It routes by the rules in the template the CDK app synthesizes, so local
 * and cloud cannot drift"). No servers: the template is synthesized without bundling, and
 * LocalResources resolves the rules' targets without provisioning anything.
 */
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadTrustConfig, REPO_ROOT } from '../../functions/config/load-trust-config.ts';
import { CATALOGUE, DETAIL_TYPE_LIST, EVENT_BUS_NAME } from '../../functions/contracts/events.ts';
import { TrustEventBus } from '../../lib/trust-event-bus.ts';
import { type CfnTemplate, resourcesOfType, synthInputs, synthTemplate } from '../../local/cloud-template.ts';
import { LocalResources } from '../../local/provision.ts';
import { type LocalRule, matchingRules, rulesFromTemplate } from '../../local/router.ts';
import { examples } from '../support/examples.ts';

const config = loadTrustConfig();

/** An event as the bus hands it to the router. */
function busEvent(detailType: string, detail: unknown, source = 'trust.hr') {
  return {
    version: '0',
    id: '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
    'detail-type': detailType,
    source,
    account: '000000000000',
    time: '2026-09-01T08:00:00Z',
    region: config.region,
    resources: [],
    detail,
  };
}

function localRules(template: CfnTemplate): { resources: LocalResources; rules: LocalRule[] } {
  const resources = new LocalResources(template, config.region);
  return { resources, rules: rulesFromTemplate(resources) };
}

/** The template's own `detail-type` list for a rule (raw JSON, not through the matcher). */
function patternDetailTypes(template: CfnTemplate, ruleId: string): unknown[] {
  const pattern = template.Resources[ruleId]?.Properties?.EventPattern as Record<string, unknown> | undefined;
  const types = pattern?.['detail-type'];
  return Array.isArray(types) ? types : [];
}

let template: CfnTemplate;
let resources: LocalResources;
let rules: LocalRule[];
let staffOnboardedRule: string;
let staffOnboardedFunction: string;

beforeAll(() => {
  template = synthTemplate(config);
  ({ resources, rules } = localRules(template));
  staffOnboardedRule = resources.logicalId('AWS::Events::Rule', 'EventsStaffOnboardedRule');
  staffOnboardedFunction = resources.logicalId('AWS::Lambda::Function', 'StaffOnboardedFunction');
}, 60_000);

describe('routing from the synthesized template', () => {
  it('has one local rule per AWS::Events::Rule in the template', () => {
    expect(rules.map((r) => r.logicalId).sort()).toEqual(resourcesOfType(template, 'AWS::Events::Rule').map(([id]) => id).sort());
  });

  it('routes a Staff Onboarded event to exactly the Staff Onboarded rule, targeting the Staff Onboarded function', () => {
    const matched = matchingRules(rules, EVENT_BUS_NAME, busEvent('Staff Onboarded', examples['Staff Onboarded']));

    expect(matched.map((r) => r.logicalId)).toEqual([staffOnboardedRule]);
    const [target, ...others] = matched[0]?.targets ?? [];
    expect(others).toEqual([]);
    expect(target?.arn).toBe(resources.getAtt(staffOnboardedFunction, 'Arn'));
    expect(target?.arn).toBe(`arn:aws:lambda:${config.region}:000000000000:function:${staffOnboardedFunction}`);
    // Delivery settings are the template's too.
    const cfnTargets = template.Resources[staffOnboardedRule]?.Properties?.Targets as Record<string, unknown>[] | undefined;
    const cfnTarget = cfnTargets?.[0];
    const retry = cfnTarget?.RetryPolicy as { MaximumRetryAttempts: number; MaximumEventAgeInSeconds: number };
    expect(target?.maxRetries).toBe(retry.MaximumRetryAttempts);
    expect(target?.maxEventAgeMs).toBe(retry.MaximumEventAgeInSeconds * 1000);
    const dlq = resources.logicalId('AWS::SQS::Queue', 'EventsDeliveryDlq');
    expect(target?.deadLetterArn).toBe(resources.getAtt(dlq, 'Arn'));
  });

  it('the same event on another bus, from another source, or with a near-miss detail-type matches no rule', () => {
    const detail = examples['Staff Onboarded'];
    expect(matchingRules(rules, 'default', busEvent('Staff Onboarded', detail))).toEqual([]);
    expect(matchingRules(rules, EVENT_BUS_NAME, busEvent('Staff Onboarded', detail, 'trust.hr.sandbox'))).toEqual([]);
    expect(matchingRules(rules, EVENT_BUS_NAME, busEvent('Staff Onboarded', detail, 'trust.policies'))).toEqual([]);
    expect(matchingRules(rules, EVENT_BUS_NAME, busEvent('Staff Onboarded ', detail))).toEqual([]);
    expect(matchingRules(rules, EVENT_BUS_NAME, busEvent('staff onboarded', detail))).toEqual([]);
    expect(matchingRules(rules, EVENT_BUS_NAME, busEvent('Staff Transferred', detail))).toEqual([]);
  });

  it('an event type no rule is written for (Staff Left, today) matches no rule', () => {
    const ruleIds = rules.map((r) => r.logicalId);
    const unrouted = DETAIL_TYPE_LIST.filter((type) => !ruleIds.some((id) => patternDetailTypes(template, id).includes(type)));
    if (!unrouted.includes('Staff Left')) {
      // A rule for Staff Left exists now: it must then be the only thing a Staff Left event reaches.
      const matched = matchingRules(rules, EVENT_BUS_NAME, busEvent('Staff Left', examples['Staff Left']));
      for (const rule of matched) expect(patternDetailTypes(template, rule.logicalId)).toContain('Staff Left');
    }
    for (const type of unrouted) {
      const event = busEvent(type, examples[type], CATALOGUE[type].source);
      expect(matchingRules(rules, EVENT_BUS_NAME, event), type).toEqual([]);
    }
  });

  it('every event type of the catalogue reaches only rules written for that type', () => {
    for (const type of DETAIL_TYPE_LIST) {
      const matched = matchingRules(rules, EVENT_BUS_NAME, busEvent(type, examples[type], CATALOGUE[type].source));
      for (const rule of matched) expect(patternDetailTypes(template, rule.logicalId), `${type} → ${rule.logicalId}`).toContain(type);
    }
  });
});

describe('a rule pattern change in lib/ changes local routing with no other edit', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('synthesis (and so its cache key) reads every file under lib/', () => {
    const walk = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
    const libFiles = walk(join(REPO_ROOT, 'lib')).map((f) => relative(REPO_ROOT, f).split('\\').join('/'));
    expect(libFiles.length).toBeGreaterThan(0);
    expect(synthInputs()).toEqual(expect.arrayContaining(libFiles));
  });

  it("a changed EventPattern in the template is followed by the router as it is", () => {
    const edited = structuredClone(template);
    const props = edited.Resources[staffOnboardedRule]?.Properties;
    if (!props) throw new Error('the rule has no properties');
    props.EventPattern = { source: ['trust.hr'], 'detail-type': ['Staff Onboarded'], detail: { schoolId: [{ prefix: 'st-' }] } };

    const { rules: after } = localRules(edited);

    const at = (schoolId: string) => busEvent('Staff Onboarded', { ...examples['Staff Onboarded'], schoolId });
    expect(matchingRules(rules, EVENT_BUS_NAME, at('holy-trinity')).map((r) => r.logicalId)).toEqual([staffOnboardedRule]);
    expect(matchingRules(after, EVENT_BUS_NAME, at('holy-trinity'))).toEqual([]);
    expect(matchingRules(after, EVENT_BUS_NAME, at('st-marys')).map((r) => r.logicalId)).toEqual([staffOnboardedRule]);
  });

  it('a pattern added in the CDK construct (lib/trust-event-bus.ts) reaches local routing through synthesis', () => {
    // The same change a developer would make in TrustEventBus.route, made at run time.
    const route = TrustEventBus.prototype.route;
    vi.spyOn(TrustEventBus.prototype, 'route').mockImplementation(function (this: TrustEventBus, ...args: Parameters<typeof route>) {
      const rule = route.apply(this, args);
      rule.addEventPattern({ detail: { employmentType: ['permanent'] } });
      return rule;
    });

    const changed = synthTemplate(config);

    const { rules: after } = localRules(changed);
    const as = (employmentType: string) => busEvent('Staff Onboarded', { ...examples['Staff Onboarded'], employmentType });
    expect(matchingRules(after, EVENT_BUS_NAME, as('permanent')).map((r) => r.logicalId)).toEqual([staffOnboardedRule]);
    expect(matchingRules(after, EVENT_BUS_NAME, as('volunteer'))).toEqual([]);
    expect(matchingRules(rules, EVENT_BUS_NAME, as('volunteer')).map((r) => r.logicalId)).toEqual([staffOnboardedRule]);
  }, 60_000);
});
