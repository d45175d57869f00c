import {
  createConfiguration,
  Observable,
  ServerConfiguration,
  setHeaderMiddleware,
  type ApiConstructor,
  type ApiType,
  type ConfigurationOptions,
  type KubeConfig,
  type ObservableMiddleware,
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
  return new api(
    createConfiguration({
      baseServer: new ServerConfiguration(cluster.server, {}),
      authMethods: { default: kubeConfig },
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
