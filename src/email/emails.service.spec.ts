import type { CreateEmailDto } from './dto/create-email.dto';
import { crossFieldProblems } from './emails.service';

const fields = (dto: Partial<CreateEmailDto>) =>
  crossFieldProblems({ to: ['a@x.test'], ...dto }).map((p) => p.field);

describe(crossFieldProblems.name, () => {
  it('needs subject and text or html, unless a template gives them', () => {
    expect(fields({ subject: 's', text: 't' })).toEqual([]);
    expect(fields({ subject: 's', html: '<p>h</p>' })).toEqual([]);
    expect(fields({})).toEqual(['subject', 'text']);
    expect(fields({ templateId: 'd-abc' })).toEqual([]);
    expect(fields({ subject: 's', text: 't', templateData: {} })).toEqual(['templateData']);
  });

  it('limits to, cc and bcc to 1000 addresses together, each once', () => {
    const many = (n: number, p: string) => Array.from({ length: n }, (_, i) => `${p}${i}@x.test`);
    expect(fields({ subject: 's', text: 't', to: many(500, 't'), cc: many(500, 'c') })).toEqual([]);
    expect(fields({ subject: 's', text: 't', to: many(500, 't'), bcc: many(501, 'b') })).toEqual([
      'to',
    ]);
    expect(fields({ subject: 's', text: 't', to: ['A@x.test'], cc: ['a@X.test'] })).toEqual(['to']);
  });
});
