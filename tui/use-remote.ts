import { useEffect, useState } from "react";
import { ApiError } from "../client/api-client.js";

export type Remote<T> = { state: "loading"; data?: T } | { state: "loaded"; data: T } | { state: "failed"; error: string; data?: T };

/** Loads `load()` again whenever one of `deps` changes, keeping the last data while it reloads. */
export function useRemote<T>(load: () => Promise<T>, deps: readonly unknown[]): Remote<T> {
	const [remote, setRemote] = useState<Remote<T>>({ state: "loading" });
	useEffect(() => {
		let current = true;
		setRemote((previous) => ({ state: "loading", data: previous.data }));
		load().then(
			(data) => current && setRemote({ state: "loaded", data }),
			(err: unknown) =>
				current &&
				setRemote((previous) => ({
					state: "failed",
					error: err instanceof ApiError ? err.describe() : String((err as Error)?.message ?? err),
					data: previous.data,
				})),
		);
		return () => {
			current = false;
		};
	}, deps);
	return remote;
}
