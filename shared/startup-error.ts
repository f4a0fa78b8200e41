/**
 * A start that cannot go on for a reason an operator fixes outside the code
 * (a server that does not answer, a database that cannot be created). Its
 * message names the URL and the fix; server.ts prints the message alone, and
 * its stack is the message, so Moleculer's own "Unable to start" line stays
 * one line too, not a stack dump.
 */
export class StartupError extends Error {
	constructor(message: string) {
		super(message);
		this.name = "StartupError";
		this.stack = `${this.name}: ${message}`;
	}
}
