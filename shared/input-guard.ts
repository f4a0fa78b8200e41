import type { FieldProblem } from "./validation.js";

/** How many levels of objects and arrays a request's params may have (a top-level field is the first); no action takes more than a few. */
export const MAX_INPUT_DEPTH = 8;

/**
 * Control characters (but tab, line feed and carriage return) and halves of
 * surrogate pairs: no field of the shop holds them, PostgreSQL's text and
 * jsonb refuse NUL and lone surrogates, and MongoDB's BSON refuses NUL in a
 * key or a regular expression. With the `u` flag a lone surrogate is a code
 * point of category Cs, a whole pair is not.
 */
const FORBIDDEN_CHARACTER = /(?![\t\n\r])[\p{Cc}\p{Cs}]/u;

/**
 * What is wrong with a request's params before any action sees them, checked
 * once at the gateway for every route: a string with a forbidden character,
 * or nesting deeper than MAX_INPUT_DEPTH. Walked without recursion, so a
 * 40,000-deep array costs a loop, not the stack. Each problem names its field
 * as the validator does (`items[0].name`).
 */
export function inputProblems(params: unknown): FieldProblem[] {
	const problems: FieldProblem[] = [];
	const pending: { value: unknown; field: string; depth: number }[] = [{ value: params, field: "", depth: 0 }];
	while (pending.length) {
		const { value, field, depth } = pending.pop()!;
		if (typeof value === "string") {
			if (FORBIDDEN_CHARACTER.test(value)) {
				problems.push({ type: "stringCharacters", field, message: `The '${field}' field must not contain control characters or unpaired surrogates.` });
			}
			continue;
		}
		if (typeof value !== "object" || value === null) continue;
		if (depth > MAX_INPUT_DEPTH) {
			problems.push({
				type: "objectDepth",
				field,
				message: `The '${field}' field is nested deeper than ${MAX_INPUT_DEPTH} levels.`,
				expected: MAX_INPUT_DEPTH,
			});
			continue;
		}
		for (const [key, child] of Object.entries(value)) {
			if (FORBIDDEN_CHARACTER.test(key)) {
				problems.push({
					type: "stringCharacters",
					field: field || key,
					message: "A field name must not contain control characters or unpaired surrogates.",
				});
				continue;
			}
			const path = Array.isArray(value) ? `${field}[${key}]` : field ? `${field}.${key}` : key;
			pending.push({ value: child, field: path, depth: depth + 1 });
		}
	}
	return problems.reverse();
}
