/**
 * Publishes our own events to the trust's bus. Every detail is checked strictly against
 * its contract first (functions/contracts/events.ts), as any publisher must.
 */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { CATALOGUE, type DetailOf, type DetailType, parseForPublish } from '../contracts/events.ts';

export class EventPublisher {
  private readonly client: EventBridgeClient;
  private readonly busName: string;
  constructor(client: EventBridgeClient, busName: string) {
    this.client = client;
    this.busName = busName;
  }

  async publish<T extends DetailType>(detailType: T, detail: DetailOf<T>): Promise<string> {
    const valid = parseForPublish(detailType, detail);
    const out = await this.client.send(
      new PutEventsCommand({
        Entries: [{ EventBusName: this.busName, Source: CATALOGUE[detailType].source, DetailType: detailType, Detail: JSON.stringify(valid) }],
      }),
    );
    const entry = out.Entries?.[0];
    if (!entry?.EventId) throw new Error(`the event bus refused ${detailType}: ${entry?.ErrorCode ?? 'no result'}`);
    return entry.EventId;
  }
}

let shared: EventBridgeClient | undefined;
/** One client per container (the endpoint comes from AWS_ENDPOINT_URL_EVENTBRIDGE locally). */
export function eventBridgeClient(): EventBridgeClient {
  shared ??= new EventBridgeClient({});
  return shared;
}
