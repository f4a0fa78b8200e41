// ESM + ts-jest (docs/decisions.md, 2); run through the npm scripts, which set
// NODE_OPTIONS=--experimental-vm-modules.
//
// Three tiers, each runnable alone (npm run test:unit, test:integration,
// test:e2e); `npm test` runs them all.
// - unit: `*.unit.test.ts`, no servers, seconds;
// - integration: one service (or the CLI, the backoffice) on an in-process
//   broker against the real PostgreSQL, Redis and RabbitMQ;
// - e2e: the system as processes (npm start, several nodes, fault tests);
// - security: what the system refuses to those it must not trust (test/security/).
// The tiers that need servers check them first and start jongodb (global setup).

const common = {
	testEnvironment: "node",
	extensionsToTreatAsEsm: [".ts", ".tsx"],
	moduleNameMapper: { "^(\\.{1,2}/.*)\\.js$": "$1" },
	transform: { "^.+\\.tsx?$": ["ts-jest", { useESM: true }] },
};
const withServers = {
	globalSetup: "<rootDir>/test/global-setup.js",
	globalTeardown: "<rootDir>/test/global-teardown.js",
};
const ignored = ["/node_modules/", "/dist/"];

/** @type {import("jest").Config} */
const config = {
	projects: [
		{ ...common, displayName: "unit", testMatch: ["<rootDir>/**/*.unit.test.ts?(x)"], testPathIgnorePatterns: ignored },
		{
			...common,
			...withServers,
			displayName: "integration",
			testMatch: ["<rootDir>/{services,shared,cli,tui}/**/*.test.ts?(x)", "<rootDir>/test/support/**/*.test.ts"],
			testPathIgnorePatterns: [...ignored, "\\.unit\\.test\\."],
		},
		{
			...common,
			...withServers,
			displayName: "e2e",
			testMatch: ["<rootDir>/test/**/*.test.ts"],
			testPathIgnorePatterns: [...ignored, "/test/support/", "/test/security/", "\\.unit\\.test\\."],
		},
		{ ...common, ...withServers, displayName: "security", testMatch: ["<rootDir>/test/security/**/*.test.ts"], testPathIgnorePatterns: ignored },
	],
	testTimeout: 30_000,
	maxWorkers: 2,
};

export default config;
