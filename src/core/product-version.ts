import { createRequire } from 'node:module';

/** EventterMQ's version, from package.json (compiled to dist/src/core/, three levels below it). */
export const PRODUCT_VERSION: string = (() => {
  try {
    return (createRequire(import.meta.url)('../../../package.json') as { version: string }).version;
  } catch {
    return '0.0.0';
  }
})();
