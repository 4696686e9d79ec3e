import type { FormObject } from '../core/form-body';
import { checkAmount } from './stripe-amounts';
import { invalidRequest, paramError } from './stripe-errors';
import type { NewPaymentIntent } from './stripe-objects';
import { StripeParams } from './stripe-params';
import type { PaymentIntent } from './stripe.types';

/** Behaviour that changed with API versions (dates of Stripe's API changelog). */
const AUTOMATIC_PAYMENT_METHODS_BY_DEFAULT = '2023-08-16';
const AUTOMATIC_ASYNC_CAPTURE_BY_DEFAULT = '2024-04-10';
/** The `payment_method_types` param gave way to `allowed_payment_method_types` in 2026-09-30.endive. */
const PAYMENT_METHOD_TYPES_PARAM_REMOVED = '2026-09-30';
/** Payment method types that never send the customer to another page. */
const NON_REDIRECTING_TYPES = new Set(['card']);

const CAPTURE_METHODS = ['automatic', 'automatic_async', 'manual'] as const;
const FUTURE_USAGES = ['off_session', 'on_session'] as const;

function versionAtLeast(version: string, date: string): boolean {
  return version.slice(0, 10) >= date;
}

export interface ConfirmOptions {
  offSession: boolean;
  errorOnRequiresAction: boolean;
  returnUrl?: string;
}

export interface CreatePaymentIntentParams {
  intent: Omit<NewPaymentIntent, 'created'>;
  confirm: boolean;
  paymentMethod?: string;
  confirmOptions: ConfirmOptions;
  expand?: string[];
}

export interface ConfirmPaymentIntentParams {
  paymentMethod?: string;
  confirmOptions: ConfirmOptions;
  captureMethod?: PaymentIntent['capture_method'];
  receiptEmail?: string | null;
  setupFutureUsage?: PaymentIntent['setup_future_usage'];
  allowedTypes?: string[];
  expand?: string[];
}

function offSession(p: StripeParams): boolean {
  const value = p.string('off_session');
  if (value === undefined || value === 'false') return false;
  if (value === 'true' || value === 'one_off' || value === 'recurring') return true;
  throw paramError(
    'Invalid off_session: must be a boolean or one of one_off, recurring',
    'off_session',
  );
}

function automaticPaymentMethods(
  p: StripeParams,
  legacyTypes: string[] | undefined,
  apiVersion: string,
): PaymentIntent['automatic_payment_methods'] {
  const apm = p.object('automatic_payment_methods', ['enabled', 'allow_redirects']);
  if (!apm) {
    const byDefault =
      !legacyTypes && versionAtLeast(apiVersion, AUTOMATIC_PAYMENT_METHODS_BY_DEFAULT);
    return byDefault ? { enabled: true } : null;
  }
  const nested = new StripeParams(apm, ['enabled', 'allow_redirects']);
  const enabled = nested.boolean('enabled');
  if (enabled === undefined) {
    throw paramError(
      'Missing required param: automatic_payment_methods[enabled].',
      'automatic_payment_methods[enabled]',
      'parameter_missing',
    );
  }
  const allowRedirects = nested.enum('allow_redirects', ['always', 'never'] as const);
  return { ...(allowRedirects ? { allow_redirects: allowRedirects } : {}), enabled };
}

