import type { Validated } from "./params.js";

export type Role = "customer" | "admin";

/** The authenticated caller, set by the gateway (or websocket) from the access token. */
export interface AuthUser {
	id: string;
	email: string;
	role: Role;
}

/** `ctx.meta` as the gateway fills it. */
export interface RequestMeta {
	user?: AuthUser;
	idempotencyKey?: string;
	$statusCode?: number;
	/** The Location header of a 201 (moleculer-web reads it); the gateway sets it. */
	$location?: string;
}

/** The largest page any list answers. */
export const MAX_PAGE_SIZE = 100;

/** The last page a list may be asked for: its offset (at most 10^8 rows) stays an integer every store takes. */
export const MAX_PAGE = 1_000_000;

/** Which page of a list to answer: the fields every list action declares. */
export const pageParams = {
	page: { type: "number", integer: true, min: 1, max: MAX_PAGE, default: 1, convert: true },
	pageSize: { type: "number", integer: true, min: 1, max: MAX_PAGE_SIZE, default: 20, convert: true },
} as const;

export type PageParams = Validated<typeof pageParams>;

/** Every list answer: one page of items and where it stands among all of them. */
export interface Page<T> {
	items: T[];
	page: number;
	pageSize: number;
	total: number;
	totalPages: number;
}

/** The page of `items` (already cut to it) among `total` items. */
export function pageOf<T>(items: T[], total: number, { page, pageSize }: PageParams): Page<T> {
	return { items, page, pageSize, total, totalPages: Math.ceil(total / pageSize) };
}
