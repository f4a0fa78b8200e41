import { useState } from "react";
import type { Backoffice, AdminSession } from "./backoffice.js";
import { Dashboard } from "./components/Dashboard.js";
import { LoginScreen } from "./components/LoginScreen.js";

/** The backoffice: the login screen until an admin has logged in, then the dashboard. */
export function App({ backoffice }: { backoffice: Backoffice }) {
	const [session, setSession] = useState<AdminSession | null>(null);
	if (!session) return <LoginScreen login={(email, password) => backoffice.login(email, password)} onLoggedIn={setSession} />;
	return <Dashboard backoffice={backoffice} session={session} />;
}
