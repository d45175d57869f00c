import type { V1ObjectMeta, V1ValidatingWebhook } from '@kubernetes/client-node';

/**
 * What doctor observed, as plain data: the gatherers (gather-*.ts) produce these, the judges
 * (judge-*.ts) turn them into results without any I/O, so every judgement is testable with a
 * literal. Kubernetes objects stay in client-node's own types.
 */

/** An error as observed: the SDK's or API server's name/reason, message, HTTP status, code. */
export interface ErrorFact {
  name: string;
  message: string;
  status?: number | undefined;
  code?: string | undefined;
}

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: ErrorFact };

/**
 * A reader for one source of facts: a read's value, `missing` when the source says there is no
 * such object (absent is a fact, not a failure), or the error as `describe` sees it.
 */
export function reader(
  describe: (error: unknown) => ErrorFact,
  isMissing: (e: ErrorFact) => boolean,
) {
  return async <T>(read: () => Promise<T>, missing?: T): Promise<Outcome<T>> => {
    try {
      return { ok: true, value: await read() };
    } catch (error) {
      const fact = describe(error);
      if (missing !== undefined && isMissing(fact)) return { ok: true, value: missing };
      return { ok: false, error: fact };
    }
  };
}

/** Where a setting came from, for messages ("from environment AWS_ACCOUNT_ID"). */
export type SettingSource =
  { kind: 'flag'; name: string } | { kind: 'environment'; name: string } | { kind: 'discovery' };

export interface CallerIdentity {
  arn: string;
  account: string;
}

export interface OidcProviderFact {
  arn: string;
  clientIds: string[];
}

export interface SimulationDecision {
  action: string;
  resource: string;
  /** `allowed`, `explicitDeny` or `implicitDeny`. */
  decision: string;
  purpose?: string | undefined;
}

export type WebhookKind = 'MutatingWebhookConfiguration' | 'ValidatingWebhookConfiguration';

/** Either configuration as stored: the validating webhook's shape is what both share. */
export interface WebhookConfiguration {
  kind: WebhookKind;
  metadata?: V1ObjectMeta | undefined;
  webhooks?: V1ValidatingWebhook[] | undefined;
}

/** Where both configurations send requests: a Service, or URLs (the chart's `webhook.url`). */
export type WebhookEndpoint =
  | { mode: 'service'; namespace: string; name: string; port: number }
  | { mode: 'url'; urls: string[] };

/** Which versions of the API group the API server serves, and whether v1 has `profiles`. */
export interface ProfileApiFact {
  servedVersions: string[];
  v1Profiles: boolean;
}

/** Where to connect to see the certificate the API server would see. */
export interface TlsTarget {
  host: string;
  port: number;
  /** The name the API server checks the certificate for (SNI too, unless it is an IP). */
  serverName: string;
}

export interface TlsFact {
  /** The chain did not verify against the caBundle (OpenSSL's reason), else undefined. */
  chainError?: string | undefined;
  /** The certificate is not for `serverName`, else undefined. */
  hostnameError?: string | undefined;
  peer: { subject: string; issuer: string; subjectAltName: string; validTo: Date };
}
