import { Box, Text } from "ink";
import { formatTime } from "../../client/format.js";
import { describeNotification, type FeedNotification, type FeedStatus } from "../backoffice.js";

const statusText = (status: FeedStatus) => (status.state === "disconnected" ? `disconnected (${status.reason})` : status.state);

/** How many of the kept notifications fit on the screen. */
const SHOWN = 20;

/** The newest notifications first. */
export function LiveFeed({ notifications, status }: { notifications: readonly FeedNotification[]; status: FeedStatus }) {
	return (
		<Box flexDirection="column">
			<Text>
				Notifications:{" "}
				<Text color={status.state === "connected" ? "green" : status.state === "connecting" ? "yellow" : "red"}>{statusText(status)}</Text>
			</Text>
			{notifications.length === 0 ? <Text dimColor>Waiting for notifications...</Text> : null}
			{notifications.slice(0, SHOWN).map((n) => (
				<Text key={n.id} wrap="truncate">
					<Text dimColor>{formatTime(n.at).slice(11)}</Text> <Text color="cyan">{n.event.padEnd(19)}</Text> {describeNotification(n)}
				</Text>
			))}
		</Box>
	);
}
