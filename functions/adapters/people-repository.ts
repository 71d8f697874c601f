/**
 * People in the data table (access patterns: lib/data-tables.ts).
 *   person:          pk = PERSON#<staffId>, sk = PROFILE
 *   people of school: gsi1pk = SCHOOL#<schoolId>, gsi1sk = PERSON#<staffId>
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, type DynamoDBDocumentClient, paginateQuery } from '@aws-sdk/lib-dynamodb';
import type { Role } from '../contracts/roles.ts';
import type { Person } from '../domain/people.ts';

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

  /** Active people at a school (or `trust`) who hold a role, paging through the school. */
  async activeWithRole(schoolId: string, role: Role): Promise<Person[]> {
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
    return people;
  }
}
