// Options chosen to match the code as written, so `npm run format` changes as
// little as possible: single quotes, semicolons, trailing commas everywhere.
// The code keeps one statement on one line far past 120 columns (messages,
// option tables); 160 is where the fewest lines get re-wrapped without
// accepting arbitrarily long lines.
/** @type {import('prettier').Config} */
export default {
  printWidth: 160,
  singleQuote: true,
  semi: true,
  trailingComma: 'all',
  arrowParens: 'always',
  overrides: [
    // The electron-builder config quotes with double quotes.
    { files: ['*.yml', '*.yaml'], options: { singleQuote: false } },
  ],
};
