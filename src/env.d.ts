// Project-specific Workers types (what `wrangler types` would generate, kept by hand).
declare namespace Cloudflare {
  interface GlobalProps {
    mainModule: typeof import('./index.ts');
  }
}
