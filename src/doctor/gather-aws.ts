import {
  GetOpenIDConnectProviderCommand,
  GetPolicyCommand,
  GetRoleCommand,
  IAMClient,
  SimulatePrincipalPolicyCommand,
  type ContextEntry,
} from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { WebhookIamCall } from '../core/iam-policy.js';
import { errorName } from '../iam/errors.js';
import {
  reader,
  type CallerIdentity,
  type ErrorFact,
  type OidcProviderFact,
  type SimulationDecision,
} from './facts.js';

const CALL_TIMEOUT_MS = 10_000;
const NOT_FOUND = /^NoSuchEntity(Exception)?$/;

function awsError(error: unknown): ErrorFact {
  const e = (error ?? {}) as {
    message?: unknown;
    code?: unknown;
    $metadata?: { httpStatusCode?: unknown };
  };
  const code = e.$metadata?.httpStatusCode;
  const status = typeof code === 'number' ? code : undefined;
  const message = typeof e.message === 'string' && e.message ? e.message : String(error);
  // An answer that is no AWS error document (an HTML error page) says nothing but its status.
  if (/Deserialization error|XML parse error/.test(message)) {
    const name = status ? `HTTP ${status}` : 'Error';
    return { name, message: 'the endpoint answered with no AWS error document', status };
  }
  const transport = typeof e.code === 'string' ? e.code : undefined;
  return { name: errorName(error), message: message.split('\n')[0]!, status, code: transport };
}

const signal = () => ({ abortSignal: AbortSignal.timeout(CALL_TIMEOUT_MS) });
const attempt = reader(awsError, (error) => NOT_FOUND.test(error.name));

/** Reads doctor makes in AWS, with the SDK's own credential and endpoint chain, as `serve` does. */
export function createAwsGatherers(region: string) {
  // Two attempts: a transient error gets one retry, a missing API (an emulator) fails fast.
  const options = { region, maxAttempts: 2 };
  const sts = new STSClient(options);
  const iam = new IAMClient(options);
  return {
    identity: () =>
      attempt<CallerIdentity>(async () => {
        const answer = await sts.send(new GetCallerIdentityCommand({}), signal());
        if (!answer.Arn || !answer.Account) {
          throw new Error('GetCallerIdentity returned no ARN or account');
        }
        return { arn: answer.Arn, account: answer.Account };
      }),
    /** `null`: IAM has no such provider. */
    oidcProvider: (arn: string) =>
      attempt<OidcProviderFact | null>(async () => {
        const answer = await iam.send(
          new GetOpenIDConnectProviderCommand({ OpenIDConnectProviderArn: arn }),
          signal(),
        );
        return { arn, clientIds: answer.ClientIDList ?? [] };
      }, null),
    /** One call at a time; the first error ends it: the simulator is unavailable for all. */
    simulate: (principalArn: string, calls: WebhookIamCall[]) =>
      attempt(async () => {
        const decisions: SimulationDecision[] = [];
        for (const call of calls) {
          const answer = await iam.send(
            new SimulatePrincipalPolicyCommand({
              PolicySourceArn: principalArn,
              ActionNames: [call.action],
              ResourceArns: [call.resource],
              ContextEntries: contextEntries(call.context),
            }),
            signal(),
          );
          const { action, resource, purpose } = call;
          const decision = answer.EvaluationResults?.[0]?.EvalDecision ?? 'implicitDeny';
          decisions.push({ action, resource, decision, purpose });
        }
        return decisions;
      }),
    roleExists: (roleName: string) =>
      attempt(async () => {
        await iam.send(new GetRoleCommand({ RoleName: roleName }), signal());
        return true;
      }, false),
    policyExists: (policyArn: string) =>
      attempt(async () => {
        await iam.send(new GetPolicyCommand({ PolicyArn: policyArn }), signal());
        return true;
      }, false),
    close() {
      sts.destroy();
      iam.destroy();
    },
  };
}

export type AwsGatherers = ReturnType<typeof createAwsGatherers>;

function contextEntries(context: Record<string, string | string[]>): ContextEntry[] {
  return Object.entries(context).map(([key, value]) => ({
    ContextKeyName: key,
    ContextKeyValues: Array.isArray(value) ? value : [value],
    ContextKeyType: Array.isArray(value) ? 'stringList' : 'string',
  }));
}
