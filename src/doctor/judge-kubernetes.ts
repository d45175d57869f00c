import type { V1EndpointSlice, V1LeaseSpec, V1Service } from '@kubernetes/client-node';
import type { Config } from '../config/schema.js';
import { fail, ok, warn, type CheckResult } from './check.js';
import type { ErrorFact, Outcome, ProfileApiFact, WebhookEndpoint } from './facts.js';

export const CHECK_API = 'retry with --wait; check the API server (k8s.api)';
const NOT_READ: ErrorFact = { name: 'Error', message: 'not read' };

/**
 * A read that failed. RBAC refusing it is a warning: the check could not be made, which is not
 * the same as a fault. Anything else fails with `failed` and the error.
 */
export function unreadable(
  error: ErrorFact,
  what: string,
  rule: string,
  failed = `cannot read ${what}`,
  hint = 'retry with --wait',
): CheckResult {
  if (error.status !== 403) return fail(`${failed} (${error.message})`, hint);
  return warn(
    `cannot check ${what}: ${error.message}`,
    `run doctor with a kubeconfig that may read it (KUBECONFIG=... profile-irsa-webhook doctor), or grant ${rule}`,
  );
}

export function judgeApiServer(server: string, version: Outcome<string>): CheckResult {
  if (version.ok) return ok(`API server ${server} is reachable (Kubernetes ${version.value})`);
  const { error } = version;
  if (error.status === 401) {
    return fail(
      `the API server ${server} refused the credentials (401: ${error.message})`,
      'in a pod: the ServiceAccount token must be mounted (automountServiceAccountToken); elsewhere: check KUBECONFIG and `kubectl auth whoami`',
    );
  }
  return fail(
    `cannot reach the API server ${server} (${error.message})`,
    'in a pod the in-cluster configuration is used; elsewhere KUBECONFIG or ~/.kube/config: check `kubectl cluster-info` with the same settings',
  );
}

export function judgeProfileCrd(api: Outcome<ProfileApiFact>): CheckResult {
  if (!api.ok) {
    return fail(
      `cannot read the kubeflow.org API group from the API server (${api.error.message})`,
      'check `kubectl api-resources --api-group=kubeflow.org` with the same settings',
    );
  }
  const { servedVersions, v1Profiles } = api.value;
  if (v1Profiles) {
    const others = servedVersions.filter((v) => v !== 'v1');
    return ok(
      `the Profile CRD is served as kubeflow.org/v1${others.length ? ` (also ${others.join(', ')})` : ''}`,
    );
  }
  if (servedVersions.length > 0) {
    return fail(
      `kubeflow.org serves ${servedVersions.join(', ')} but no v1 profiles: the webhooks match kubeflow.org/v1 profiles`,
      'install a Kubeflow release whose Profile CRD serves v1 (kubectl get crd profiles.kubeflow.org -o jsonpath="{.spec.versions[*].name}")',
    );
  }
  return fail(
    'the Profile CRD (profiles.kubeflow.org) is not installed: there are no Profiles to give roles to',
    "install Kubeflow's profile controller, which brings the CRD (kubeflow/manifests: apps/profiles/upstream); check with kubectl get crd profiles.kubeflow.org",
  );
}

/** The ready endpoints serving the Service port `port`, as address:port, the way the API server picks them. */
export function readyEndpoints(
  service: V1Service,
  slices: V1EndpointSlice[],
  port: number,
): { ready: { address: string; port: number }[]; notReady: string[] } | { problem: string } {
  const ports = service.spec?.ports ?? [];
  const servicePort = ports.find((p) => p.port === port);
  if (!servicePort) {
    const ref = `${service.metadata?.namespace}/${service.metadata?.name}`;
    return {
      problem: `Service ${ref} has no port ${port} (it has ${ports.map((p) => p.port).join(', ') || 'none'})`,
    };
  }
  const ready: { address: string; port: number }[] = [];
  const notReady: string[] = [];
  for (const slice of slices) {
    const slicePort = slice.ports?.find((p) => (p.name ?? '') === (servicePort.name ?? ''));
    if (slicePort?.port === undefined) continue;
    // Only the first address is used, by the API server as by kube-proxy.
    for (const {
      addresses: [address],
      conditions,
      targetRef,
    } of slice.endpoints ?? []) {
      if (address === undefined) continue;
      if (conditions?.ready ?? true) ready.push({ address, port: slicePort.port });
      else notReady.push(targetRef?.kind === 'Pod' ? targetRef.name! : address);
    }
  }
  return { ready, notReady };
}

