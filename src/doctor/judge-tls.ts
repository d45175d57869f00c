import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { fail, ok, warn, type CheckResult } from './check.js';
import type {
  Outcome,
  RegisteredWebhook,
  TlsFact,
  TlsTarget,
  WebhookConfigurationFact,
} from './facts.js';
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
  webhook: RegisteredWebhook,
  readyEndpoints: { address: string; port: number }[] | undefined,
): TlsTarget[] | { problem: string } {
  const { url, service } = webhook.clientConfig;
  if (url) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return { problem: `its URL ${url} is not a URL` };
    }
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
  if (!caBundle) return [];
  const pem = Buffer.from(caBundle, 'base64').toString('utf8');
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
  configuration: WebhookConfigurationFact;
  webhook: RegisteredWebhook;
  /** Targets with what connecting to each showed; or why none could be derived. */
  probes: { target: TlsTarget; result: Outcome<TlsFact> }[] | { problem: string };
}

const where = (t: TlsTarget) => `${isIP(t.host) === 6 ? `[${t.host}]` : t.host}:${t.port}`;
const cn = (dn: string) =>
  dn
    .split('\n')
    .find((l) => l.startsWith('CN='))
    ?.trim() ?? dn.replace(/\n/g, ', ');

export function judgeServingCertificate(
  checked: ServingProbe[],
  inCluster: boolean,
  now: number,
): CheckResult {
  if (checked.length === 0) {
    return fail(
      'not checked: neither webhook configuration is registered',
      'fix k8s.mutating-webhook and k8s.validating-webhook first',
    );
  }
  const failures: CheckResult[] = [];
  const warnings: CheckResult[] = [];
  const verified = new Map<string, { target: TlsTarget; peer: TlsFact['peer'] }>();
  for (const { configuration, webhook, probes } of checked) {
    const label = `${configuration.kind} ${configuration.name}`;
    const cas = caBundleCertificates(webhook.clientConfig.caBundle);
    if ('problem' in cas) {
      failures.push(fail(`${label}: ${cas.problem}`, caHint(configuration)));
      continue;
    }
    if ('problem' in probes) {
      failures.push(
        fail(
          `${label}: ${probes.problem}`,
          'fix k8s.mutating-webhook and k8s.validating-webhook first',
        ),
      );
      continue;
    }
    if (probes.length === 0) {
      failures.push(
        fail(
          `not checked for ${label}: its Service has no ready endpoint to connect to`,
          'fix k8s.service-endpoints first',
        ),
      );
      continue;
    }
    const trust = cas.length
      ? `its caBundle (${cas.map((c) => cn(c.subject)).join(', ')})`
      : 'the system CAs (its caBundle is empty)';
    for (const { target, result } of probes) {
      if (!result.ok) {
        const code = result.error.code ?? result.error.name;
        const viaService = webhook.clientConfig.service !== undefined;
        if (!inCluster && viaService && UNREACHABLE_FROM_OUTSIDE.test(code)) {
          warnings.push(
            warn(
              `cannot reach the webhook pod ${where(target)} from outside the cluster (${code}): certificate not checked`,
              'run doctor inside the cluster, where pod IPs are reachable: kubectl exec or kubectl run (chart README, "Check the install")',
            ),
          );
        } else {
          failures.push(
            fail(
              `cannot connect to the webhook at ${where(target)} (${result.error.message})`,
              "nothing answers there: see k8s.service-endpoints and the webhook's logs (kubectl logs deploy/<name>)",
            ),
          );
        }
        continue;
      }
      const { chainError, hostnameError, peer } = result.value;
      if (chainError) {
        failures.push(
          fail(
            `the certificate served at ${where(target)} (issued by ${cn(peer.issuer)}) does not verify against ` +
              `${trust} of ${label} (${chainError}): the API server refuses to call the webhook`,
            caHint(configuration),
          ),
        );
        continue;
      }
      if (hostnameError) {
        failures.push(
          fail(
            `the certificate served at ${where(target)} is for ${peer.subjectAltName || cn(peer.subject)}, not ${target.serverName}`,
            `issue the serving certificate for ${target.serverName} (the chart's certificates name the Service as NAME, NAME.NS, NAME.NS.svc and NAME.NS.svc.cluster.local)`,
          ),
        );
        continue;
      }
      verified.set(where(target), { target, peer });
    }
  }
  if (failures.length > 0) return combine(failures);
  if (warnings.length > 0) return combine(warnings);
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

function caHint(configuration: WebhookConfigurationFact): string {
  const injector = configuration.annotations['cert-manager.io/inject-ca-from'];
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
