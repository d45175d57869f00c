import { request } from 'node:https';
import type { RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { DiscoveryError } from './errors.js';

/**
 * The cluster's service-account issuer, read from the API server's OIDC discovery document. The
 * path is requested without a trailing slash: the API server answers that form only.
 */
export async function discoverOidcIssuer(
  kubeConfig: KubeConfig,
  timeoutMs = 10_000,
): Promise<string> {
  const cluster = kubeConfig.getCurrentCluster();
  const fail = (why: string, cause?: unknown) =>
    new DiscoveryError(
      `cannot discover the OIDC issuer from the API server (${why}); set --oidc-issuer or OIDC_ISSUER`,
      {
        cause,
      },
    );
  if (!cluster) throw fail('no cluster in the Kubernetes configuration');
  const url = new URL(cluster.server.replace(/\/+$/, '') + '/.well-known/openid-configuration');
  const options: RequestOptions = {
    method: 'GET',
    headers: { accept: 'application/json' },
    timeout: timeoutMs,
  };
  await kubeConfig.applyToHTTPSOptions(options);
  const body = await new Promise<string>((resolve, reject) => {
    const req = request(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        res.statusCode === 200
          ? resolve(Buffer.concat(chunks).toString('utf8'))
          : reject(fail(`HTTP ${res.statusCode} from ${url.href}`)),
      );
      res.on('error', (error) => reject(fail(error.message, error)));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (error) =>
      reject(error instanceof DiscoveryError ? error : fail(error.message, error)),
    );
    req.end();
  });
  let issuer: unknown;
  try {
    issuer = (JSON.parse(body) as { issuer?: unknown }).issuer;
  } catch (error) {
    throw fail('the discovery document is not JSON', error);
  }
  if (typeof issuer !== 'string' || !issuer.startsWith('https://')) {
    throw fail('the discovery document names no https issuer');
  }
  return issuer;
}
