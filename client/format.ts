/** Plain-text formatting shared by the CLI and the backoffice. */

/** An integer amount of minor units, e.g. formatMoney(2490, "EUR") → "24.90 EUR". */
export function formatMoney(minorUnits: number, currency: string): string {
	let digits = 2;
	try {
		digits = new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits ?? 2;
	} catch {
		// An unknown code: show it with two decimals.
	}
	const sign = minorUnits < 0 ? "-" : "";
	const abs = Math.abs(minorUnits);
	if (digits === 0) return `${sign}${abs} ${currency}`;
	const scale = 10 ** digits;
	return `${sign}${Math.trunc(abs / scale)}.${String(abs % scale).padStart(digits, "0")} ${currency}`;
}

/** "2025-01-31 12:34:56" from an ISO timestamp (UTC). */
export function formatTime(iso: string): string {
	return iso.replace("T", " ").replace(/\.\d+Z$|Z$/, "");
}

export interface Column<T> {
	header: string;
	value: (row: T) => string;
	align?: "left" | "right";
}

/** Rows as aligned text columns under a header line. */
export function table<T>(rows: readonly T[], columns: readonly Column<T>[]): string[] {
	const cells = rows.map((row) => columns.map((column) => column.value(row)));
	const widths = columns.map((column, i) => Math.max(column.header.length, ...cells.map((row) => row[i].length)));
	const line = (values: string[]) =>
		values
			.map((value, i) => (columns[i].align === "right" ? value.padStart(widths[i]) : value.padEnd(widths[i])))
			.join("  ")
			.trimEnd();
	return [line(columns.map((c) => c.header)), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)];
}
