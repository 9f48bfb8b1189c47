/** Types of certificate.mjs, for the test helpers that use it. */
export function writeSelfSignedCertificate(
  dir: string,
  options?: { name?: string; commonName?: string; altNames?: string; days?: number },
): { keyFile: string; certFile: string };
