import { Box, Text, useInput } from "ink";
import { useEffect, useReducer } from "react";
import { ApiError } from "../../client/api-client.js";
import type { AdminSession } from "../backoffice.js";
import { TextField } from "./TextField.js";

interface LoginScreenProps {
	login(email: string, password: string): Promise<AdminSession>;
	onLoggedIn(session: AdminSession): void;
}

type Field = "email" | "password";
interface FormState {
	email: string;
	password: string;
	focus: Field;
	submitting: boolean;
	error?: string;
}
type FormAction = { type: "type"; text: string } | { type: "erase" } | { type: "switch" } | { type: "enter" } | { type: "failed"; error: string };

function reduce(state: FormState, action: FormAction): FormState {
	if (state.submitting && action.type !== "failed") return state;
	switch (action.type) {
		case "type":
			return { ...state, [state.focus]: state[state.focus] + action.text };
		case "erase":
			return { ...state, [state.focus]: state[state.focus].slice(0, -1) };
		case "switch":
			return { ...state, focus: state.focus === "email" ? "password" : "email" };
		case "enter":
			if (state.focus === "email") return { ...state, focus: "password" };
			if (!state.email || !state.password) return { ...state, error: "Type an email and a password" };
			return { ...state, submitting: true, error: undefined };
		case "failed":
			return { ...state, submitting: false, password: "", focus: "password", error: action.error };
	}
}

/** Email and password typed in; Tab or arrows move between fields, Enter submits. */
export function LoginScreen({ login, onLoggedIn }: LoginScreenProps) {
	const [form, dispatch] = useReducer(reduce, { email: "", password: "", focus: "email", submitting: false });

	useInput((input, key) => {
		if (key.return) dispatch({ type: "enter" });
		else if (key.tab || key.upArrow || key.downArrow) dispatch({ type: "switch" });
		else if (key.backspace || key.delete) dispatch({ type: "erase" });
		else if (!key.ctrl && !key.meta && !key.escape) {
			// Printable characters only (a paste arrives as one string).
			const text = input.replace(/[\u0000-\u001f\u007f]/g, "");
			if (text) dispatch({ type: "type", text });
		}
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
				<TextField label="Email" value={form.email} focused={form.focus === "email"} />
				<TextField label="Password" value={form.password} focused={form.focus === "password"} mask />
			</Box>
			{form.submitting ? <Text color="yellow">Logging in...</Text> : <Text dimColor>Enter: next / log in   Tab: switch field   Ctrl+C: quit</Text>}
			{form.error ? <Text color="red">{form.error}</Text> : null}
		</Box>
	);
}
