import type { Command } from "commander";
import { DEMO_PRODUCTS } from "../../shared/seed/demo-catalog.js";
import { ApiClient } from "../../client/api-client.js";
import { formatMoney } from "../../client/format.js";
import { adminEmailOption, adminPasswordOption, apiOption, type CliIO } from "../common.js";

export function seedCommand(program: Command, io: CliIO): void {
	program
		.command("seed")
		.description("Log in as an admin and load the demo catalog, unless the catalog already has products")
		.addOption(apiOption())
		.addOption(adminEmailOption("admin email"))
		.addOption(adminPasswordOption("admin password"))
		.action(async (opts: { api: string; email: string; password: string }) => {
			const client = new ApiClient(opts.api);
			await client.login(opts.email, opts.password);
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
