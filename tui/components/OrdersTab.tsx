import { Box, Text } from "ink";
import { formatMoney, formatTime, table } from "../../client/format.js";
import type { AdminSession, Backoffice } from "../backoffice.js";
import { useRemote } from "../use-remote.js";
import { RemoteStatus } from "./RemoteStatus.js";

/** The latest orders of every customer; `version` changes to reload. */
export function OrdersTab({ backoffice, session, version }: { backoffice: Backoffice; session: AdminSession; version: number }) {
	const orders = useRemote(() => backoffice.latestOrders(session), [backoffice, session, version]);
	const page = orders.data;
	if (!page) return <RemoteStatus remote={orders} what="orders" />;
	const [header, rule, ...rows] = table(page.items, [
		{ header: "ORDER", value: (o) => o.id.slice(0, 8) },
		{ header: "STATUS", value: (o) => o.status },
		{ header: "TOTAL", value: (o) => formatMoney(o.totalAmount, o.currency), align: "right" },
		{ header: "UNITS", value: (o) => String(o.items.reduce((sum, line) => sum + line.quantity, 0)), align: "right" },
		{ header: "CUSTOMER", value: (o) => o.userId.slice(0, 8) },
		{ header: "CREATED (UTC)", value: (o) => formatTime(o.createdAt) },
	]);
	return (
		<Box flexDirection="column">
			<RemoteStatus remote={orders} what="orders" />
			{page.items.length === 0 ? (
				<Text dimColor>No orders yet.</Text>
			) : (
				<>
					<Text bold>{header}</Text>
					<Text>{rule}</Text>
					{rows.map((line, i) => (
						<Text key={page.items[i].id} wrap="truncate">
							{line}
						</Text>
					))}
					<Text dimColor>{`latest ${page.items.length} of ${page.total} order(s)`}</Text>
				</>
			)}
		</Box>
	);
}
