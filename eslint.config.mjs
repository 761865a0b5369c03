// ESLint for the whole repository (flat config). Type-aware where a rule needs types: Pulumi's
// no-output-in-template-literal catches `${output}` in a plain template literal, which renders
// "Calling [toString] on an [Output<T>] is not supported" instead of the value.
import js from "@eslint/js";
import pulumi from "@pulumi/eslint-plugin";
import prettier from "eslint-config-prettier";
import tseslint from "typescript-eslint";

export default tseslint.config(
    { ignores: ["node_modules/", "**/node_modules/", ".venv/", "out/", "deploy/", "bench/results/", "**/*.js", "**/*.mjs"] },
    js.configs.recommended,
    ...tseslint.configs.recommended,
    {
        files: ["**/*.ts"],
        languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
        plugins: { "@pulumi": pulumi },
        rules: {
            "@pulumi/no-output-in-template-literal": "error",
            "@pulumi/no-output-instance-in-template-literal": "error",
            // Unused names are the compiler's to report (noUnusedLocals, noUnusedParameters).
            "@typescript-eslint/no-unused-vars": "off",
            // Tests and the offline runtime read untyped wire data on purpose.
            "@typescript-eslint/no-explicit-any": "off",
            // `import x = require(…)` is how TypeScript imports an `export =` module (infra/index.ts).
            "@typescript-eslint/no-require-imports": ["error", { allowAsImport: true }],
            eqeqeq: ["error", "always"],
            "no-console": "off",
        },
    },
    prettier,
);
