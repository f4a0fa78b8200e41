import { Errors, Validators } from "moleculer";

/**
 * How every action's params are checked (moleculer.config.ts `validator:`).
 *
 * fastest-validator's own messages put the allowed values where the sent one
 * belongs ("The 'sort' field value 'name, -name, …' does not match any of the
 * allowed values"); these name the field, what is allowed and what was sent.
 * A string that fails a length check comes back as its length, never itself,
 * so a password is never repeated in an error; a string is repeated only by
 * the checks of identifiers and choices (enum, pattern, uuid, e-mail). A
 * value of the wrong type is repeated by the number, boolean and date checks
 * (a query string's "abc"), never by the string, array and object ones.
 *
 * fastest-validator pastes each message into generated code between double
 * quotes: none may contain a double quote or a backslash.
 */
export const VALIDATION_MESSAGES: Record<string, string> = {
	required: "The '{field}' field is required.",

	string: "The '{field}' field must be a string.",
	stringEmpty: "The '{field}' field must not be empty.",
	stringMin: "The '{field}' field must be at least {expected} characters long; got {actual}.",
	stringMax: "The '{field}' field must be at most {expected} characters long; got {actual}.",
	stringLength: "The '{field}' field must be exactly {expected} characters long; got {actual}.",
	stringPattern: "The '{field}' field must match {expected}; got '{actual}'.",
	stringEnum: "The '{field}' field must be one of {expected}; got '{actual}'.",

	number: "The '{field}' field must be a number; got '{actual}'.",
	numberMin: "The '{field}' field must be at least {expected}; got {actual}.",
	numberMax: "The '{field}' field must be at most {expected}; got {actual}.",
	numberEqual: "The '{field}' field must be {expected}; got {actual}.",
	numberNotEqual: "The '{field}' field must not be {expected}.",
	numberInteger: "The '{field}' field must be an integer; got {actual}.",
	numberPositive: "The '{field}' field must be a positive number; got {actual}.",
	numberNegative: "The '{field}' field must be a negative number; got {actual}.",

	array: "The '{field}' field must be an array.",
	arrayEmpty: "The '{field}' field must not be an empty array.",
	arrayMin: "The '{field}' field must have at least {expected} items; got {actual}.",
	arrayMax: "The '{field}' field must have at most {expected} items; got {actual}.",
	arrayLength: "The '{field}' field must have exactly {expected} items; got {actual}.",
	arrayEnum: "Every item of the '{field}' field must be one of {expected}; got '{actual}'.",

	boolean: "The '{field}' field must be true or false; got '{actual}'.",
	date: "The '{field}' field must be a date; got '{actual}'.",
	enumValue: "The '{field}' field must be one of {expected}; got '{actual}'.",
	email: "The '{field}' field must be a valid e-mail address; got '{actual}'.",
	emailEmpty: "The '{field}' field must not be empty.",
	emailMin: "The '{field}' field must be at least {expected} characters long; got {actual}.",
	emailMax: "The '{field}' field must be at most {expected} characters long; got {actual}.",
	uuid: "The '{field}' field must be a UUID; got '{actual}'.",
	object: "The '{field}' field must be an object.",
	objectStrict: "The '{field}' object may only have {expected}; got {actual}.",
};

/** The broker's validator: fastest-validator with the messages above. */
export function createValidator(): InstanceType<typeof Validators.Fastest> {
	// Moleculer 0.14's typings declare no constructor options for it; it passes them to fastest-validator.
	const Fastest = Validators.Fastest as unknown as new (options: object) => InstanceType<typeof Validators.Fastest>;
	return new Fastest({ useNewCustomCheckerFunction: true, messages: VALIDATION_MESSAGES });
}

/** One invalid field, as fastest-validator reports it and the gateway answers it. */
export interface FieldProblem {
	field: string;
	type: string;
	message: string;
	actual?: unknown;
	expected?: unknown;
}

/**
 * The rules whose `actual` the messages above repeat: a length, a count, a
 * number, or a string checked as an identifier or a choice. Any other (a
 * string that may be a password) stays out of the answer, as it stays out of
 * the message.
 */
const REPEATABLE_ACTUAL = new Set([
	"stringMin",
	"stringMax",
	"stringLength",
	"stringEnum",
	"stringPattern",
	"number",
	"numberMin",
	"numberMax",
	"numberEqual",
	"numberInteger",
	"numberPositive",
	"numberNegative",
	"arrayMin",
	"arrayMax",
	"arrayLength",
	"arrayEnum",
	"boolean",
	"date",
	"enumValue",
	"uuid",
	"email",
	"emailMin",
	"emailMax",
]);

const isPrimitive = (value: unknown): value is string | number | boolean => ["string", "number", "boolean"].includes(typeof value);

/** A validation error's entries as a client sees them: no node or action names, only safe values. */
export function publicFieldProblems(data: unknown): FieldProblem[] {
	if (!Array.isArray(data)) return [];
	return (data as FieldProblem[]).map(({ field, type, message, actual, expected }) => ({
		field,
		type,
		message,
		...(REPEATABLE_ACTUAL.has(type) && isPrimitive(actual) && { actual }),
		...(isPrimitive(expected) && { expected }),
	}));
}

/** A 422 VALIDATION_ERROR that a handler raises for what a schema cannot say (two fields that contradict each other). */
export function fieldsError(problems: FieldProblem[]): Errors.ValidationError {
	const fields = [...new Set(problems.map((p) => p.field))];
	return new Errors.ValidationError(`Invalid fields: ${fields.join(", ")}`, "VALIDATION_ERROR", problems);
}
