import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { fail, ok, warn, type CheckResult } from './check.js';
import type { V1ValidatingWebhook } from '@kubernetes/client-node';
import type { Outcome, TlsFact, TlsTarget, WebhookConfiguration } from './facts.js';
import { serviceHostname } from './registration.js';

/** Renewal is due: cert-manager renews at a third of the lifetime left, this is well after. */
const EXPIRY_WARNING_DAYS = 14;
const DAY_MS = 86_400_000;
const UNREACHABLE_FROM_OUTSIDE =
  /^(ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|TimeoutError)$/;

/**
 * Where to connect to see what the API server sees. URL: that host and port. Service: every
 * ready endpoint, with the name the API server checks (`name.namespace.svc`); when the
 * endpoints cannot be listed, the Service's own DNS name (resolvable inside the cluster).
 */
export function tlsTargets(
  webhook: V1ValidatingWebhook,
  readyEndpoints: { address: string; port: number }[] | undefined,
): TlsTarget[] | { problem: string } {
  const { url, service } = webhook.clientConfig;
  if (url) {
    const parsed = URL.parse(url);
    if (!parsed) return { problem: `its URL ${url} is not a URL` };
    const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
    return [{ host, port: Number(parsed.port || 443), serverName: host }];
  }
  if (!service) return { problem: 'its clientConfig names neither a Service nor a URL' };
  const serverName = serviceHostname(service.name, service.namespace);
  if (readyEndpoints === undefined)
    return [{ host: serverName, port: service.port ?? 443, serverName }];
  return readyEndpoints.map((e) => ({ host: e.address, port: e.port, serverName }));
}

/** The caBundle's certificates (base64 of PEM, as stored), or why it cannot be read. */
function caBundleCertificates(
  caBundle: string | undefined,
): X509Certificate[] | { problem: string } {
  const pem = caBundlePem(caBundle);
  if (pem === undefined) return [];
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) return { problem: 'its caBundle holds no PEM certificate' };
  try {
    return blocks.map((block) => new X509Certificate(block));
  } catch (error) {
    return { problem: `its caBundle does not parse (${(error as Error).message})` };
  }
}

export function caBundlePem(caBundle: string | undefined): string | undefined {
  return caBundle ? Buffer.from(caBundle, 'base64').toString('utf8') : undefined;
}

export interface ServingProbe {
  configuration: WebhookConfiguration;
  webhook: V1ValidatingWebhook;
  /** Targets with what connecting to each showed; or why none could be derived. */
  probes: { target: TlsTarget; result: Outcome<TlsFact> }[] | { problem: string };
}

const where = (t: TlsTarget) => `${isIP(t.host) === 6 ? `[${t.host}]` : t.host}:${t.port}`;
const cn = (dn: string) =>
  dn
    .split('\n')
    .find((l) => l.startsWith('CN='))
    ?.trim() ?? dn.replace(/\n/g, ', ');

const FIX_WEBHOOKS = 'fix k8s.mutating-webhook and k8s.validating-webhook first';

