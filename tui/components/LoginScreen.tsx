import { Box, Text, useFocus, useFocusManager, useInput } from "ink";
import TextInput from "ink-text-input";
import { useEffect, useReducer, type Dispatch } from "react";
import { ApiError } from "../../client/api-client.js";
import type { AdminSession } from "../backoffice.js";
import { EMPTY_LOGIN_FORM, editKeys, FIELDS, reduceLoginForm, type Field, type LoginFormAction } from "./login-form.js";

interface LoginScreenProps {
	login(email: string, password: string): Promise<AdminSession>;
	onLoggedIn(session: AdminSession): void;
}

/** Email and password typed in; Tab, Shift+Tab and Enter move between the fields, Enter in the password logs in. */
export function LoginScreen({ login, onLoggedIn }: LoginScreenProps) {
	const [form, dispatch] = useReducer(reduceLoginForm, EMPTY_LOGIN_FORM);
	const { focus, disableFocus, enableFocus } = useFocusManager();

	// The form moves the focus itself (see login-form.ts), in the order of the
	// keys; Ink's own Tab handling would move it a second time. Ink's focus
	// follows the form's, a render later.
	useEffect(() => {
		disableFocus();
		return enableFocus;
	}, []);
	useEffect(() => focus(form.field), [form.field]);

	useInput((_input, key) => {
		// ink-text-input leaves Tab and Shift+Tab alone; they are keys of the form too.
		if (key.tab) dispatch({ type: "keys", keys: [{ type: key.shift ? "previous" : "next" }] });
		// Ink takes the focus away on Escape; here there is nothing else to go to.
		else if (key.escape) focus(form.field);
	});

	useEffect(() => {
		if (!form.submitting) return;
		let current = true;
		login(form.email.trim(), form.password).then(
			(session) => current && onLoggedIn(session),
			(err: unknown) => current && dispatch({ type: "failed", error: err instanceof ApiError ? err.describe() : String((err as Error)?.message ?? err) }),
		);
		return () => {
			current = false;
		};
		// Runs once per submission; the values are the ones submitted.
	}, [form.submitting]);

	return (
		<Box flexDirection="column" borderStyle="round" paddingX={1} width={60}>
			<Text bold>Shop backoffice: log in as an admin</Text>
			<Box marginY={1} flexDirection="column">
				{FIELDS.map((field) => (
					<LoginField
						key={field}
						field={field}
						value={form[field]}
						reset={form.resets[field]}
						listening={form.field === field && !form.submitting}
						dispatch={dispatch}
					/>
				))}
			</Box>
			{form.submitting ? <Text color="yellow">Logging in...</Text> : <Text dimColor>Enter: next/log in Tab, Shift+Tab: move Ctrl+C: quit</Text>}
			{form.error ? <Text color="red">{form.error}</Text> : null}
		</Box>
	);
}

const LABELS: Record<Field, string> = { email: "Email", password: "Password" };

interface LoginFieldProps {
	field: Field;
	value: string;
	/** A new number: a new text input (login-form.ts). */
	reset: number;
	/** Whether its text input takes the keys: the form's field, while not logging in. */
	listening: boolean;
	dispatch: Dispatch<LoginFormAction>;
}

/**
 * One labelled text input; `>` marks the one that has Ink's focus. Its text
 * input listens as soon as the form moves to it, in the same render, rather
 * than a render later when Ink's focus has followed: so once `>` shows, keys
 * reach it.
 */
function LoginField({ field, value, reset, listening, dispatch }: LoginFieldProps) {
	const { isFocused } = useFocus({ id: field });
	return (
		<Box>
			<Box width={12}>
				<Text bold={isFocused}>{`${isFocused ? ">" : " "} ${LABELS[field]}`}</Text>
			</Box>
			<TextInput
				key={reset}
				value={value}
				focus={listening}
				mask={field === "password" ? "*" : undefined}
				// `value` is the text this input had when the keys came, even when Ink
				// calls a handler of an earlier render.
				onChange={(changed) => {
					const { keys, fromEnd } = editKeys(value, changed);
					dispatch({ type: "keys", keys, from: { field, text: changed, fromEnd } });
				}}
				onSubmit={() => dispatch({ type: "keys", keys: [{ type: "enter" }] })}
			/>
		</Box>
	);
}
