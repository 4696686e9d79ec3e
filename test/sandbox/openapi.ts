import { readFileSync } from 'node:fs';
import * as path from 'node:path';

import Ajv from 'ajv';
import Ajv2020 from 'ajv/dist/2020';
import type { AnySchema, ErrorObject, ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { fullFormats } from 'ajv-formats/dist/formats';

/**
 * Validates payloads against a provider's OpenAPI document (../shared/specs).
 *
 * OpenAPI is JSON Schema with dialect quirks, bridged here once for every spec:
 * - 3.0 `nullable: true` becomes a union with `null` (3.1 specs are JSON Schema 2020-12 already);
 * - `x-*` and OpenAPI-only keywords (`example`, `discriminator`, …) are ignored (ajv `strict: false`);
 * - formats ajv-formats knows are checked, except `uri`, which providers use for
 *   relative URIs (Twilio's `uri`), checked as `uri-reference`; vendor formats pass;
 * - responses tolerate properties newer than the spec (`additionalProperties: false` dropped)
 *   unless `{ tolerateAdditional: false }`; request bodies keep the spec's strictness.
 * - request bodies: pass `{ coerceTypes: true }` for form-encoded bodies, whose values all arrive as strings.
 */

export interface CompileOptions {
  /** Accept properties the spec does not list. Default: true for responses/components, false for request bodies. */
  tolerateAdditional?: boolean;
  /** Coerce strings to the schema's number/integer/boolean types (form-encoded bodies). */
  coerceTypes?: boolean;
  /**
   * Enum values the provider added after the spec was published, by JSON pointer into the
   * spec, e.g. `{ '#/components/schemas/payment_intent/properties/capture_method': ['automatic_async'] }`.
   */
  extraEnumValues?: Record<string, readonly string[]>;
}

export interface SchemaValidator {
  (data: unknown): boolean;
  /** The errors of the last call, formatted one per line; empty when valid. */
  errorsText(): string;
  /** Throws with the formatted errors when `data` is invalid (nice in `expect(() => …)`-less tests). */
  assert(data: unknown, what?: string): void;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const SPECS_DIR = path.resolve(__dirname, '../../../shared/specs');

/** `stripe/spec3.2022-04-12.json` → absolute path under ../shared/specs; absolute paths are kept. */
export function specFile(specPath: string): string {
  return path.isAbsolute(specPath) ? specPath : path.join(SPECS_DIR, specPath);
}

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

interface Transform {
  tolerateAdditional: boolean;
  extraEnumValues: Record<string, readonly string[]>;
}

function escapeSegment(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Rewrites OpenAPI 3.0 `nullable` into JSON Schema and optionally drops `additionalProperties: false`. */
function toJsonSchema(node: Json, tolerateAdditional: boolean): Json {
  if (Array.isArray(node)) return node.map((n) => toJsonSchema(n, tolerateAdditional));
  if (!isObject(node)) return node;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'nullable' && typeof value === 'boolean') continue;
    if (key === 'additionalProperties' && value === false && tolerateAdditional) continue;
    out[key] = toJsonSchema(value, tolerateAdditional);
  }
  if (node.nullable !== true) return out;
  if (typeof out.type === 'string') {
    out.type = [out.type, 'null'];
    if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
    return out;
  }
  if (Array.isArray(out.type)) {
    if (!out.type.includes('null')) out.type = [...out.type, 'null'];
    if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
    return out;
  }
  // No `type` (anyOf/oneOf/$ref only): null is one more alternative.
  return { anyOf: [out, { type: 'null' }] };
}

/** Copies the document along each pointer only, and appends the extra values to the enum found there. */
function withExtraEnums(doc: JsonObject, extras: Record<string, readonly string[]>): JsonObject {
  let root: JsonObject = doc;
  for (const [ref, values] of Object.entries(extras)) {
    const segments = ref
      .replace(/^#\//, '')
      .split('/')
      .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    root = { ...root };
    let node: JsonObject = root;
    for (const segment of segments) {
      const child = node[segment];
      if (!isObject(child))
        throw new Error(`extraEnumValues: ${ref} is not an object in the spec.`);
      const copy = { ...child };
      node[segment] = copy;
      node = copy;
    }
    if (!Array.isArray(node.enum)) throw new Error(`extraEnumValues: ${ref} has no enum.`);
    const current = node.enum;
    node.enum = [...current, ...values.filter((v) => !current.includes(v))];
  }
  return root;
}

function collectFormats(node: Json, into: Set<string>): Set<string> {
  if (Array.isArray(node)) node.forEach((n) => collectFormats(n, into));
  else if (isObject(node)) {
    for (const [key, value] of Object.entries(node)) {
      if (key === 'format' && typeof value === 'string') into.add(value);
      else collectFormats(value, into);
    }
  }
  return into;
}

interface LoadedSpec {
  doc: JsonObject;
  /** One ajv per distinct set of options (each holds its own transformed copy of the spec). */
  ajv: Map<string, Ajv>;
}

const ID_BASE = 'https://openapi.sandbox.invalid/';
const cache = new Map<string, LoadedSpec>();

function newAjv(doc: JsonObject, transform: Transform, coerceTypes: boolean): Ajv {
  const schemaDoc = toJsonSchema(
    withExtraEnums(doc, transform.extraEnumValues),
    transform.tolerateAdditional,
  );
  const is31 = typeof doc.openapi === 'string' && doc.openapi.startsWith('3.1');
  const options = {
    strict: false,
    allErrors: true,
    validateSchema: false,
    coerceTypes,
    allowUnionTypes: true,
  };
  const ajv: Ajv = is31 ? new Ajv2020(options) : new Ajv(options);
  addFormats(ajv);
  ajv.addFormat('uri', fullFormats['uri-reference']);
  for (const format of collectFormats(schemaDoc, new Set())) {
    if (!(format in fullFormats)) ajv.addFormat(format, true);
  }
  ajv.addSchema(schemaDoc as AnySchema, ID_BASE);
  return ajv;
}

function load(specPath: string): LoadedSpec {
  const file = specFile(specPath);
  const cached = cache.get(file);
  if (cached) return cached;
  const loaded: LoadedSpec = {
    doc: JSON.parse(readFileSync(file, 'utf8')) as JsonObject,
    ajv: new Map(),
  };
  cache.set(file, loaded);
  return loaded;
}

function ajvFor(spec: LoadedSpec, transform: Transform, coerce: boolean): Ajv {
  const key = JSON.stringify([
    transform.tolerateAdditional,
    coerce,
    Object.entries(transform.extraEnumValues).sort(),
  ]);
  let ajv = spec.ajv.get(key);
  if (!ajv) {
    ajv = newAjv(spec.doc, transform, coerce);
    spec.ajv.set(key, ajv);
  }
  return ajv;
}

function pointer(segments: string[]): string {
  return `#/${segments.map(escapeSegment).join('/')}`;
}

function formatErrors(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? [])
    .map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`)
    .join('\n');
}

function wrap(validate: ValidateFunction, name: string): SchemaValidator {
  let last = '';
  const fn = ((data: unknown): boolean => {
    const ok = validate(data);
    last = ok ? '' : formatErrors(validate.errors);
    return ok;
  }) as SchemaValidator;
  fn.errorsText = () => last;
  fn.assert = (data: unknown, what = name) => {
    if (!fn(data)) throw new Error(`${what} does not match ${name}:\n${last}`);
  };
  return fn;
}

function compileAt(
  specPath: string,
  segments: string[],
  options: CompileOptions,
  defaultTolerant: boolean,
): SchemaValidator {
  const transform: Transform = {
    tolerateAdditional: options.tolerateAdditional ?? defaultTolerant,
    extraEnumValues: options.extraEnumValues ?? {},
  };
  const ajv = ajvFor(load(specPath), transform, options.coerceTypes ?? false);
  return wrap(
    ajv.compile({ $ref: `${ID_BASE}${pointer(segments)}` }),
    `${path.basename(specPath)} ${pointer(segments)}`,
  );
}

function resolveLocalRef(doc: JsonObject, value: Json | undefined): Json | undefined {
  let current = value;
  for (
    let i = 0;
    i < 20 &&
    isObject(current) &&
    typeof current.$ref === 'string' &&
    current.$ref.startsWith('#/');
    i++
  ) {
    let target: Json | undefined = doc;
    for (const raw of current.$ref.slice(2).split('/')) {
      const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
      target = isObject(target) ? target[seg] : undefined;
    }
    current = target;
  }
  return current;
}

function operation(doc: JsonObject, apiPath: string, method: string): JsonObject {
  const paths = doc.paths;
  const item = isObject(paths) ? paths[apiPath] : undefined;
  const op = isObject(item) ? item[method.toLowerCase()] : undefined;
  if (!isObject(op))
    throw new Error(`No operation ${method.toUpperCase()} ${apiPath} in the spec.`);
  return op;
}

/** A validator for `#/components/schemas/<name>`. */
export function compileComponent(
  specPath: string,
  name: string,
  options: CompileOptions = {},
): SchemaValidator {
  const { doc } = load(specPath);
  const schemas = isObject(doc.components) ? doc.components.schemas : undefined;
  if (!isObject(schemas) || schemas[name] === undefined)
    throw new Error(`No component schema ${name} in ${specPath}.`);
  return compileAt(specPath, ['components', 'schemas', name], options, true);
}

/**
 * A validator for the JSON body of `status` (a number or `'default'`) answered by `method apiPath`
 * (the path exactly as the spec writes it, e.g. `/v1/payment_intents/{intent}`).
 * Falls back to the `default` response when the status is not listed.
 */
export function compileResponse(
  specPath: string,
  apiPath: string,
  method: string,
  status: number | 'default',
  options: CompileOptions & { contentType?: string } = {},
): SchemaValidator {
  const { doc } = load(specPath);
  const op = operation(doc, apiPath, method);
  const responses = op.responses;
  if (!isObject(responses)) throw new Error(`No responses for ${method} ${apiPath}.`);
  const statusKey = String(status) in responses ? String(status) : 'default';
  const response = resolveLocalRef(doc, responses[statusKey]);
  if (!isObject(response) || !isObject(response.content))
    throw new Error(`No ${status} body for ${method} ${apiPath}.`);
  const contentType = options.contentType ?? 'application/json';
  const media = response.content[contentType];
  if (!isObject(media) || media.schema === undefined)
    throw new Error(`No ${contentType} schema for ${status} of ${method} ${apiPath}.`);
  // Point into the document itself so that a `$ref`'d response object still resolves.
  const responseRef = responses[statusKey];
  const base =
    isObject(responseRef) && typeof responseRef.$ref === 'string'
      ? responseRef.$ref
          .slice(2)
          .split('/')
          .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
      : ['paths', apiPath, method.toLowerCase(), 'responses', statusKey];
  return compileAt(specPath, [...base, 'content', contentType, 'schema'], options, true);
}

/**
 * A validator for the request body of `method apiPath` in `contentType`
 * (default `application/x-www-form-urlencoded` when present, else `application/json`).
 */
export function compileRequestBody(
  specPath: string,
  apiPath: string,
  method: string,
  options: CompileOptions & { contentType?: string } = {},
): SchemaValidator {
  const { doc } = load(specPath);
  const op = operation(doc, apiPath, method);
  const bodyRef = op.requestBody;
  const body = resolveLocalRef(doc, bodyRef);
  if (!isObject(body) || !isObject(body.content))
    throw new Error(`No request body for ${method} ${apiPath}.`);
  const contentType =
    options.contentType ??
    ('application/x-www-form-urlencoded' in body.content
      ? 'application/x-www-form-urlencoded'
      : 'application/json');
  const media = body.content[contentType];
  if (!isObject(media) || media.schema === undefined)
    throw new Error(`No ${contentType} request schema for ${method} ${apiPath}.`);
  const base =
    isObject(bodyRef) && typeof bodyRef.$ref === 'string'
      ? bodyRef.$ref
          .slice(2)
          .split('/')
          .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
      : ['paths', apiPath, method.toLowerCase(), 'requestBody'];
  return compileAt(specPath, [...base, 'content', contentType, 'schema'], { ...options }, false);
}
