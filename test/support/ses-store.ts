/** Reads what the local SES server stored (`GET /store`): every message "sent". */
export interface StoredEmail {
  messageId: string;
  from: string;
  destination: { to: string[]; cc: string[]; bcc: string[] };
  subject: string;
  body: { html?: string; text?: string };
  at: number;
}

export async function sesStore(endpoint: string): Promise<StoredEmail[]> {
  const response = await fetch(`${endpoint}/store`);
  if (!response.ok) throw new Error(`GET /store answered ${response.status}`);
  const body = (await response.json()) as { emails: StoredEmail[] };
  return body.emails;
}

export async function emailsTo(endpoint: string, address: string): Promise<StoredEmail[]> {
  return (await sesStore(endpoint)).filter((e) => e.destination.to.includes(address));
}
