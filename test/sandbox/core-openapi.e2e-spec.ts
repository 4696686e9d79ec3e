import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

import { compileComponent, compileRequestBody, compileResponse, specFile } from './openapi';

const dir = mkdtempSync(path.join(tmpdir(), 'openapi-helper-'));

function writeSpec(name: string, doc: unknown): string {
  const file = path.join(dir, name);
  writeFileSync(file, JSON.stringify(doc));
  return file;
}

const spec30 = writeSpec('spec30.json', {
  openapi: '3.0.0',
  paths: {
    '/things/{id}': {
      post: {
        requestBody: {
          content: {
            'application/x-www-form-urlencoded': {
              schema: {
                type: 'object',
                additionalProperties: false,
                properties: {
                  count: { type: 'integer' },
                  flag: { type: 'boolean' },
                  tags: { type: 'array', items: { type: 'string' } },
                },
                required: ['count'],
              },
            },
          },
        },
        responses: {
          '200': {
            description: '',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/thing' } } },
          },
          '404': { $ref: '#/components/responses/missing' },
          default: {
            description: '',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/error' } } },
          },
        },
      },
    },
  },
  components: {
    responses: {
      missing: {
        description: '',
        content: { 'application/json': { schema: { type: 'object', required: ['missing'] } } },
      },
    },
    schemas: {
      thing: {
        type: 'object',
        additionalProperties: false,
        'x-resourceId': 'thing',
        required: ['id', 'state', 'owner', 'link'],
        properties: {
          id: { type: 'string', format: 'vendor-sid' },
          state: { type: 'string', enum: ['new', 'done'], nullable: true },
          owner: {
            anyOf: [{ type: 'string' }, { $ref: '#/components/schemas/error' }],
            nullable: true,
          },
          link: { type: 'string', format: 'uri' },
          when: { type: 'string', format: 'date-time' },
        },
      },
      error: { type: 'object', required: ['message'], properties: { message: { type: 'string' } } },
    },
  },
});

const spec31 = writeSpec('spec31.json', {
  openapi: '3.1.0',
  paths: {},
  components: {
    schemas: {
      item: {
        type: 'object',
        properties: { note: { type: ['string', 'null'] } },
        required: ['note'],
      },
    },
  },
});

describe('openapi helper', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('resolves relative spec paths under ../shared/specs', () => {
    expect(specFile('stripe/spec3.2022-04-12.json')).toMatch(
      /shared\/specs\/stripe\/spec3\.2022-04-12\.json$/,
    );
    expect(specFile(spec30)).toBe(spec30);
  });

  it('turns nullable into null unions (type, enum and anyOf) and checks known formats only', () => {
    const sut = compileComponent(spec30, 'thing');
    const valid = {
      id: 'XY12',
      state: null,
      owner: null,
      link: '/relative/uri.json',
      when: '2024-01-01T00:00:00Z',
    };

    expect(sut(valid)).toBe(true);
    expect(sut({ ...valid, state: 'done', owner: { message: 'm' } })).toBe(true);
    expect(sut({ ...valid, state: 'other' })).toBe(false);
    expect(sut({ ...valid, when: 'yesterday' })).toBe(false);
    expect(sut.errorsText()).toContain('/when');
  });

  it('tolerates newer properties on responses unless told otherwise', () => {
    const extra = {
      id: 'a',
      state: 'new',
      owner: 'o',
      link: 'https://x.test',
      added_in_2026: true,
    };

    expect(compileComponent(spec30, 'thing')(extra)).toBe(true);
    expect(compileComponent(spec30, 'thing', { tolerateAdditional: false })(extra)).toBe(false);
  });

  it('adds newer enum values where asked', () => {
    const sut = compileComponent(spec30, 'thing', {
      extraEnumValues: { '#/components/schemas/thing/properties/state': ['archived'] },
    });

    expect(sut({ id: 'a', state: 'archived', owner: null, link: 'x' })).toBe(true);
  });

  it('compiles responses by status, through $ref responses, falling back to default', () => {
    expect(
      compileResponse(
        spec30,
        '/things/{id}',
        'post',
        200,
      )({ id: 'a', state: null, owner: null, link: 'x' }),
    ).toBe(true);
    expect(compileResponse(spec30, '/things/{id}', 'post', 404)({ missing: true })).toBe(true);
    const fallback = compileResponse(spec30, '/things/{id}', 'post', 500);
    expect(fallback({ message: 'boom' })).toBe(true);
    expect(() => fallback.assert({}, 'error body')).toThrow(/error body does not match/);
  });

  it('validates form request bodies strictly, coercing strings', () => {
    const sut = compileRequestBody(spec30, '/things/{id}', 'post', { coerceTypes: true });

    expect(sut({ count: '3', flag: 'true', tags: ['a'] })).toBe(true);
    expect(sut({ count: 'three' })).toBe(false);
    expect(sut({ count: '3', unknown: 'x' })).toBe(false);
    expect(() => compileRequestBody(spec30, '/nowhere', 'post')).toThrow(/No operation/);
  });

  it('uses JSON Schema 2020-12 for OpenAPI 3.1', () => {
    const sut = compileComponent(spec31, 'item');

    expect(sut({ note: null })).toBe(true);
    expect(sut({ note: 1 })).toBe(false);
  });
});