/** `POST /v1/payment_intents`, read and checked as Stripe does for the request's API version. */
export function parseCreatePaymentIntent(
  values: FormObject,
  apiVersion: string,
): CreatePaymentIntentParams {
  const legacyTypesParam = !versionAtLeast(apiVersion, PAYMENT_METHOD_TYPES_PARAM_REMOVED);
  const p = new StripeParams(values, [
    'amount',
    'currency',
    'allowed_payment_method_types',
    'automatic_payment_methods',
    'capture_method',
    'confirm',
    'confirmation_method',
    'customer',
    'description',
    'error_on_requires_action',
    'expand',
    'metadata',
    'off_session',
    'payment_method',
    ...(legacyTypesParam ? ['payment_method_types'] : []),
    'receipt_email',
    'return_url',
    'setup_future_usage',
    'statement_descriptor',
    'statement_descriptor_suffix',
    'transfer_group',
  ]);
  const amount = p.integer('amount', { required: true }) as number;
  const currency = (p.string('currency', { required: true }) as string).toLowerCase();
  if (!/^[a-z]{3}$/.test(currency)) throw paramError(`Invalid currency: ${currency}.`, 'currency');
  checkAmount(amount, currency);

  const legacyTypes = p.stringArray('payment_method_types');
  const allowedTypes = p.stringArray('allowed_payment_method_types') ?? null;
  for (const other of ['automatic_payment_methods', 'allowed_payment_method_types'] as const) {
    if (legacyTypes && p.has(other)) {
      throw paramError(
        `You may only specify one of these parameters: ${other}, payment_method_types.`,
        other,
        'parameters_exclusive',
      );
    }
  }
  const customer = p.nullableString('customer', 5000) ?? null;
  if (customer !== null && !customer.startsWith('cus_')) {
    // The sandbox has no Customers API: a `cus_…` id is taken as existing, anything else is not.
    throw invalidRequest(`No such customer: '${customer}'`, {
      param: 'customer',
      code: 'resource_missing',
      beforeExecution: true,
    });
  }
  const confirm = p.boolean('confirm') ?? false;
  if (!confirm) {
    for (const name of ['return_url', 'off_session', 'error_on_requires_action'] as const) {
      if (p.has(name))
        throw paramError(`You can only pass \`${name}\` when \`confirm=true\`.`, name);
    }
  }
  const apm = automaticPaymentMethods(p, legacyTypes, apiVersion);
  const defaultCapture = versionAtLeast(apiVersion, AUTOMATIC_ASYNC_CAPTURE_BY_DEFAULT)
    ? 'automatic_async'
    : 'automatic';
  return {
    intent: {
      amount,
      currency,
      automaticPaymentMethods: apm,
      captureMethod: p.enum('capture_method', CAPTURE_METHODS) ?? defaultCapture,
      confirmationMethod:
        p.enum('confirmation_method', ['automatic', 'manual'] as const) ?? 'automatic',
      customer,
      description: p.nullableString('description', 1000) ?? null,
      metadata: p.metadata() ?? {},
      allowedPaymentMethodTypes: allowedTypes,
      paymentMethodTypes: legacyTypes ?? allowedTypes ?? ['card'],
      receiptEmail: p.nullableString('receipt_email') ?? null,
      setupFutureUsage: p.enum('setup_future_usage', FUTURE_USAGES) ?? null,
      statementDescriptor: p.nullableString('statement_descriptor', 22) ?? null,
      statementDescriptorSuffix: p.nullableString('statement_descriptor_suffix', 22) ?? null,
      transferGroup: p.nullableString('transfer_group') ?? null,
    },
    confirm,
    paymentMethod: p.string('payment_method'),
    confirmOptions: {
      offSession: offSession(p),
      errorOnRequiresAction: p.boolean('error_on_requires_action') ?? false,
      returnUrl: p.string('return_url'),
    },
    expand: p.stringArray('expand'),
  };
}

/** `POST /v1/payment_intents/:id/confirm`. */
export function parseConfirmPaymentIntent(values: FormObject): ConfirmPaymentIntentParams {
  const p = new StripeParams(values, [
    'allowed_payment_method_types',
    'client_secret',
    'capture_method',
    'error_on_requires_action',
    'expand',
    'off_session',
    'payment_method',
    'receipt_email',
    'return_url',
    'setup_future_usage',
  ]);
  return {
    paymentMethod: p.string('payment_method'),
    confirmOptions: {
      offSession: offSession(p),
      errorOnRequiresAction: p.boolean('error_on_requires_action') ?? false,
      returnUrl: p.string('return_url'),
    },
    captureMethod: p.enum('capture_method', CAPTURE_METHODS),
    receiptEmail: p.nullableString('receipt_email'),
    setupFutureUsage: p.enum('setup_future_usage', FUTURE_USAGES),
    allowedTypes: p.stringArray('allowed_payment_method_types'),
    expand: p.stringArray('expand'),
  };
}

/**
 * Since 2023-08-16 PaymentIntents accept the Dashboard's payment methods by
 * default, some of which redirect: confirming server-side then needs a
 * `return_url` unless redirects are switched off (or only cards are allowed).
 */
export function requireReturnUrl(
  apm: PaymentIntent['automatic_payment_methods'],
  allowedTypes: string[] | null,
  returnUrl: string | undefined,
): void {
  const onlyNonRedirecting =
    allowedTypes !== null && allowedTypes.every((t) => NON_REDIRECTING_TYPES.has(t));
  if (apm?.enabled && apm.allow_redirects !== 'never' && !onlyNonRedirecting && !returnUrl) {
    throw invalidRequest(
      "This PaymentIntent is configured to accept payment methods enabled in your Dashboard. Because some of these payment methods might redirect your customer off of your page, you must provide a `return_url`. If you don't want to accept redirect-based payment methods, set `automatic_payment_methods[enabled]` to `true` and `automatic_payment_methods[allow_redirects]` to `never` when creating Setup Intents and Payment Intents.",
      { param: 'return_url', beforeExecution: true },
    );
  }
}
