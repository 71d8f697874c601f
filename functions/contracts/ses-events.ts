/**
 * SES email sending events (DESIGN.md "Email": "SES delivers bounce and complaint events
 * only to the default bus: a rule there forwards them to trust-events"). SES publishes
 * them, not us, so they are not in our catalogue (functions/contracts/events.ts): this
 * module reads the few fields we use, tolerantly, and defines the message tags our email
 * sender puts on every email so that an event names the person without any lookup.
 *
 * The event (AWS, "Monitoring SES events using Amazon EventBridge"): `source` `aws.ses`,
 * `detail-type` `Email Bounced` or `Email Complaint Received`, and a `detail` that is the
 * SES event record: `eventType` (`Bounce` | `Complaint`), `mail` (`messageId`, `tags`:
 * tag name → list of values, custom tags included), and `bounce` (`bounceType`
 * `Permanent` | `Transient` | `Undetermined`, `bouncedRecipients[].emailAddress`) or
 * `complaint` (`complainedRecipients[].emailAddress`). Everything else (headers, the
 * receiving server's diagnostic text, IPs) is stripped here and never read or logged.
 */
import * as z from 'zod';
import { ContractError, toFieldProblems } from './events.ts';

export const SES_SOURCE = 'aws.ses';

/** The two SES event types we act on, as EventBridge names them. */
export const SES_FEEDBACK = {
  bounce: 'Email Bounced',
  complaint: 'Email Complaint Received',
} as const;
export type SesFeedbackDetailType = (typeof SES_FEEDBACK)[keyof typeof SES_FEEDBACK];
export const SES_FEEDBACK_DETAIL_TYPES: readonly SesFeedbackDetailType[] = Object.values(SES_FEEDBACK);

/** `eventType` of the SES record for each detail-type. */
const EVENT_TYPE_OF: Record<SesFeedbackDetailType, 'Bounce' | 'Complaint'> = {
  'Email Bounced': 'Bounce',
  'Email Complaint Received': 'Complaint',
};

export function isSesFeedbackDetailType(value: unknown): value is SesFeedbackDetailType {
  return typeof value === 'string' && (SES_FEEDBACK_DETAIL_TYPES as readonly string[]).includes(value);
}

// ---------------------------------------------------------------------------------
// Message tags (SendBulkEmail `ReplacementTags`, one set per destination). SES returns
// them in `mail.tags` of every event about that email, so a bounce names the person and
// the kind of notice that bounced: no index on addresses and no lookup by message id.

export const MESSAGE_TAGS = {
  /** The recipient's HR staff id (`recipientStaffId` of the ledger row), when the recipient is a person on record. */
  staffId: 'tpn-staff-id',
  /** The template id of the email (functions/email/template-ids.ts). */
  template: 'tpn-template',
} as const;

/** SES: a tag value contains only ASCII letters, digits, `_` or `-`, at most 256 characters. */
const TAG_VALUE = /^[A-Za-z0-9_-]{1,256}$/;

export interface MessageTag {
  Name: string;
  Value: string;
}

/**
 * The tags for one email. A value SES would refuse (it would fail the whole SendBulkEmail
 * call) is left out: a staffId always fits (`[A-Za-z0-9_-]{1,64}`), as does a template id.
 */
export function messageTags(values: { staffId?: string | undefined; templateId?: string | undefined }): MessageTag[] {
  const tags: MessageTag[] = [];
  if (values.staffId && TAG_VALUE.test(values.staffId)) tags.push({ Name: MESSAGE_TAGS.staffId, Value: values.staffId });
  if (values.templateId && TAG_VALUE.test(values.templateId)) tags.push({ Name: MESSAGE_TAGS.template, Value: values.templateId });
  return tags;
}

/** The one value of a tag in `mail.tags`, if present exactly once and well formed. */
export function tagValue(tags: Readonly<Record<string, readonly string[]>>, name: string): string | undefined {
  const values = tags[name];
  if (values?.length !== 1) return undefined;
  const [value] = values;
  return value !== undefined && TAG_VALUE.test(value) ? value : undefined;
}

// ---------------------------------------------------------------------------------
// The detail, read tolerantly: unknown keys are stripped (SES sends many we do not use).

const recipients = z
  .array(z.object({ emailAddress: z.string({ error: 'must be a string' }).min(1, { error: 'must not be empty' }).max(320) }), {
    error: 'must be a list of recipients',
  })
  .max(100, { error: 'must list at most 100 recipients' });

export const sesFeedbackDetailSchema = z
  .object({
    eventType: z.enum(['Bounce', 'Complaint'], { error: 'must be Bounce or Complaint' }),
    mail: z.object({
      messageId: z
        .string({ error: 'must be a string' })
        .regex(/^[A-Za-z0-9._@<>+-]{1,256}$/, { error: 'must be an SES message id' }),
      tags: z
        .record(z.string(), z.array(z.string({ error: 'must be a string' }), { error: 'must be a list of values' }), {
          error: 'must be an object of tag names to lists of values',
        })
        .default({}),
    }),
    bounce: z
      .object({
        /** `Permanent`, `Transient` or `Undetermined` (kept a string: a new SES value is not an outage). */
        bounceType: z.string({ error: 'must be a string' }).min(1, { error: 'must not be empty' }).max(64),
        bouncedRecipients: recipients.default([]),
      })
      .optional(),
    complaint: z.object({ complainedRecipients: recipients.default([]) }).optional(),
  })
  .superRefine((detail, ctx) => {
    if (detail.eventType === 'Bounce' && !detail.bounce) ctx.addIssue({ code: 'custom', path: ['bounce'], message: 'is required for a Bounce' });
    if (detail.eventType === 'Complaint' && !detail.complaint) {
      ctx.addIssue({ code: 'custom', path: ['complaint'], message: 'is required for a Complaint' });
    }
  });
export type SesFeedbackDetail = z.infer<typeof sesFeedbackDetailSchema>;

/**
 * Reads an SES bounce or complaint event. Throws ContractError naming the field (never a
 * value: the detail carries email addresses) for another source, another detail-type, a
 * detail-type that disagrees with `eventType`, or a detail that lacks what we use.
 */
export function readSesFeedback(event: { source?: unknown; 'detail-type'?: unknown; detail?: unknown }): {
  detailType: SesFeedbackDetailType;
  detail: SesFeedbackDetail;
} {
  const detailType = event['detail-type'];
  const name = typeof detailType === 'string' ? detailType : 'SES event';
  if (event.source !== SES_SOURCE) throw new ContractError(name, [{ field: 'source', problem: `must be ${SES_SOURCE}` }]);
  if (!isSesFeedbackDetailType(detailType)) {
    throw new ContractError(name, [{ field: 'detail-type', problem: `must be one of ${SES_FEEDBACK_DETAIL_TYPES.join(', ')}` }]);
  }
  const result = sesFeedbackDetailSchema.safeParse(event.detail, { reportInput: false });
  if (!result.success) throw new ContractError(detailType, toFieldProblems(result.error.issues));
  if (result.data.eventType !== EVENT_TYPE_OF[detailType]) {
    throw new ContractError(detailType, [{ field: 'detail.eventType', problem: `must be ${EVENT_TYPE_OF[detailType]} for ${detailType}` }]);
  }
  return { detailType, detail: result.data };
}
