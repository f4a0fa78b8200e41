import { Box, Text, useApp, useInput } from "ink";
import { useEffect, useState } from "react";
import { Events } from "../../shared/contracts.js";
import type { AdminSession, Backoffice, FeedNotification, FeedStatus } from "../backoffice.js";
import { LiveFeed } from "./LiveFeed.js";
import { OrdersTab } from "./OrdersTab.js";
import { ProductsTab } from "./ProductsTab.js";
import { TabBar } from "./TabBar.js";

const FEED_SIZE = 100;
const ORDER_EVENTS: string[] = [Events.orderStatus, Events.paymentStatus];
const PRODUCT_EVENTS: string[] = [Events.productUnavailable, Events.productBackInStock];

type TabKey = "1" | "2" | "3";

/** The logged-in admin's screen: live feed, orders, products; 1/2/3 switch, r reloads, q quits. */
export function Dashboard({ backoffice, session }: { backoffice: Backoffice; session: AdminSession }) {
	const { exit } = useApp();
	const [tab, setTab] = useState<TabKey>("1");
	const [feed, setFeed] = useState<FeedNotification[]>([]);
	const [status, setStatus] = useState<FeedStatus>({ state: "connecting" });
	// Bumped to reload a tab: by hand (r) or when a notification says its data changed.
	const [ordersVersion, setOrdersVersion] = useState(0);
	const [productsVersion, setProductsVersion] = useState(0);

	useEffect(
		() =>
			backoffice.subscribe(session, {
				onStatus: setStatus,
				onNotification(notification) {
					setFeed((previous) => [notification, ...previous.filter((n) => n.id !== notification.id)].slice(0, FEED_SIZE));
					if (ORDER_EVENTS.includes(notification.event)) setOrdersVersion((v) => v + 1);
					if (PRODUCT_EVENTS.includes(notification.event)) setProductsVersion((v) => v + 1);
				},
			}),
		[backoffice, session],
	);

	useInput((input) => {
		if (input === "1" || input === "2" || input === "3") setTab(input);
		else if (input === "r") {
			setOrdersVersion((v) => v + 1);
			setProductsVersion((v) => v + 1);
		} else if (input === "q") exit();
	});

	const tabs = [
		{ key: "1", label: `Live feed (${feed.length})` },
		{ key: "2", label: "Orders" },
		{ key: "3", label: "Products" },
	];
	return (
		<Box flexDirection="column">
			<Text>
				<Text bold>Shop backoffice</Text> <Text dimColor>{`${session.user.email} at ${backoffice.apiUrl}`}</Text>
			</Text>
			<TabBar tabs={tabs} active={tab} />
			<Box marginTop={1} flexDirection="column">
				{tab === "1" ? <LiveFeed notifications={feed} status={status} /> : null}
				{tab === "2" ? <OrdersTab backoffice={backoffice} session={session} version={ordersVersion} /> : null}
				{tab === "3" ? <ProductsTab backoffice={backoffice} session={session} version={productsVersion} /> : null}
			</Box>
		</Box>
	);
}
