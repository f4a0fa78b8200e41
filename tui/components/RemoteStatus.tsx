import { Text } from "ink";
import type { Remote } from "../use-remote.js";

/** The error of a remote read, or "Loading..." the first time; nothing once loaded. */
export function RemoteStatus({ remote, what }: { remote: Remote<unknown>; what: string }) {
	if (remote.state === "failed") return <Text color="red">{`Could not load the ${what}: ${remote.error}`}</Text>;
	if (remote.state === "loading" && remote.data === undefined) return <Text dimColor>{`Loading the ${what}...`}</Text>;
	return null;
}
