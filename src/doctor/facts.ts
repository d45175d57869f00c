import type { V1MatchCondition, V1ValidatingWebhook } from '@kubernetes/client-node';

/**
 * What doctor observed, as plain data: the gatherers (gather-*.ts) produce these, the judges
 * (judge-*.ts) turn them into results without any I/O, so every judgement is testable with a
 * literal.
 */

/** An error as observed: the SDK's or API server's name/reason, message, HTTP status, code. */
export interface ErrorFact {
  name: string;
  message: string;
  status?: number | undefined;
  code?: string | undefined;
}

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: ErrorFact };

/** Where a setting came from, for messages ("from environment AWS_ACCOUNT_ID"). */
export type SettingSource =
  { kind: 'flag'; name: string } | { kind: 'environment'; name: string } | { kind: 'discovery' };

export interface CallerIdentity {
  arn: string;
  account: string;
}

export interface OidcProviderFact {
  arn: string;
  url: string;
  clientIds: string[];
}

export interface SimulationDecision {
  action: string;
  resource: string;
  /** `allowed`, `explicitDeny` or `implicitDeny`. */
  decision: string;
  purpose?: string | undefined;
}

/**
 * One webhook of a Mutating/ValidatingWebhookConfiguration as stored (the validating shape is
 * what both share), with the rules doctor compares made complete. Selectors stay as stored: the
 * API server defaults an absent one to `{}` (everything).
 */
export type RegisteredWebhook = Omit<V1ValidatingWebhook, 'rules' | 'matchConditions'> & {
  rules: WebhookRule[];
  matchConditions: V1MatchCondition[];
};

export interface WebhookRule {
  apiGroups: string[];
  apiVersions: string[];
  resources: string[];
  operations: string[];
  scope?: string | undefined;
}

export type WebhookKind = 'MutatingWebhookConfiguration' | 'ValidatingWebhookConfiguration';

export interface WebhookConfigurationFact {
  kind: WebhookKind;
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  webhooks: RegisteredWebhook[];
}

export interface ServiceFact {
  namespace: string;
  name: string;
  ports: { name?: string | undefined; port: number }[];
  selector: Record<string, string>;
}

export interface EndpointSliceFact {
  name: string;
  ports: { name?: string | undefined; port?: number | undefined }[];
  endpoints: { address: string; ready: boolean; pod?: string | undefined }[];
}

export interface LeaseFact {
  holderIdentity?: string | undefined;
  renewTime?: Date | undefined;
  leaseDurationSeconds?: number | undefined;
}

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

interface PeerCertificateFact {
  subject: string;
  issuer: string;
  subjectAltName: string;
  validTo: Date;
}

export interface TlsFact {
  /** The chain did not verify against the caBundle (OpenSSL's reason), else undefined. */
  chainError?: string | undefined;
  /** The certificate is not for `serverName`, else undefined. */
  hostnameError?: string | undefined;
  peer: PeerCertificateFact;
}
