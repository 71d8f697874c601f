/**
 * People in the data table (access patterns: lib/data-tables.ts).
 *   person:          pk = PERSON#<staffId>, sk = PROFILE
 *   people of school: gsi1pk = SCHOOL#<schoolId>, gsi1sk = PERSON#<staffId>
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, type DynamoDBDocumentClient, paginateQuery, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Role } from '../contracts/roles.ts';
import { batchGet } from './batch.ts';
import { londonDate } from '../domain/dates.ts';
import { isActiveOn, type Person } from '../domain/people.ts';

const key = (staffId: string) => ({ pk: `PERSON#${staffId}`, sk: 'PROFILE' });

function toPerson(item: Record<string, unknown>): Person {
  const { pk: _pk, sk: _sk, gsi1pk: _g1, gsi1sk: _g2, entity: _e, ...person } = item;
  return person as unknown as Person;
}

export class PeopleRepository {
  private readonly db: DynamoDBDocumentClient;
  private readonly table: string;
  constructor(db: DynamoDBDocumentClient, table: string) {
    this.db = db;
    this.table = table;
  }

  async get(staffId: string): Promise<Person | null> {
    const out = await this.db.send(new GetCommand({ TableName: this.table, Key: key(staffId), ConsistentRead: true }));
    return out.Item ? toPerson(out.Item) : null;
  }

  /** Several people by staffId (BatchGetItem, strongly consistent), keyed by staffId; those not on record are absent. */
  async getMany(staffIds: readonly string[]): Promise<Map<string, Person>> {
    const items = await batchGet(this.db, this.table, [...new Set(staffIds)].map(key));
    return new Map(items.map((item) => toPerson(item)).map((person) => [person.staffId, person]));
  }

  /**
   * Writes the person unless the stored record holds a newer change (DESIGN.md "Order").
   * Returns false when a newer change won the race.
   */
  async putIfNotOlder(person: Person): Promise<boolean> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: {
            ...key(person.staffId),
            entity: 'person',
            gsi1pk: `SCHOOL#${person.schoolId}`,
            gsi1sk: `PERSON#${person.staffId}`,
            ...person,
          },
          ConditionExpression: 'attribute_not_exists(pk) OR lastChangeAt <= :changeAt',
          ExpressionAttributeValues: { ':changeAt': person.lastChangeAt },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /** Everyone on record at a school (or `trust`), page by page. */
  async *inSchool(schoolId: string): AsyncGenerator<Person[]> {
    const pages = paginateQuery(
      { client: this.db },
      {
        TableName: this.table,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :school AND begins_with(gsi1sk, :person)',
        ExpressionAttributeValues: { ':school': `SCHOOL#${schoolId}`, ':person': 'PERSON#' },
      },
    );
    for await (const page of pages) yield (page.Items ?? []).map(toPerson);
  }

  /**
   * Active people at a school (or `trust`) who hold a role, paging through the school.
   * Someone whose leaving date has come is not active (`isActiveOn`, Europe/London today).
   */
  async activeWithRole(schoolId: string, role: Role, today: string = londonDate(new Date())): Promise<Person[]> {
    const people: Person[] = [];
    const pages = paginateQuery(
      { client: this.db },
      {
        TableName: this.table,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :school AND begins_with(gsi1sk, :person)',
        FilterExpression: 'contains(#roles, :role) AND #status = :active',
        ExpressionAttributeNames: { '#roles': 'roles', '#status': 'status' },
        ExpressionAttributeValues: { ':school': `SCHOOL#${schoolId}`, ':person': 'PERSON#', ':role': role, ':active': 'active' },
      },
    );
    for await (const page of pages) for (const item of page.Items ?? []) people.push(toPerson(item));
    return people.filter((person) => isActiveOn(person, today));
  }

  /**
   * Marks the person's address undeliverable (SES reported a hard bounce or a complaint,
   * functions/domain/email-feedback.ts), only if `email` is still their address: a late
   * bounce of an address HR has since changed writes nothing. Idempotent: marking a marked
   * address again succeeds. Returns false if the person is not on record or the address changed.
   */
  async markUndeliverable(staffId: string, email: string): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: key(staffId),
          UpdateExpression: 'SET emailDeliverable = :false',
          ConditionExpression: 'attribute_exists(pk) AND email = :email',
          ExpressionAttributeValues: { ':false': false, ':email': email },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /**
   * Writes the person's changes only if the stored record is still the one read: its
   * `lastChangeAt` unchanged (an optimistic lock on the last applied change, DESIGN.md
   * "Order"). Only the attributes that differ from `read` are set (or removed), so a
   * concurrent write of another attribute (an address marked undeliverable) is kept. A
   * concurrent HR event in between makes this return false; the caller reads again and
   * decides again, so a late `Staff Updated` can never write back a status or leaving
   * date it did not see.
   */
  async updateIfUnchangedSince(person: Person, read: Person): Promise<boolean> {
    const after: Record<string, unknown> = { ...person, gsi1pk: `SCHOOL#${person.schoolId}` };
    const before: Record<string, unknown> = { ...read, gsi1pk: `SCHOOL#${read.schoolId}` };
    // A new address always writes its deliverability too: a bounce of the old address
    // recorded between the read and this write must not stick to the new one.
    const emailChanged = after.email !== before.email;
    const names = [...new Set([...Object.keys(after), ...Object.keys(before)])].filter(
      (name) => JSON.stringify(after[name]) !== JSON.stringify(before[name]) || (emailChanged && name === 'emailDeliverable'),
    );
    const set = names.filter((name) => after[name] !== undefined);
    const remove = names.filter((name) => after[name] === undefined);
    if (set.length === 0 && remove.length === 0) return true;
    const ref = (name: string) => `#a${names.indexOf(name)}`;
    const value = (name: string) => `:a${names.indexOf(name)}`;
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: key(person.staffId),
          UpdateExpression: [
            set.length > 0 ? `SET ${set.map((n) => `${ref(n)} = ${value(n)}`).join(', ')}` : '',
            remove.length > 0 ? `REMOVE ${remove.map(ref).join(', ')}` : '',
          ].join(' ').trim(),
          ConditionExpression: '#lastChangeAt = :read',
          ExpressionAttributeNames: { '#lastChangeAt': 'lastChangeAt', ...Object.fromEntries(names.map((n) => [ref(n), n])) },
          ExpressionAttributeValues: { ':read': read.lastChangeAt, ...Object.fromEntries(set.map((n) => [value(n), after[n]])) },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}
