import { Box, Text } from "ink";
import { formatMoney, table } from "../../client/format.js";
import type { Product } from "../../shared/contracts.js";
import type { AdminSession, Backoffice } from "../backoffice.js";
import { useRemote } from "../use-remote.js";
import { RemoteStatus } from "./RemoteStatus.js";

const LOW_STOCK = 5;
const availability = (p: Product) => (p.available === 0 ? "out of stock" : p.available <= LOW_STOCK ? "low" : "in stock");
const color = (p: Product) => (p.available === 0 ? "red" : p.available <= LOW_STOCK ? "yellow" : undefined);

/** The catalog with what can still be ordered; `version` changes to reload. */
export function ProductsTab({ backoffice, session, version }: { backoffice: Backoffice; session: AdminSession; version: number }) {
	const products = useRemote(() => backoffice.products(session), [backoffice, session, version]);
	const page = products.data;
	if (!page) return <RemoteStatus remote={products} what="products" />;
	const [header, rule, ...rows] = table(page.items, [
		{ header: "NAME", value: (p) => p.name },
		{ header: "CATEGORY", value: (p) => p.category ?? "-" },
		{ header: "PRICE", value: (p) => formatMoney(p.price, p.currency), align: "right" },
		{ header: "AVAILABLE", value: (p) => String(p.available), align: "right" },
		{ header: "STATE", value: availability },
	]);
	return (
		<Box flexDirection="column">
			<RemoteStatus remote={products} what="products" />
			{page.items.length === 0 ? (
				<Text dimColor>The catalog is empty.</Text>
			) : (
				<>
					<Text bold>{header}</Text>
					<Text>{rule}</Text>
					{rows.map((line, i) => (
						<Text key={page.items[i].id} color={color(page.items[i])} wrap="truncate">
							{line}
						</Text>
					))}
					<Text dimColor>{`${page.items.length} of ${page.total} product(s)`}</Text>
				</>
			)}
		</Box>
	);
}
