/**
 * One example detail per event, read from examples/<cli-name>.json: the same files the
 * README's walkthrough publishes, so the documented examples are tested.
 */
import { readFileSync } from 'node:fs';
import { REPO_ROOT } from '../../functions/config/load-trust-config.ts';
import { CATALOGUE, DETAIL_TYPE_LIST, type DetailType } from '../../functions/contracts/events.ts';

export const examples = Object.fromEntries(
  DETAIL_TYPE_LIST.map((type) => [
    type,
    JSON.parse(readFileSync(`${REPO_ROOT}/examples/${CATALOGUE[type].cliName}.json`, 'utf8')) as Record<string, unknown>,
  ]),
) as Record<DetailType, Record<string, unknown>>;
