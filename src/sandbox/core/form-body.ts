/**
 * `application/x-www-form-urlencoded` with bracket notation, as Stripe's SDKs
 * send it: `metadata[order]=1`, `payment_method_types[0]=card`, `expand[]=x`.
 * Objects whose keys are all array indices become arrays, in index order.
 */
export type FormValue = string | FormValue[] | FormObject;
export interface FormObject {
  [key: string]: FormValue;
}

export class FormParseError extends Error {
  constructor(
    message: string,
    readonly param: string,
  ) {
    super(message);
    this.name = 'FormParseError';
  }
}

const UNSAFE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** `a[b][0]` → `['a', 'b', '0']`; `a[]` → `['a', '']`. */
function splitKey(key: string): string[] {
  const open = key.indexOf('[');
  if (open <= 0 || !key.endsWith(']')) return [key];
  const parts = [key.slice(0, open)];
  const re = /\[([^[\]]*)\]/g;
  let consumed = open;
  for (let m = re.exec(key); m !== null; m = re.exec(key)) {
    if (m.index !== consumed) return [key];
    parts.push(m[1]);
    consumed = m.index + m[0].length;
  }
  return consumed === key.length ? parts : [key];
}

interface Node {
  children: Map<string, Node>;
  appended: Node[];
  value?: string;
}

function newNode(): Node {
  return { children: new Map(), appended: [] };
}

function toValue(node: Node, path: string): FormValue {
  const hasChildren = node.children.size > 0 || node.appended.length > 0;
  if (node.value !== undefined) {
    if (hasChildren)
      throw new FormParseError(
        `Invalid value for ${path}: both a value and nested keys were sent.`,
        path,
      );
    return node.value;
  }
  const keys = [...node.children.keys()];
  if (node.appended.length > 0 || (keys.length > 0 && keys.every((k) => /^\d+$/.test(k)))) {
    if (keys.some((k) => !/^\d+$/.test(k)))
      throw new FormParseError(`Invalid array: ${path}`, path);
    const indexed = keys
      .map((k) => [Number(k), node.children.get(k) as Node] as const)
      .sort((a, b) => a[0] - b[0])
      .map(([i, child]) => toValue(child, `${path}[${i}]`));
    return [
      ...indexed,
      ...node.appended.map((child, i) => toValue(child, `${path}[${keys.length + i}]`)),
    ];
  }
  const out: FormObject = {};
  for (const [k, child] of node.children)
    out[k] = toValue(child, path === '' ? k : `${path}[${k}]`);
  return out;
}

export function parseForm(input: string | URLSearchParams): FormObject {
  const params = typeof input === 'string' ? new URLSearchParams(input) : input;
  const root = newNode();
  for (const [key, value] of params) {
    const parts = splitKey(key);
    if (parts.some((p) => UNSAFE_KEYS.has(p))) continue;
    let node = root;
    parts.forEach((part, i) => {
      let next: Node | undefined;
      if (part === '' && i > 0) {
        next = newNode();
        node.appended.push(next);
      } else {
        next = node.children.get(part);
        if (!next) {
          next = newNode();
          node.children.set(part, next);
        }
      }
      node = next;
    });
    // A repeated scalar key: the last one wins, as in Rails/Rack-style parsers.
    node.value = value;
  }
  const parsed = toValue(root, '');
  return Array.isArray(parsed) || typeof parsed === 'string' ? {} : parsed;
}

/** A stable serialisation, so that two equal parameter sets compare equal whatever their order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
