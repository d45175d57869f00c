import { createHash } from 'node:crypto';
import type { RequestOptions } from 'node:https';
import {
  createConfiguration,
  IsomorphicFetchHttpLibrary,
  Observable,
  ServerConfiguration,
  setHeaderMiddleware,
  type ApiConstructor,
  type ApiType,
  type ConfigurationOptions,
  type KubeConfig,
  type ObservableMiddleware,
  type RequestContext,
} from '@kubernetes/client-node';

/**
 * The longest one API server request may take unless its caller says otherwise. A list page of
 * 500 Profiles or a Lease write takes well under a second; an API server that accepted the
 * connection and never answers would otherwise hold its caller forever.
 */
const DEFAULT_CALL_TIMEOUT_MS = 30_000;

/** Objects per list page, as kubectl and client-go's pager read them. */
export const DEFAULT_PAGE_SIZE = 500;

const USER_AGENT = 'profile-irsa-webhook';

export interface ApiClientOptions {
  /** The longest one request may take. */
  timeoutMs?: number | undefined;
  /** Objects per list page, for clients that page. */
  pageSize?: number | undefined;
}

/**
 * A client-node API client whose every request is bounded by `timeoutMs`, whatever its caller
 * passes: the one place Kubernetes API clients are made, so no request can go without a deadline.
 */
export function makeApiClient<T extends ApiType>(
  kubeConfig: KubeConfig,
  api: ApiConstructor<T>,
  options: ApiClientOptions = {},
): T {
  const cluster = kubeConfig.getCurrentCluster();
  if (cluster === null) throw new Error('the Kubernetes configuration names no current cluster');
  const timeoutMs = options.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  const connections = pooledConnections(kubeConfig);
  const http = new IsomorphicFetchHttpLibrary();
  return new api(
    createConfiguration({
      baseServer: new ServerConfiguration(cluster.server, {}),
      authMethods: { default: connections },
      // A request that failed without an answer (timed out, reset, refused) may have died with
      // its connection, which the pool would hand out again: the pool goes, the next request
      // connects afresh.
      httpApi: {
        send: (request) =>
          new Observable(
            http
              .send(request)
              .toPromise()
              .catch((err: unknown) => {
                connections.discard();
                throw err;
              }),
          ),
      },
      middleware: [
        setHeaderMiddleware('User-Agent', USER_AGENT),
        signalMiddleware(() => AbortSignal.timeout(timeoutMs)),
      ],
    }),
  );
}

/**
 * Per-call options that also end the request when `signal` aborts (a stopped reconciler, a lost
 * Lease, an attempt's own shorter deadline). The client's timeout still applies.
 */
export function withSignal(signal: AbortSignal | undefined): ConfigurationOptions | undefined {
  if (signal === undefined) return undefined;
  return { middleware: [signalMiddleware(() => signal)], middlewareMergeStrategy: 'append' };
}

/** Adds a signal to the request's: whichever aborts first ends it (client-node hands it to fetch). */
function signalMiddleware(signal: () => AbortSignal): ObservableMiddleware {
  return {
    pre: (context) => {
      const current = context.getSignal();
      const next = signal();
      context.setSignal(current === undefined ? next : AbortSignal.any([current, next]));
      return new Observable(Promise.resolve(context));
    },
    post: (response) => new Observable(Promise.resolve(response)),
  };
}

type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;

/**
 * The KubeConfig's authentication, with one connection pool per client. client-node builds a
 * new undici Agent for every request, so every request opened its own TLS connection, and left
 * it open: a reconciler making thousands of requests in a pass held hundreds of megabytes of
 * connection state (TLS contexts, buffers) outside the heap. Here the agent is kept and reused
 * for as long as the TLS material (CA, client certificate, server, proxy) stays the same; when it
 * changes (a rotated client certificate), the next agent replaces it and the old one is closed.
 */
function pooledConnections(kubeConfig: KubeConfig) {
  let pool: { key: string; agent: Dispatcher } | undefined;
  return {
    getName: () => kubeConfig.getName(),
    async applySecurityAuthentication(context: RequestContext): Promise<void> {
      // Headers (tokens, refreshed as the KubeConfig does) and a fresh agent, used only when
      // the TLS material changed: an agent opens no connection until it is used.
      await kubeConfig.applySecurityAuthentication(context);
      const made = context.getDispatcher();
      if (made === undefined) return;
      const key = await tlsKey(kubeConfig);
      if (pool?.key === key) {
        context.setDispatcher(pool.agent);
        return;
      }
      const old = pool;
      pool = { key, agent: made };
      void old?.agent.close().catch(() => undefined);
    },
    discard(): void {
      const old = pool;
      pool = undefined;
      void old?.agent.destroy().catch(() => undefined);
    },
  };
}

/** A digest of what a connection depends on: server, proxy and TLS material, not the token. */
async function tlsKey(kubeConfig: KubeConfig): Promise<string> {
  const options: RequestOptions = {};
  await kubeConfig.applyToHTTPSOptions(options);
  const cluster = kubeConfig.getCurrentCluster();
  const hash = createHash('sha256');
  for (const part of [
    cluster?.server,
    cluster?.proxyUrl,
    options.ca,
    options.cert,
    options.key,
    options.pfx,
    options.passphrase,
    options.rejectUnauthorized,
    options.servername,
  ]) {
    hash.update(part === undefined ? '-' : JSON.stringify(part));
    hash.update('\0');
  }
  return hash.digest('hex');
}
