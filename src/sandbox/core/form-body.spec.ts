import { FormParseError, canonicalJson, parseForm } from './form-body';

describe('parseForm', () => {
  it('parses bracket notation into objects and arrays, as Stripe clients encode it', () => {
    const sut = parseForm(
      'amount=2000&currency=usd&metadata[order]=42&metadata[note]=a%20b+c&payment_method_types[0]=card&payment_method_types[1]=link' +
        '&automatic_payment_methods[enabled]=true&expand[]=latest_charge&expand[]=payment_method',
    );

    expect(sut).toEqual({
      amount: '2000',
      currency: 'usd',
      metadata: { order: '42', note: 'a b c' },
      payment_method_types: ['card', 'link'],
      automatic_payment_methods: { enabled: 'true' },
      expand: ['latest_charge', 'payment_method'],
    });
  });

  it('orders array items by index and nests deeper levels', () => {
    expect(parseForm('a[1][x]=2&a[0][x]=1&b[c][d]=e')).toEqual({
      a: [{ x: '1' }, { x: '2' }],
      b: { c: { d: 'e' } },
    });
  });

  it('decodes encoded brackets and keeps the last of a repeated scalar', () => {
    expect(parseForm('metadata%5Bk%5D=v&x=1&x=2')).toEqual({ metadata: { k: 'v' }, x: '2' });
  });

  it('keeps malformed keys literally and drops prototype-polluting ones', () => {
    const sut = parseForm('a]b=1&c[d=2&__proto__[x]=1&e[constructor]=1');

    expect(sut).toEqual({ 'a]b': '1', 'c[d': '2' });
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('refuses a key that is both a value and an object', () => {
    expect(() => parseForm('a=1&a[b]=2')).toThrow(FormParseError);
  });
});

describe('canonicalJson', () => {
  it('is independent of key order', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: 'x' } })).toBe(
      canonicalJson({ a: { c: 'x', d: [1, { x: 1, y: 2 }] }, b: 1 }),
    );
    expect(canonicalJson([1, 'a'])).not.toBe(canonicalJson(['a', 1]));
  });
});
