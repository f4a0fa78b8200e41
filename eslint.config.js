import js from "@eslint/js";
import prettier from "eslint-config-prettier";
import globals from "globals";
import tseslint from "typescript-eslint";

// Formatting is Prettier's (.prettierrc.json); this checks what a formatter cannot.
export default tseslint.config(
	{ ignores: ["dist/", "node_modules/", "coverage/"] },
	js.configs.recommended,
	...tseslint.configs.recommended,
	prettier,
	{
		languageOptions: { globals: { ...globals.node } },
		rules: {
			// A leading underscore says "deliberately unused" (a destructured-away field, a handler's unused argument).
			"@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_" }],
		},
	},
	{
		// Tests read raw JSON answers whose shape is what they assert.
		files: ["**/*.test.ts", "**/*.test.tsx", "test/**/*.ts"],
		rules: { "@typescript-eslint/no-explicit-any": "off" },
	},
);
