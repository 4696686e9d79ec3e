import { outgoingEmail, personalizationsFor } from './email-send.job';
import type { EmailRow } from './emails.repository';

describe(personalizationsFor.name, () => {
  it('gives every to address its own personalization when there is no cc or bcc', () => {
    expect(personalizationsFor(['a@x.test', 'b@x.test'])).toEqual([
      { to: ['a@x.test'] },
      { to: ['b@x.test'] },
    ]);
  });

  it('puts everybody in one personalization with cc or bcc', () => {
    expect(personalizationsFor(['a@x.test', 'b@x.test'], ['c@x.test'])).toEqual([
      { to: ['a@x.test', 'b@x.test'], cc: ['c@x.test'] },
    ]);
    expect(personalizationsFor(['a@x.test'], [], ['d@x.test'])).toEqual([
      { to: ['a@x.test'], bcc: ['d@x.test'] },
    ]);
  });
});

describe(outgoingEmail.name, () => {
  it('builds the SendGrid request from the stored row, with our id as a custom arg', () => {
    const row: EmailRow = {
      id: 'eml_01hz3k5v8q0000000000000000',
      status: 'queued',
      from_email: 'noreply@x.test',
      reply_to: null,
      to_list: '["a@x.test"]',
      cc_list: null,
      bcc_list: null,
      subject: null,
      text_body: null,
      html_body: null,
      template_id: 'd-abc',
      template_data: '{"name":"Ada"}',
      categories: '["receipt"]',
      metadata: '{}',
      provider_message_id: null,
      error_code: null,
      error_message: null,
      attempts: 0,
      created_at: '2026-01-01T00:00:00.000Z',
      updated_at: '2026-01-01T00:00:00.000Z',
    };
    expect(outgoingEmail(row)).toEqual({
      from: 'noreply@x.test',
      replyTo: undefined,
      subject: undefined,
      text: undefined,
      html: undefined,
      templateId: 'd-abc',
      templateData: { name: 'Ada' },
      categories: ['receipt'],
      personalizations: [{ to: ['a@x.test'] }],
      customArgs: { switchboard_email_id: row.id },
    });
  });
});
