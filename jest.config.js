// ESM + ts-jest as set out in docs/decisions.md (2); run through `npm test`, which
// sets NODE_OPTIONS=--experimental-vm-modules.
/** @type {import("jest").Config} */
const config = {
	testEnvironment: "node",
	extensionsToTreatAsEsm: [".ts", ".tsx"],
	moduleNameMapper: { "^(\\.{1,2}/.*)\\.js$": "$1" },
	transform: { "^.+\\.tsx?$": ["ts-jest", { useESM: true }] },
	testMatch: ["<rootDir>/**/*.test.ts", "<rootDir>/**/*.test.tsx"],
	testPathIgnorePatterns: ["/node_modules/", "/dist/"],
	globalSetup: "<rootDir>/test/global-setup.js",
	globalTeardown: "<rootDir>/test/global-teardown.js",
	testTimeout: 30_000,
	maxWorkers: 2,
};

export default config;
