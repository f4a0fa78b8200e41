/** A server URL as it may be printed: without its password. */
export function redactUrl(url: string): string {
	try {
		const parsed = new URL(url);
		if (parsed.password) parsed.password = "***";
		return parsed.toString();
	} catch {
		return "(an invalid URL)";
	}
}

/** Keys whose values are secrets, whatever they hold. */
const SECRET_KEY = /secret|password|passwd|token/i;
/** A URL that carries a password: `scheme://user:password@host...`. */
const URL_WITH_PASSWORD = /^[a-z][a-z0-9+.-]*:\/\/[^/@\s]*:[^/@\s]*@/i;

const isPlain = (field: object) => [Object.prototype, Array.prototype, null].includes(Object.getPrototypeOf(field));

/**
 * A copy of `value` as plain data that may be shown to another node or
 * printed: the passwords of URLs replaced by ***, the values under secret
 * keys too, functions and cycles left out. An instance of a class (a cacher,
 * a validator) is named, not walked: through it lies the whole running broker,
 * connections and keys included.
 */
export function withoutCredentials(value: unknown): unknown {
	const seen = new WeakSet<object>();
	return JSON.parse(
		JSON.stringify(value, (key, field: unknown) => {
			if (SECRET_KEY.test(key) && field !== undefined && field !== null && typeof field !== "object") return "***";
			if (typeof field === "string" && URL_WITH_PASSWORD.test(field)) return redactUrl(field);
			if (typeof field === "object" && field !== null) {
				if (!isPlain(field)) return `[${field.constructor?.name ?? "object"}]`;
				if (seen.has(field)) return undefined;
				seen.add(field);
			}
			return field;
		}) ?? "null",
	);
}
