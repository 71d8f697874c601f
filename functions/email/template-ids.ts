/**
 * The email templates that exist, by id. Each id has a folder under `templates/` and is
 * stored in SES as `<templatePrefix>-<id>` (SendBulkEmail personalises only through stored
 * templates, DESIGN.md "Email").
 */
export const TEMPLATE_IDS = ['welcome', 'induction-notice', 'receipt', 'policy-updated', 'policy-changed', 'policy-live', 'policies-to-confirm', 'credential-rotation', 'review-due', 'case-notice', 'reminder', 'head-digest', 'trust-rollup', 'undeliverable-notice', 'refresher', 'undeliverable-address', 'event-rejected'] as const;
export type TemplateId = (typeof TEMPLATE_IDS)[number];

export function sesTemplateName(templatePrefix: string, id: TemplateId): string {
  return `${templatePrefix}-${id}`;
}
