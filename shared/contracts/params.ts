/**
 * One declaration per action: its name and its params schema, written once
 * for fastest-validator (the broker validates every call with it) and read by
 * the compiler, which derives the params' TypeScript types from it. The
 * service spreads the schema into its action, callers use the name and the
 * derived types, so neither side can drift from the other.
 *
 * The rules below are the part of fastest-validator this project uses; a rule
 * outside them is a compile error here rather than a type nobody checked.
 */

interface RuleBase {
	optional?: boolean;
	nullable?: boolean;
	default?: unknown;
	convert?: boolean;
}

interface StringRule extends RuleBase {
	type: "string";
	min?: number;
	max?: number;
	trim?: boolean;
	uppercase?: boolean;
	pattern?: RegExp;
}

interface NumberRule extends RuleBase {
	type: "number";
	integer?: boolean;
	min?: number;
	max?: number;
}

interface BooleanRule extends RuleBase {
	type: "boolean";
}

interface EmailRule extends RuleBase {
	type: "email";
	normalize?: boolean;
	max?: number;
}

interface UuidRule extends RuleBase {
	type: "uuid";
}

interface DateRule extends RuleBase {
	type: "date";
}

interface EnumRule extends RuleBase {
	type: "enum";
	values: readonly (string | number)[];
}

interface ArrayRule extends RuleBase {
	type: "array";
	items: Rule;
	min?: number;
	max?: number;
}

interface ObjectRule extends RuleBase {
	type: "object";
	strict?: boolean | "remove";
	props: Fields;
}

/** fastest-validator's shorthand: the type's name alone. */
type ShorthandRule = "string" | "uuid" | "email";

export type Rule = StringRule | NumberRule | BooleanRule | EmailRule | UuidRule | DateRule | EnumRule | ArrayRule | ObjectRule | ShorthandRule;

/** An action's params: a rule per field. */
export type ParamsSchema = { readonly [field: string]: Rule };

type Fields = ParamsSchema;

/** The schema the broker validates with: unknown fields are removed before the handler sees them (no mass assignment). */
export type StrictParams<Params extends ParamsSchema> = Params & { readonly $$strict: "remove" };

type Value<R> = R extends "string" | "uuid" | "email"
	? string
	: R extends { type: "string" | "uuid" | "email" }
		? string
		: R extends { type: "number" }
			? number
			: R extends { type: "boolean" }
				? boolean
				: R extends { type: "date" }
					? Date
					: R extends { type: "enum"; values: readonly (infer V)[] }
						? V
						: R extends { type: "array"; items: infer I }
							? Value<I>[]
							: R extends { type: "object"; props: infer P }
								? Validated<P>
								: never;

type Nullable<R> = R extends { nullable: true } ? null : never;

type FieldNames<S> = Exclude<keyof S, `$$${string}`>;

/** Fields a handler may find missing: optional ones without a default. */
type MaybeMissing<S> = { [K in FieldNames<S>]: S[K] extends { optional: true } ? (S[K] extends { default: unknown } ? never : K) : never }[FieldNames<S>];

/** Fields a caller may leave out: optional ones, and those with a default. */
type MayOmit<S> = { [K in FieldNames<S>]: S[K] extends { optional: true } | { default: unknown } ? K : never }[FieldNames<S>];

type Flatten<T> = { [K in keyof T]: T[K] } & {};

/** What the handler receives once the broker validated the params (defaults applied, conversions done). */
export type Validated<S> = Flatten<
	{ [K in Exclude<FieldNames<S>, MaybeMissing<S>>]: Value<S[K]> | Nullable<S[K]> } & {
		[K in MaybeMissing<S>]?: Value<S[K]> | Nullable<S[K]>;
	}
>;

/** A field the validator converts may also be sent as text (a query string's, a date's ISO form). */
type Sent<R> = Value<R> | Nullable<R> | (R extends { convert: true } ? string : never);

/** What a caller sends: defaulted fields may be left out. */
export type Input<S> = Flatten<{ [K in Exclude<FieldNames<S>, MayOmit<S>>]: Sent<S[K]> } & { [K in MayOmit<S>]?: Sent<S[K]> }>;

/**
 * An action of the contract. `Result` is the answer's type: it exists only
 * for the compiler (callers' `ctx.call` and the handler's return type).
 */
export interface ActionContract<Name extends string = string, Params extends ParamsSchema = ParamsSchema, Result = unknown> {
	readonly name: Name;
	readonly params: StrictParams<Params>;
	readonly result?: Result;
}

/** Declares an action: `action<Result>()("service.name", { ...fields })`. */
export function action<Result>() {
	return <const Name extends string, const Params extends ParamsSchema>(name: Name, params: Params): ActionContract<Name, Params, Result> => ({
		name,
		params: { $$strict: "remove", ...params },
	});
}

/** The params a handler of `A` receives. */
export type ParamsOf<A extends ActionContract> = Validated<A["params"]>;

/** The params a caller of `A` sends. */
export type CallParamsOf<A extends ActionContract> = Input<A["params"]>;

/** The answer of `A`. */
export type ResultOf<A extends ActionContract> = Exclude<A["result"], undefined>;
