import type { OptionSpec } from '../config/options.js';
import type { Config } from '../config/schema.js';
import { roleSettings } from '../config/settings.js';
import type { SettingSource, WebhookKind } from './facts.js';
import type { AwsGatherers } from './gather-aws.js';
import type { KubernetesGatherers } from './gather-kubernetes.js';
import { probeTls } from './gather-tls.js';
import { readyEndpoints } from './judge-kubernetes.js';
import { ourWebhook, webhookEndpoint } from './judge-webhooks.js';
import { EXPECTED_WEBHOOKS } from './registration.js';

export interface FactSources {
  config: Config;
  /** How `serve` would have been given each setting: where its value came from. */
  options: readonly OptionSpec[];
  flags: Record<string, unknown>;
  env: NodeJS.ProcessEnv;
  aws: AwsGatherers;
  kubernetes: KubernetesGatherers;
}

const KINDS: WebhookKind[] = ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'];

/** Remembers each answer for the round, so checks that share a fact cause one call. */
function memo<K extends unknown[], V>(read: (...key: K) => Promise<V>): (...key: K) => Promise<V> {
  const seen = new Map<string, Promise<V>>();
  return (...key: K) => {
    const id = JSON.stringify(key);
    let answer = seen.get(id);
    if (!answer) {
      answer = read(...key);
      seen.set(id, answer);
    }
    return answer;
  };
}

/**
 * One round's facts, each gathered at most once, on first use, by the checks that need it. A
 * fresh set per round, so a retry sees what changed.
 */
export function gatherFacts(from: FactSources) {
  const { config, aws, kubernetes } = from;
  const identity = memo(aws.identity);
  const apiIssuer = memo(kubernetes.apiIssuer);
  const webhookConfiguration = memo((kind: WebhookKind) =>
    kubernetes.webhookConfiguration(kind, config.webhookName),
  );

  /** Our webhook in each configuration that is registered and has it, mutating first. */
  const registered = memo(async () => {
    const found = await Promise.all(
      KINDS.map(async (kind) => {
        const fact = await webhookConfiguration(kind);
        const configuration = fact.ok ? fact.value : null;
        const webhook = configuration && ourWebhook(configuration, EXPECTED_WEBHOOKS[kind]);
        return configuration && webhook ? [{ configuration, webhook }] : [];
      }),
    );
    return found.flat();
  });
  /** Where the webhooks send requests and, for a Service, the Service and its EndpointSlices. */
  const serviceEndpoints = memo(async () => {
    const endpoint = webhookEndpoint(
      config,
      (await registered()).map((r) => r.webhook),
    );
    if ('problem' in endpoint || endpoint.mode === 'url') return { endpoint };
    const { namespace, name } = endpoint;
    const service = await kubernetes.service(namespace, name);
    const slices =
      service.ok && service.value ? await kubernetes.endpointSlices(namespace, name) : undefined;
    return { endpoint, service, slices };
  });

  return {
    config,
    sources: {
      accountId: settingSource(from, 'accountId'),
      oidcIssuer: settingSource(from, 'oidcIssuer'),
    },
    /** Running in a pod (KUBERNETES_SERVICE_HOST is set): pod IPs are reachable. */
    inCluster: Boolean(from.env.KUBERNETES_SERVICE_HOST),
    /** The role IRSA assumes for this process (AWS_ROLE_ARN), when set. */
    irsaRoleArn: from.env.AWS_ROLE_ARN || undefined,
    apiServer: kubernetes.server,
    now: () => Date.now(),

    identity,
    apiIssuer,
    /** The account and issuer resolved as `serve` resolves them; undefined while either is unknown. */
    settings: memo(async () => {
      const [caller, discovered] = [await identity(), await apiIssuer()];
      const account = config.accountId ?? (caller.ok ? caller.value.account : undefined);
      const issuer = config.oidcIssuer ?? (discovered.ok ? discovered.value : undefined);
      return account && issuer ? roleSettings(config, account, issuer) : undefined;
    }),
    oidcProvider: memo(aws.oidcProvider),
    simulate: memo(aws.simulate),
    // Not remembered: the end-to-end check asks before and after its dry run.
    roleExists: aws.roleExists,
    policyExists: memo(aws.policyExists),

    serverVersion: memo(kubernetes.serverVersion),
    profileApi: memo(kubernetes.profileApi),
    webhookConfiguration,
    registered,
    serviceEndpoints,
    /**
     * The ready endpoints of the webhook's Service: a list (empty: none ready, or no Service), or
     * undefined when it has no Service or they cannot be read (then doctor connects to its DNS name).
     */
    readyEndpoints: memo(async () => {
      const { endpoint, service, slices } = await serviceEndpoints();
      if ('problem' in endpoint || endpoint.mode === 'url' || !service?.ok) return undefined;
      if (service.value === null) return [];
      if (!slices?.ok) return undefined;
      const found = readyEndpoints(service.value, slices.value, endpoint.port);
      return 'problem' in found ? [] : found.ready;
    }),
    lease: memo(kubernetes.lease),
    dryRunCreate: kubernetes.dryRunCreate,
    tls: memo(probeTls),
  };
}

export type DoctorFacts = ReturnType<typeof gatherFacts>;

/** Where `key` was set: its flag, else the first of its environment variables set, else neither. */
export function settingSource(
  from: Pick<FactSources, 'options' | 'flags' | 'env'>,
  key: string,
): SettingSource {
  const option = from.options.find((o) => o.key === key);
  if (!option) return { kind: 'discovery' };
  if (typeof from.flags[key] === 'string' && from.flags[key] !== '') {
    return { kind: 'flag', name: option.flag.split(' ')[0]! };
  }
  const name = option.env.find((n) => from.env[n] !== undefined && from.env[n] !== '');
  return name === undefined ? { kind: 'discovery' } : { kind: 'environment', name };
}
