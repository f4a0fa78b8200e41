import { randomUUID } from "node:crypto";
import mongoose from "mongoose";
import type { Product } from "../../shared/contracts.js";

/** A catalog entry as stored in MongoDB. Stock is not here: it lives in PostgreSQL (inventory.repository.ts). */
export type CatalogDocument = Pick<Product, "name" | "description" | "category" | "price" | "currency" | "active"> & {
	_id: string;
	createdAt: Date;
	updatedAt: Date;
};

export const catalogSchema = new mongoose.Schema<CatalogDocument>(
	{
		// String ids (UUIDs) read the same in MongoDB, the memory adapter and the inventory tables.
		_id: { type: String, default: () => randomUUID() },
		name: { type: String, required: true, trim: true },
		description: { type: String, default: "" },
		category: { type: String, default: null, index: true },
		price: { type: Number, required: true, min: 0, validate: Number.isInteger },
		currency: { type: String, required: true },
		active: { type: Boolean, default: true },
		createdAt: { type: Date, required: true },
		updatedAt: { type: Date, required: true },
	},
	{ collection: "products", versionKey: false },
);
