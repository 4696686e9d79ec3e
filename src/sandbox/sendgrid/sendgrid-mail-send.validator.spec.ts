import {
  MESSAGES,
  isContentOrderValid,
  isValidEmailAddress,
  validateMailSend,
  type SendgridFieldError,
} from './sendgrid-mail-send.validator';

interface MailBody {
  personalizations: Record<string, unknown>[];
  [field: string]: unknown;
}

function validBody(): MailBody {
  return {
    personalizations: [{ to: [{ email: 'ada@example.com', name: 'Ada' }] }],
    from: { email: 'noreply@example.com' },
    subject: 'Hello',
    content: [
      { type: 'text/plain', value: 'Hi' },
      { type: 'text/html', value: '<p>Hi</p>' },
    ],
  };
}

function fields(errors: SendgridFieldError[]): (string | null)[] {
  return errors.map((e) => e.field);
}

function recipients(n: number, prefix = 'r'): { email: string }[] {
  return Array.from({ length: n }, (_, i) => ({ email: `${prefix}${i}@example.com` }));
}

describe(validateMailSend.name, () => {
  const sut = validateMailSend;

  it('accepts a minimal valid body', () => {
    expect(sut(validBody())).toEqual([]);
  });

  it('rejects a body that is not an object', () => {
    expect(sut([])).toEqual([{ message: 'Bad Request', field: null, help: null }]);
    expect(sut('x')).toHaveLength(1);
  });

  it.each([
    ['missing', undefined],
    ['empty', []],
    ['not an array', { to: [] }],
  ])('requires personalizations (%s)', (_case, personalizations) => {
    const errors = sut({ ...validBody(), personalizations });
    expect(errors).toEqual([
      {
        message: MESSAGES.personalizationsRequired,
        field: 'personalizations',
        help: expect.stringContaining('errors.html#'),
      },
    ]);
  });

  it('limits personalizations to 1000', () => {
    const personalizations = recipients(1001).map((r) => ({ to: [r] }));
    const errors = sut({ ...validBody(), personalizations });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({
      field: 'personalizations',
      message: MESSAGES.tooManyPersonalizations(1001),
    });
  });

  it('accepts exactly 1000 recipients and rejects 1001 across to, cc and bcc', () => {
    const ok = { to: recipients(500, 't'), cc: recipients(300, 'c'), bcc: recipients(200, 'b') };
    expect(sut({ ...validBody(), personalizations: [ok] })).toEqual([]);

    const tooMany = [ok, { to: [{ email: 'one-more@example.com' }] }];
    expect(sut({ ...validBody(), personalizations: tooMany })).toEqual([
      expect.objectContaining({ message: MESSAGES.tooManyRecipients, field: 'personalizations' }),
    ]);
  });

  it('requires a non-empty to array in every personalization', () => {
    const body = {
      ...validBody(),
      personalizations: [
        { to: [{ email: 'a@example.com' }] },
        { cc: [{ email: 'b@example.com' }] },
        { to: [] },
      ],
    };
    const errors = sut(body);
    expect(fields(errors)).toEqual(['personalizations.1.to', 'personalizations.2.to']);
    expect(errors[0]).toEqual({
      message: MESSAGES.toRequired,
      field: 'personalizations.1.to',
      help: 'http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html#message.personalizations.to',
    });
  });

  it('reports each invalid address with its exact path', () => {
    const body = {
      ...validBody(),
      personalizations: [
        {
          to: [{ email: 'ok@example.com' }, { email: 'not-an-address' }],
          cc: [{ email: 'also bad@example.com' }],
        },
        { to: [{ name: 'No email' }], bcc: [{ email: 'x@localhost' }] },
      ],
    };
    const errors = sut(body);
    expect(fields(errors)).toEqual([
      'personalizations.0.to.1.email',
      'personalizations.0.cc.0.email',
      'personalizations.1.to.0.email',
      'personalizations.1.bcc.0.email',
    ]);
    expect(errors.every((e) => e.message === MESSAGES.invalidAddress)).toBe(true);
  });

  it('rejects the same address twice in one personalization', () => {
    const body = {
      ...validBody(),
      personalizations: [{ to: [{ email: 'a@example.com' }], cc: [{ email: 'A@example.com' }] }],
    };
    expect(sut(body)).toEqual([
      expect.objectContaining({
        field: 'personalizations.0',
        message: MESSAGES.duplicateAddress('A@example.com', 'personalizations.0.cc'),
      }),
    ]);
  });

  it('requires from with a valid email', () => {
    const { from: _from, ...noFrom } = validBody();
    expect(sut(noFrom)).toEqual([
      expect.objectContaining({ field: 'from', message: MESSAGES.fromRequired }),
    ]);
    expect(sut({ ...validBody(), from: { email: 'nope' } })).toEqual([
      expect.objectContaining({ field: 'from.email', message: MESSAGES.fromInvalid }),
    ]);
  });

  describe('subject', () => {
    it('is required at message level', () => {
      const { subject: _subject, ...body } = validBody();
      expect(sut(body)).toEqual([
        expect.objectContaining({ field: 'subject', message: MESSAGES.subjectRequired }),
      ]);
      expect(sut({ ...body, subject: '' })).toEqual([
        expect.objectContaining({ field: 'subject' }),
      ]);
    });

    it('may be omitted when every personalization has one', () => {
      const { subject: _subject, ...body } = validBody();
      body.personalizations = [
        { to: [{ email: 'a@example.com' }], subject: 'A' },
        { to: [{ email: 'b@example.com' }], subject: 'B' },
      ];
      expect(sut(body)).toEqual([]);
      body.personalizations[1].subject = undefined;
      expect(fields(sut(body))).toEqual(['subject']);
    });

    it('may be omitted with a template', () => {
      const { subject: _subject, content: _content, ...body } = validBody();
      expect(sut({ ...body, template_id: 'd-0123456789abcdef0123456789abcdef' })).toEqual([]);
      expect(sut({ ...body, template_id: '13b8f94f-bcae-4ec6-b752-70d6cb59f932' })).toEqual([]);
    });
  });

  describe('content', () => {
    it('is required without a template', () => {
      const { content: _content, ...body } = validBody();
      expect(sut(body)).toEqual([
        expect.objectContaining({ field: 'content', message: MESSAGES.contentRequired }),
      ]);
      expect(fields(sut({ ...body, content: [] }))).toEqual(['content']);
    });

    it('needs a non-empty value and type in every block', () => {
      const body = {
        ...validBody(),
        content: [{ type: 'text/plain', value: '' }, { value: '<p/>' }],
      };
      expect(sut(body)).toEqual([
        expect.objectContaining({ field: 'content.0.value', message: MESSAGES.contentValue }),
        expect.objectContaining({ field: 'content.1.type', message: MESSAGES.contentType }),
      ]);
    });

    it('must put text/plain first, then text/html', () => {
      const body = {
        ...validBody(),
        content: [
          { type: 'text/html', value: '<p>Hi</p>' },
          { type: 'text/plain', value: 'Hi' },
        ],
      };
      expect(sut(body)).toEqual([{ message: MESSAGES.contentOrder, field: 'content', help: null }]);
    });
  });

  it.each([
    [['text/plain'], true],
    [['text/html'], true],
    [['text/plain', 'text/html', 'text/calendar', 'text/x-amp-html'], true],
    [['text/html', 'text/plain'], false],
    [['text/plain', 'text/plain'], false],
    [['text/calendar', 'text/html'], false],
    [['text/html', 'text/html'], false],
  ])('content order %j valid: %s', (types, expected) => {
    expect(isContentOrderValid(types)).toBe(expected);
  });

  describe('templates', () => {
    it('requires a dynamic (d-) template_id when dynamic_template_data is used', () => {
      const body = validBody();
      body.personalizations[0].dynamic_template_data = { name: 'Ada' };
      expect(sut(body)).toEqual([
        expect.objectContaining({ field: 'template_id', message: MESSAGES.templateIdRequired }),
      ]);
      expect(fields(sut({ ...body, template_id: 'legacy-template' }))).toEqual(['template_id']);
      expect(sut({ ...body, template_id: 'd-0123456789abcdef0123456789abcdef' })).toEqual([]);
    });

    it('forbids substitutions with a dynamic template', () => {
      const body = { ...validBody(), template_id: 'd-0123456789abcdef0123456789abcdef' };
      body.personalizations[0].substitutions = { '-name-': 'Ada' };
      expect(fields(sut(body))).toEqual(['personalizations.0.substitutions']);
    });
  });

  it('rejects reply_to together with reply_to_list', () => {
    const body = {
      ...validBody(),
      reply_to: { email: 'r@example.com' },
      reply_to_list: [{ email: 's@example.com' }],
    };
    expect(fields(sut(body))).toEqual(['reply_to']);
  });

  it('reports every problem at once', () => {
    expect(fields(sut({ personalizations: [{ to: [{ email: 'bad' }] }] }))).toEqual([
      'personalizations.0.to.0.email',
      'from',
      'subject',
      'content',
    ]);
  });
});

describe(isValidEmailAddress.name, () => {
  it.each(['a@example.com', 'first.last+tag@sub.example.co.uk', "o'brien@example.ie"])(
    'accepts %s',
    (email) => {
      expect(isValidEmailAddress(email)).toBe(true);
    },
  );

  it.each([
    '',
    'plain',
    '@example.com',
    'a@',
    'a@b',
    'a b@example.com',
    'a@@example.com',
    'Ada <a@example.com>',
    42,
  ])('rejects %p', (email) => {
    expect(isValidEmailAddress(email)).toBe(false);
  });
});
