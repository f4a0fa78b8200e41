/**
 * The login form's state and the keys that change it, in the order they were
 * typed. Ink hands over whatever one read of the terminal brought as one
 * input: keys typed faster than the screen redraws, or a pasted line, arrive
 * together ("me@example.com\tsecret\r", "\x7f\x7f\x7f"), and ink-text-input
 * inserts such an input into its field as it is. So the form reads every
 * change of a field as the keys it is made of (editKeys) and applies them one
 * after the other here: the text to the field that has the focus at that key,
 * a Tab or an Enter moving the focus before the next key.
 *
 * The form, not Ink, decides which field a key goes to, and Ink's focus
 * follows it. A text input listens through a handler that Ink renews only
 * after the screen is drawn again, so a key handed over right after a Tab or
 * a Shift+Tab (Ink splits "\x1b[Zsecret" in two) still reaches the text
 * input of the field that had the focus, with that render's text. The form
 * applies the change to the field it has moved to, at the end of its text:
 * a password typed after a Tab never lands in the Email field. Whenever the
 * form's text of a field is not the one its text input made, that input's
 * cursor is wrong; the form then has it made anew (`resets`), with the cursor
 * at the end. One key is lost in that moment: a Backspace, when the field
 * left behind has its cursor at the start (its input erases nothing there,
 * so it reports nothing).
 */

export const FIELDS = ["email", "password"] as const;
export type Field = (typeof FIELDS)[number];

export type Key = { type: "text"; text: string } | { type: "erase" } | { type: "next" } | { type: "previous" } | { type: "enter" };

export interface LoginForm {
	email: string;
	password: string;
	/** Where the next key goes. */
	field: Field;
	submitting: boolean;
	error?: string;
	/** Bumped to give a field a new text input, whose cursor is at the end. */
	resets: Record<Field, number>;
}

export type LoginFormAction =
	| {
			type: "keys";
			keys: Key[];
			/** The field whose text input reported the keys, the text it made of them, and how far from its end they begin (its cursor). */
			from?: { field: Field; text: string; fromEnd: number };
	  }
	| { type: "failed"; error: string };

export const EMPTY_LOGIN_FORM: LoginForm = { email: "", password: "", field: "email", submitting: false, resets: { email: 0, password: 0 } };

/** The keys in a piece of input: runs of printable text, and the control keys between them. */
export function keysOf(input: string): Key[] {
	const keys: Key[] = [];
	let text = "";
	const push = (key: Key) => {
		if (text) keys.push({ type: "text", text });
		text = "";
		keys.push(key);
	};
	for (let i = 0; i < input.length; i++) {
		const char = input[i];
		if (char === "\r" || char === "\n") {
			// A pasted line may end in "\r\n": one Enter.
			if (char === "\r" && input[i + 1] === "\n") i++;
			push({ type: "enter" });
		} else if (char === "\t") push({ type: "next" });
		else if (char === "\x7f" || char === "\b") push({ type: "erase" });
		else if (char >= " ") text += char;
		// Any other control character is not text: left out.
	}
	if (text) keys.push({ type: "text", text });
	return keys;
}

/**
 * The keys that turned a field's text `before` into `after` (ink-text-input
 * inserts what was typed at its cursor, or erases the character before it),
 * and where they begin, counted from the end of the text.
 */
export function editKeys(before: string, after: string): { keys: Key[]; fromEnd: number } {
	let start = 0;
	while (start < before.length && start < after.length && before[start] === after[start]) start++;
	let end = 0;
	while (end < before.length - start && end < after.length - start && before[before.length - 1 - end] === after[after.length - 1 - end]) end++;
	const erased = before.length - start - end;
	const keys: Key[] = [...Array.from({ length: erased }, (): Key => ({ type: "erase" })), ...keysOf(after.slice(start, after.length - end))];
	return { keys, fromEnd: end };
}

export function reduceLoginForm(form: LoginForm, action: LoginFormAction): LoginForm {
	if (action.type === "failed") {
		return {
			...form,
			submitting: false,
			password: "",
			field: "password",
			error: action.error,
			resets: { ...form.resets, password: form.resets.password + 1 },
		};
	}
	if (form.submitting) return form;
	const next = applyKeys(form, action.keys, action.from);
	const resets = { ...form.resets };
	for (const field of FIELDS) {
		const made = action.from?.field === field ? action.from.text : form[field];
		if (next[field] !== made) resets[field]++;
	}
	return { ...next, resets };
}

function applyKeys(form: LoginForm, keys: readonly Key[], from?: { field: Field; fromEnd: number }): LoginForm {
	const next = { ...form };
	// A change reported by another field than the form's (its handler had not
	// been renewed yet) is typed at the end of the form's field.
	let fromEnd = from?.field === form.field ? from.fromEnd : 0;
	for (const key of keys) {
		if (next.submitting) break;
		const text = next[next.field];
		const cursor = Math.max(0, text.length - fromEnd);
		switch (key.type) {
			case "text":
				next[next.field] = text.slice(0, cursor) + key.text + text.slice(cursor);
				break;
			case "erase":
				if (cursor > 0) next[next.field] = text.slice(0, cursor - 1) + text.slice(cursor);
				break;
			case "next":
			case "previous": {
				const step = key.type === "next" ? 1 : FIELDS.length - 1;
				next.field = FIELDS[(FIELDS.indexOf(next.field) + step) % FIELDS.length];
				fromEnd = 0;
				break;
			}
			case "enter":
				if (next.field === "email") {
					next.field = "password";
					fromEnd = 0;
				} else if (!next.email.trim() || !next.password) next.error = "Type an email and a password";
				else {
					next.submitting = true;
					next.error = undefined;
				}
				break;
		}
	}
	return next;
}
