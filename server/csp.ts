// The page's Content-Security-Policy, shared by Electron's session (electron/security.ts)
// and the HTTP server of `vhdsnap serve` (serve.ts), which adds its socket to connect-src.

/** The page's policy: same as renderer/index.html's meta tag, plus what only a header can say. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');
