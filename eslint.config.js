// Lint: the recommended rule sets of ESLint, typescript-eslint and
// eslint-plugin-vue, with formatting left to Prettier (eslint-config-prettier
// switches off every rule that would fight it). Rules turned off below say why.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import prettier from 'eslint-config-prettier';
import vue from 'eslint-plugin-vue';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['dist/', 'release/', 'coverage/', 'test-artifacts/', 'node_modules/', '.types/'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  vue.configs['flat/recommended'],
  {
    files: ['**/*.vue'],
    languageOptions: { parserOptions: { parser: tseslint.parser } },
  },
  {
    // Node everywhere but the page, which sees only browser globals (as its tsconfig does).
    ignores: ['renderer/src/**'],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: { ...globals.node },
    },
  },
  {
    files: ['renderer/src/**'],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    // The CLI launcher and the Wine driver are CommonJS on purpose (they run before or without the ESM bundle).
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Tests read parsed JSON (CLI --json, IPC replies, asar and YAML headers) and drive stand-in
    // modules (a mocked Electron) loosely on purpose; core, electron and renderer keep the rule.
    files: ['test/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    rules: {
      // A single-window app with its own component names; none can clash with an HTML element
      // that the rule guards against (Toolbar is the one single-word name).
      'vue/multi-word-component-names': 'off',
    },
  },
  prettier,
);
