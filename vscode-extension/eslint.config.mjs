// Flat config: typescript-eslint's type-aware recommended rules on src/.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
    { ignores: ["out/", "dist/", "node_modules/", "*.vsix"] },
    js.configs.recommended,
    ...tseslint.configs.recommendedTypeChecked,
    {
        languageOptions: {
            parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
        },
        rules: {
            "@typescript-eslint/no-floating-promises": "error",
            "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
            eqeqeq: ["error", "always"],
        },
    },
    {
        // node:test's describe/it queue their tests; their promises are not meant to be awaited.
        files: ["src/test/**"],
        rules: { "@typescript-eslint/no-floating-promises": "off" },
    },
    {
        files: ["**/*.mjs"],
        ...tseslint.configs.disableTypeChecked,
    },
);
