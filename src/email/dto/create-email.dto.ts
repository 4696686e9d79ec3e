import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsEmail,
  IsObject,
  IsString,
  Length,
  Matches,
  MaxLength,
  MinLength,
  ValidateBy,
  ValidateIf,
  type ValidationOptions,
} from 'class-validator';

/** SendGrid's limits (Mail Send reference): recipients per request and categories per message. */
export const MAX_RECIPIENTS = 1000;
export const MAX_CATEGORIES = 10;
/** RFC 5322's line limit, which a subject header must fit. */
export const MAX_SUBJECT_LENGTH = 998;
export const MAX_ADDRESS_LENGTH = 254;
export const TEMPLATE_ID_PATTERN = /^d-[A-Za-z0-9]{1,64}$/;

const MAX_METADATA_KEYS = 50;
const MAX_METADATA_KEY_LENGTH = 40;
const MAX_METADATA_VALUE_LENGTH = 500;

/** One address or a list: the API accepts both, the service works with lists. */
/**
 * The field may be left out; `null` is not "left out": it meets the field's
 * checks and fails them (a null templateId once skipped every rule of an
 * untemplated email, which SendGrid then refused after the 202).
 */
const Absent = (): PropertyDecorator =>
  ValidateIf((_object: object, value: unknown) => value !== undefined);

const toList = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' ? [value] : value;

const codePoints = (value: string): number => [...value].length;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** 1 to `max` Unicode characters (code points, not UTF-16 units). */
function CharacterLength(max: number, options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'characterLength',
      validator: {
        validate: (value: unknown) =>
          typeof value === 'string' && codePoints(value) >= 1 && codePoints(value) <= max,
        defaultMessage: () => `$property must be 1 to ${max} characters`,
      },
    },
    options,
  );
}

/** CONTRACT "Payments" `metadata`: at most 50 string pairs, keys ≤ 40, values ≤ 500 characters. */
function IsMetadata(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isMetadata',
      validator: {
        validate: (value: unknown) =>
          isPlainObject(value) &&
          Object.keys(value).length <= MAX_METADATA_KEYS &&
          Object.entries(value).every(
            ([k, v]) =>
              k.length >= 1 &&
              codePoints(k) <= MAX_METADATA_KEY_LENGTH &&
              typeof v === 'string' &&
              codePoints(v) <= MAX_METADATA_VALUE_LENGTH,
          ),
        defaultMessage: () =>
          `metadata must be an object of at most ${MAX_METADATA_KEYS} string values, keys of 1 to ${MAX_METADATA_KEY_LENGTH} and values of at most ${MAX_METADATA_VALUE_LENGTH} characters`,
      },
    },
    options,
  );
}

const addressListProperty = (description: string) => ({
  description,
  oneOf: [
    { type: 'string', format: 'email' },
    {
      type: 'array',
      items: { type: 'string', format: 'email' },
      minItems: 1,
      maxItems: MAX_RECIPIENTS,
    },
  ],
});

/** `POST /emails` (CONTRACT "Email"); rules across fields are checked by the service. */
export class CreateEmailDto {
  @ApiProperty({
    ...addressListProperty('one address or a list; without cc/bcc each gets its own copy'),
    example: ['ada@example.com'],
  })
  @Transform(toList)
  @IsArray({ message: `to must be an email address or a list of 1 to ${MAX_RECIPIENTS} addresses` })
  @ArrayMinSize(1, { message: 'to must name at least one address' })
  @ArrayMaxSize(MAX_RECIPIENTS, { message: `to must name at most ${MAX_RECIPIENTS} addresses` })
  @IsEmail({}, { each: true, message: 'to must contain only valid email addresses' })
  @MaxLength(MAX_ADDRESS_LENGTH, {
    each: true,
    message: `to addresses must be at most ${MAX_ADDRESS_LENGTH} characters`,
  })
  to!: string[];

