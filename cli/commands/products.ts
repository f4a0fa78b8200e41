import type { Command } from "commander";
import { ApiClient } from "../../client/api-client.js";
import { formatMoney, table } from "../../client/format.js";
import { apiOption, positiveInteger, type CliIO } from "../common.js";

export function productsCommand(program: Command, io: CliIO): void {
	program
		.command("products")
		.description("List the catalog with prices and availability (GET /api/products)")
		.addOption(apiOption())
		.option("--q <text>", "search in product names")
		.option("--page <n>", "page number", positiveInteger)
		.action(async (opts: { api: string; q?: string; page?: number }) => {
			const page = await new ApiClient(opts.api).listProducts({ q: opts.q, page: opts.page });
			if (!page.items.length) {
				io.out(page.total ? `No products on page ${page.page} (${page.total} in ${page.totalPages} pages).` : "No products found.");
				return;
			}
			const lines = table(page.items, [
				{ header: "ID", value: (p) => p.id },
				{ header: "NAME", value: (p) => p.name },
				{ header: "CATEGORY", value: (p) => p.category ?? "-" },
				{ header: "PRICE", value: (p) => formatMoney(p.price, p.currency), align: "right" },
				{ header: "AVAILABLE", value: (p) => String(p.available), align: "right" },
			]);
			for (const line of lines) io.out(line);
			io.out(`Page ${page.page} of ${page.totalPages}, ${page.total} product(s).`);
		});
}
