import type { ServiceBroker } from "moleculer";
import { callAction } from "../call-action.js";
import { ProductActions, type AuthUser, type CreateProductParams } from "../contracts.js";

/** A small catalog so a newcomer has something to browse and order. */
export const DEMO_PRODUCTS: Omit<CreateProductParams, "active">[] = [
	{ name: "Espresso beans, 1 kg", description: "Dark roast, notes of cocoa.", category: "coffee", price: 2490, currency: "EUR", stock: 40 },
	{ name: "Filter coffee, 500 g", description: "Light roast from Ethiopia.", category: "coffee", price: 1390, currency: "EUR", stock: 25 },
	{ name: "Hand grinder", description: "Conical steel burrs, 40 settings.", category: "equipment", price: 8900, currency: "EUR", stock: 8 },
	{ name: "Pour-over dripper", description: "Ceramic, size 02.", category: "equipment", price: 2900, currency: "EUR", stock: 15 },
	{ name: "Paper filters (100)", description: "Fits size 02 drippers.", category: "equipment", price: 590, currency: "EUR", stock: 120 },
	{ name: "Gooseneck kettle", description: "0.9 l, stovetop.", category: "equipment", price: 4500, currency: "EUR", stock: 5 },
	{ name: "Ceramic mug", description: "300 ml, hand glazed.", category: "cups", price: 1800, currency: "EUR", stock: 30 },
	{ name: "Limited edition geisha, 250 g", description: "One small lot a year.", category: "coffee", price: 5900, currency: "EUR", stock: 3 },
];

/** Creates the demo products unless the catalog already has products; returns how many it created. */
export async function seedDemoCatalog(broker: ServiceBroker, admin: AuthUser): Promise<number> {
	const existing = await callAction(broker, ProductActions.list, { pageSize: 1 });
	if (existing.total > 0) return 0;
	for (const product of DEMO_PRODUCTS) await callAction(broker, ProductActions.create, product, { meta: { user: admin } });
	return DEMO_PRODUCTS.length;
}
