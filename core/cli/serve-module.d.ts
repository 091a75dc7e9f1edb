// `vhdsnap serve` runs the app's server (server/), which core must not import.
// main.ts loads it by this name instead, and the name is bound outside core:
// scripts/build.mjs makes it the separate bundle dist/cli/vhdsnap-serve.cjs,
// vitest.config.ts and test/support/bundle.ts point it at server/serve-command.ts.
declare module '#serve' {
  export const runServeCommand: import('./main.js').ServeCommand;
}
