import type { Command } from "commander";
import { DEMO_PRODUCTS } from "../../shared/seed/demo-catalog.js";
import { ApiClient } from "../../client/api-client.js";
import { formatMoney } from "../../client/format.js";
import { adminCredentials, apiUrl, type CliIO } from "../common.js";

export function seedCommand(program: Command, io: CliIO): void {
	program
		.command("seed")
		.description("Log in as an admin and load the demo catalog, unless the catalog already has products")
		.option("--api <url>", "API base URL (default: SHOP_API_URL or http://localhost:3000/api)")
		.option("--email <email>", "admin email (default: ADMIN_EMAIL)")
		.option("--password <password>", "admin password (default: ADMIN_PASSWORD)")
		.action(async (opts: { api?: string; email?: string; password?: string }) => {
			const { email, password } = adminCredentials(opts, io);
			const client = new ApiClient(apiUrl(opts, io));
			await client.login(email, password);
			const existing = await client.listProducts({ pageSize: 1 });
			if (existing.total > 0) {
				io.out(`The catalog already has ${existing.total} product(s): nothing to seed.`);
				return;
			}
			for (const product of DEMO_PRODUCTS) {
				const created = await client.createProduct(product);
				io.out(`created  ${created.name}  ${formatMoney(created.price, created.currency)}  stock ${created.available}  (${created.id})`);
			}
			io.out(`Seeded ${DEMO_PRODUCTS.length} demo products.`);
		});
}
