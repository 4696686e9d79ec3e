import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { CreateSmsDto } from './create-sms.dto';
import { metadataProblem } from './sms-validators';

function problems(body: Record<string, unknown>): string[] {
  return validateSync(plainToInstance(CreateSmsDto, body)).map((e) => e.property);
}

describe(CreateSmsDto.name, () => {
  it('accepts E.164 numbers and 1–1600 code points', () => {
    expect(problems({ to: '+15551234567', body: 'x' })).toEqual([]);
    expect(
      problems({ to: '+4915112345678', body: '€'.repeat(1600), from: '+15005550006' }),
    ).toEqual([]);
    expect(problems({ to: '+15551234567', body: '👍🏽'.repeat(800) })).toEqual([]);
  });

  it('refuses the rest', () => {
    expect(problems({ to: '+1555', body: 'x' })).toEqual(['to']);
    expect(problems({ to: '+15551234567', body: '👍'.repeat(1601) })).toEqual(['body']);
    expect(problems({ to: '+15551234567', body: 'x', from: 'ACME' })).toEqual(['from']);
    expect(problems({ to: '+15551234567', body: 'half an emoji \ud83d' })).toEqual(['body']);
  });
});

describe('metadataProblem', () => {
  it('allows up to 50 string pairs', () => {
    expect(metadataProblem({})).toBeUndefined();
    expect(metadataProblem({ a: '' })).toBeUndefined();
    expect(
      metadataProblem(Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v']))),
    ).toMatch(/50/);
    expect(metadataProblem({ '': 'v' })).toMatch(/keys/);
    expect(metadataProblem({ a: null })).toBe('metadata.a must be a string');
    expect(metadataProblem('x')).toBe('metadata must be an object of strings');
    expect(metadataProblem(null)).toBe('metadata must be an object of strings');
  });
});