  @ApiPropertyOptional(addressListProperty('carbon copies; all recipients then share one copy'))
  @Absent()
  @Transform(toList)
  @IsArray({ message: 'cc must be an email address or a list of addresses' })
  @ArrayMinSize(1, { message: 'cc must name at least one address when present' })
  @IsEmail({}, { each: true, message: 'cc must contain only valid email addresses' })
  @MaxLength(MAX_ADDRESS_LENGTH, {
    each: true,
    message: `cc addresses must be at most ${MAX_ADDRESS_LENGTH} characters`,
  })
  cc?: string[];

  @ApiPropertyOptional(addressListProperty('blind copies; all recipients then share one copy'))
  @Absent()
  @Transform(toList)
  @IsArray({ message: 'bcc must be an email address or a list of addresses' })
  @ArrayMinSize(1, { message: 'bcc must name at least one address when present' })
  @IsEmail({}, { each: true, message: 'bcc must contain only valid email addresses' })
  @MaxLength(MAX_ADDRESS_LENGTH, {
    each: true,
    message: `bcc addresses must be at most ${MAX_ADDRESS_LENGTH} characters`,
  })
  bcc?: string[];

  @ApiPropertyOptional({
    format: 'email',
    description: 'defaults to SENDGRID_FROM_EMAIL',
    example: 'noreply@example.com',
  })
  @Absent()
  @IsEmail({}, { message: 'from must be an email address' })
  @MaxLength(MAX_ADDRESS_LENGTH, { message: 'from must be an email address' })
  from?: string;

  @ApiPropertyOptional({ format: 'email' })
  @Absent()
  @IsEmail({}, { message: 'replyTo must be an email address' })
  @MaxLength(MAX_ADDRESS_LENGTH, { message: 'replyTo must be an email address' })
  replyTo?: string;

  @ApiPropertyOptional({
    minLength: 1,
    maxLength: MAX_SUBJECT_LENGTH,
    description: 'required unless templateId is given',
    example: 'Your receipt',
  })
  @Absent()
  @IsString({ message: 'subject must be a string' })
  @CharacterLength(MAX_SUBJECT_LENGTH)
  @Matches(/^[^\r\n]*$/, { message: 'subject must not contain line breaks' })
  subject?: string;

  @ApiPropertyOptional({ description: 'text or html is required unless templateId is given' })
  @Absent()
  @IsString({ message: 'text must be a string' })
  @MinLength(1, { message: 'text must not be empty' })
  text?: string;

  @ApiPropertyOptional({ description: 'text or html is required unless templateId is given' })
  @Absent()
  @IsString({ message: 'html must be a string' })
  @MinLength(1, { message: 'html must not be empty' })
  html?: string;

  @ApiPropertyOptional({
    description: 'a SendGrid dynamic template',
    pattern: TEMPLATE_ID_PATTERN.source,
    example: 'd-13b8f94fbcae4ec6b75270d6cb59f932',
  })
  @Absent()
  @IsString({ message: 'templateId must be a dynamic template id (d-…)' })
  @Matches(TEMPLATE_ID_PATTERN, { message: 'templateId must be a dynamic template id (d-…)' })
  templateId?: string;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    description: "the template's dynamic data; only with templateId",
  })
  @Absent()
  @IsObject({ message: 'templateData must be an object' })
  templateData?: Record<string, unknown>;

  @ApiPropertyOptional({ type: [String], maxItems: MAX_CATEGORIES })
  @Absent()
  @IsArray({ message: `categories must be a list of at most ${MAX_CATEGORIES} strings` })
  @ArrayMaxSize(MAX_CATEGORIES, {
    message: `categories must be a list of at most ${MAX_CATEGORIES} strings`,
  })
  @ArrayUnique({ message: 'categories must not repeat' })
  @IsString({ each: true, message: 'categories must be strings' })
  @Length(1, 255, { each: true, message: 'each category must be 1 to 255 characters' })
  categories?: string[];

  @ApiPropertyOptional({ type: 'object', additionalProperties: { type: 'string' } })
  @Absent()
  @IsMetadata()
  metadata?: Record<string, string>;
}
