import type { Config } from '../config/schema.js';
import type { RoleSettings } from '../core/settings.js';
import type { DoctorFacts, IamCall, SettingSource, TlsTarget } from './facts.js';
import type { AwsGatherers } from './gather-aws.js';
import type { KubernetesGatherers } from './gather-kubernetes.js';
import { probeTls } from './gather-tls.js';

export interface FactSources {
  config: Config;
  sources: { accountId: SettingSource; oidcIssuer: SettingSource };
  env: NodeJS.ProcessEnv;
  aws: AwsGatherers;
  kubernetes: KubernetesGatherers;
  webhookIamCalls: (settings: RoleSettings, webhookRoleArn: string) => IamCall[];
}

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

/** One round's facts: a fresh instance per round, so a retry sees what changed. */
export function createFacts(from: FactSources): DoctorFacts {
  const { config, aws, kubernetes } = from;
  return {
    config,
    sources: from.sources,
    inCluster: Boolean(from.env.KUBERNETES_SERVICE_HOST),
    irsaRoleArn: from.env.AWS_ROLE_ARN || undefined,
    apiServer: kubernetes.server,
    now: () => Date.now(),
    identity: memo(() => aws.identity()),
    apiIssuer: memo(() => kubernetes.apiIssuer()),
    oidcProvider: memo((arn: string) => aws.oidcProvider(arn)),
    simulate: memo((principal: string, calls: IamCall[]) => aws.simulate(principal, calls)),
    // Not remembered: the end-to-end check asks before and after its dry run.
    roleExists: (name: string) => aws.roleExists(name),
    policyExists: memo((arn: string) => aws.policyExists(arn)),
    webhookIamCalls: from.webhookIamCalls,
    serverVersion: memo(() => kubernetes.serverVersion()),
    profileApi: memo(() => kubernetes.profileApi()),
    webhookConfiguration: memo((kind) => kubernetes.webhookConfiguration(kind, config.webhookName)),
    service: memo((namespace: string, name: string) => kubernetes.service(namespace, name)),
    endpointSlices: memo((namespace: string, name: string) =>
      kubernetes.endpointSlices(namespace, name),
    ),
    lease: memo((namespace: string, name: string) => kubernetes.lease(namespace, name)),
    dryRunCreate: (profile: object) => kubernetes.dryRunCreate(profile),
    tls: memo((target: TlsTarget, caPem: string | undefined) => probeTls(target, caPem)),
  };
}