export function judgeServiceEndpoints(
  endpoint: WebhookEndpoint | { problem: string },
  service: Outcome<V1Service | null> | undefined,
  slices: Outcome<V1EndpointSlice[]> | undefined,
): CheckResult {
  if ('problem' in endpoint) {
    return fail(
      endpoint.problem,
      "set POD_NAMESPACE to the webhook's namespace (the chart sets it from the pod)",
    );
  }
  if (endpoint.mode === 'url') {
    return ok(
      `no Service: the webhook configurations call ${endpoint.urls.join(' and ')} directly (webhook.url)`,
    );
  }
  const ref = `${endpoint.namespace}/${endpoint.name}`;
  if (!service?.ok) {
    const rule = `get on services in ${endpoint.namespace}`;
    return unreadable(service?.error ?? NOT_READ, `Service ${ref}`, rule, undefined, CHECK_API);
  }
  if (service.value === null) {
    return fail(
      `Service ${ref}, which the webhook configurations call, is missing: every Profile CREATE and UPDATE is refused`,
      `re-render it from the chart: helm -n ${endpoint.namespace} upgrade <release> charts/profile-irsa-webhook --reuse-values (helm -n ${endpoint.namespace} list names the release)`,
    );
  }
  if (!slices?.ok) {
    return unreadable(
      slices?.error ?? NOT_READ,
      `the endpoints of Service ${ref}`,
      `list on endpointslices.discovery.k8s.io in ${endpoint.namespace}`,
      `cannot list the EndpointSlices of Service ${ref}`,
    );
  }
  const found = readyEndpoints(service.value, slices.value, endpoint.port);
  if ('problem' in found) {
    return fail(
      found.problem,
      `the configurations' port must be the Service's https port; re-render both from the chart (helm upgrade)`,
    );
  }
  const selector = Object.entries(service.value.spec?.selector ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  if (found.ready.length === 0) {
    const waiting = found.notReady.length ? ` (not ready: ${found.notReady.join(', ')})` : '';
    return fail(
      `Service ${ref} has no ready endpoints${waiting}: the API server cannot call the webhook, so every Profile CREATE and UPDATE is refused`,
      `see why the webhook pods are not ready: kubectl -n ${endpoint.namespace} get pods -l ${selector || '<selector>'}; ` +
        `kubectl -n ${endpoint.namespace} describe pods -l ${selector || '<selector>'}; kubectl -n ${endpoint.namespace} logs -l ${selector || '<selector>'}`,
    );
  }
  const list = found.ready.map((e) => `${e.address}:${e.port}`).join(', ');
  const waiting = found.notReady.length ? `; ${found.notReady.length} not ready` : '';
  return ok(
    `Service ${ref} has ${found.ready.length} ready endpoint${found.ready.length === 1 ? '' : 's'} (${list})${waiting}`,
  );
}

/** How much older than its duration a renewal may look before the holder counts as gone (clock skew). */
const LEASE_SKEW_MS = 5000;

export function judgeLease(
  config: Config,
  lease: Outcome<V1LeaseSpec | null> | undefined,
  now: number,
): CheckResult {
  if (!config.reconcile)
    return ok('the reconciler is off (--reconcile=false): no leader election to check');
  if (!config.podNamespace) {
    return fail(
      "cannot find the reconciler's Lease: --pod-namespace / POD_NAMESPACE is not set",
      "set POD_NAMESPACE to the webhook's namespace (the chart sets it from the pod)",
    );
  }
  const ref = `${config.podNamespace}/${config.leaderElectionLease}`;
  const logs = `kubectl -n ${config.podNamespace} logs deploy/${config.webhookName} | grep -i -e lease -e leader`;
  if (!lease?.ok) {
    const rule = `get on leases.coordination.k8s.io in ${config.podNamespace}`;
    return unreadable(lease?.error ?? NOT_READ, `Lease ${ref}`, rule);
  }
  if (lease.value === null) {
    return fail(
      `no Lease ${ref}: no webhook replica has become the reconciler's leader`,
      `${logs}; the webhook's Role must allow get, create and update on leases in ${config.podNamespace}`,
    );
  }
  const { holderIdentity, renewTime, leaseDurationSeconds } = lease.value;
  if (!holderIdentity) {
    return fail(
      `Lease ${ref} has no holder: the last leader released it and no replica took over`,
      logs,
    );
  }
  if (!renewTime || leaseDurationSeconds === undefined) {
    return fail(`Lease ${ref} held by ${holderIdentity} has no renewTime or duration`, logs);
  }
  const age = now - new Date(renewTime).getTime();
  if (age > leaseDurationSeconds * 1000 + LEASE_SKEW_MS) {
    return fail(
      `Lease ${ref} held by ${holderIdentity} was last renewed ${Math.round(age / 1000)}s ago ` +
        `(duration ${leaseDurationSeconds}s): the leader is gone and no replica took over`,
      `${logs}; is pod ${holderIdentity} still running? kubectl -n ${config.podNamespace} get pods`,
    );
  }
  return ok(
    `Lease ${ref} is held by ${holderIdentity}, renewed ${Math.max(0, Math.round(age / 1000))}s ago`,
  );
}