export function judgeServingCertificate(
  checked: ServingProbe[],
  inCluster: boolean,
  now: number,
): CheckResult {
  if (checked.length === 0) {
    return fail('not checked: neither webhook configuration is registered', FIX_WEBHOOKS);
  }
  const problems: CheckResult[] = [];
  const verified = new Map<string, { target: TlsTarget; peer: TlsFact['peer'] }>();
  for (const { configuration, webhook, probes } of checked) {
    const label = `${configuration.kind} ${configuration.metadata?.name}`;
    const cas = caBundleCertificates(webhook.clientConfig.caBundle);
    if ('problem' in cas) {
      problems.push(fail(`${label}: ${cas.problem}`, caHint(configuration)));
      continue;
    }
    if ('problem' in probes) {
      problems.push(fail(`${label}: ${probes.problem}`, FIX_WEBHOOKS));
      continue;
    }
    if (probes.length === 0) {
      problems.push(
        fail(
          `not checked for ${label}: its Service has no ready endpoint to connect to`,
          'fix k8s.service-endpoints first',
        ),
      );
    }
    const trust = cas.length
      ? `its caBundle (${cas.map((c) => cn(c.subject)).join(', ')})`
      : 'the system CAs (its caBundle is empty)';
    // Pod IPs are out of reach from outside the cluster: that is no fault of the webhook.
    const outside = !inCluster && webhook.clientConfig.service !== undefined;
    for (const { target, result } of probes) {
      const problem = probeProblem(target, result, { label, trust, configuration, outside });
      if (problem) problems.push(problem);
      else if (result.ok) verified.set(where(target), { target, peer: result.value.peer });
    }
  }
  const failures = problems.filter((p) => p.status === 'fail');
  if (problems.length > 0) return combine(failures.length > 0 ? failures : problems);
  const seen = [...verified.values()];
  const first = seen[0]!;
  const validTo = new Date(Math.min(...seen.map((v) => v.peer.validTo.getTime())));
  const days = Math.floor((validTo.getTime() - now) / DAY_MS);
  const summary =
    `the certificate served at ${[...verified.keys()].join(', ')} (${cn(first.peer.subject)}, issued by ` +
    `${cn(first.peer.issuer)}, valid until ${validTo.toISOString().slice(0, 10)}) verifies against the caBundle ` +
    `of ${checked.length === 2 ? 'both configurations' : `${checked[0]!.configuration.kind}`} for ${first.target.serverName}`;
  if (days < EXPIRY_WARNING_DAYS) {
    return warn(
      `${summary}, but it expires in ${Math.max(0, days)} days`,
      'renew it: cert-manager renews on its own (check the Certificate); tls.mode=generated: helm upgrade --reuse-values --set tls.generated.renew=true',
    );
  }
  return ok(summary);
}

/** What connecting to one target showed, when it is a problem; undefined when all is well. */
function probeProblem(
  target: TlsTarget,
  result: Outcome<TlsFact>,
  about: { label: string; trust: string; configuration: WebhookConfiguration; outside: boolean },
): CheckResult | undefined {
  if (!result.ok) {
    const code = result.error.code ?? result.error.name;
    if (about.outside && UNREACHABLE_FROM_OUTSIDE.test(code)) {
      return warn(
        `cannot reach the webhook pod ${where(target)} from outside the cluster (${code}): certificate not checked`,
        'run doctor inside the cluster, where pod IPs are reachable: kubectl exec or kubectl run (chart README, "Check the install")',
      );
    }
    return fail(
      `cannot connect to the webhook at ${where(target)} (${result.error.message})`,
      "nothing answers there: see k8s.service-endpoints and the webhook's logs (kubectl logs deploy/<name>)",
    );
  }
  const { chainError, hostnameError, peer } = result.value;
  if (chainError) {
    return fail(
      `the certificate served at ${where(target)} (issued by ${cn(peer.issuer)}) does not verify against ` +
        `${about.trust} of ${about.label} (${chainError}): the API server refuses to call the webhook`,
      caHint(about.configuration),
    );
  }
  if (hostnameError) {
    return fail(
      `the certificate served at ${where(target)} is for ${peer.subjectAltName || cn(peer.subject)}, not ${target.serverName}`,
      `issue the serving certificate for ${target.serverName} (the chart's certificates name the Service as NAME, NAME.NS, NAME.NS.svc and NAME.NS.svc.cluster.local)`,
    );
  }
  return undefined;
}

function caHint(configuration: WebhookConfiguration): string {
  const injector = configuration.metadata?.annotations?.['cert-manager.io/inject-ca-from'];
  if (injector) {
    return (
      `cert-manager's cainjector copies the CA of Certificate ${injector} into caBundle: check the Certificate ` +
      '(kubectl describe certificate) and the injector (kubectl -n cert-manager logs deploy/cert-manager-cainjector)'
    );
  }
  return (
    'caBundle must be the CA that signed the serving certificate (ca.crt of the TLS Secret): helm upgrade --reuse-values ' +
    're-renders both from one CA (tls.mode=generated); with tls.mode=secret set webhook.caBundle to base64 of that CA\n' +
    'likely cause with tls.mode=generated under GitOps (Argo CD, Flux, any `helm template` render): every render makes a ' +
    'new CA, so the caBundle and the Secret come from different renders; there use tls.mode=certManager or tls.mode=secret'
  );
}

function combine(results: CheckResult[]): CheckResult {
  if (results.length === 1) return results[0]!;
  const hints = [...new Set(results.map((r) => (r.status === 'ok' ? '' : r.hint)))].filter(Boolean);
  const message = results.map((r) => r.message).join('; ');
  return results[0]!.status === 'fail'
    ? fail(message, hints.join('\n'))
    : warn(message, hints.join('\n'));
}
